"""Per-order deposit addresses, computed off-chain exactly as DepositFactory.predict does (CREATE2)."""
from __future__ import annotations

import rlp
from eth_abi import encode
from eth_utils import keccak, to_canonical_address, to_checksum_address

# EIP-1167 minimal proxy creation code around the implementation address (OZ 4.9.6 Clones).
PROXY_PREFIX = bytes.fromhex("3d602d80600a3d3981f3363d3d373d3d3d363d73")
PROXY_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")


def order_ref(receipt_id: str) -> bytes:
    """Return the on-chain reference of an order: its receipt id in ASCII, zero-padded to 32 bytes."""
    raw = receipt_id.encode("ascii")
    if len(raw) > 32:
        raise ValueError("receipt id longer than 32 bytes")
    return raw.ljust(32, b"\0")


def created_address(sender: str, nonce: int) -> str:
    """Return the address of the contract sender creates with CREATE at nonce (keccak(rlp([sender, nonce])))."""
    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


def implementation_address(factory: str) -> str:
    """Return the forwarder implementation the factory deployed in its constructor (a contract's nonce starts at 1)."""
    return created_address(factory, 1)


def salt(split: str, receipt_id: str) -> bytes:
    """Return keccak256(abi.encode(split, orderRef)), the CREATE2 salt of an order's forwarder."""
    return keccak(encode(["address", "bytes32"], [to_checksum_address(split), order_ref(receipt_id)]))


def deposit_address(factory: str, split: str, receipt_id: str) -> str:
    """Return the checksummed deposit address of an order, without any RPC."""
    init_code = PROXY_PREFIX + to_canonical_address(implementation_address(factory)) + PROXY_SUFFIX
    digest = keccak(b"\xff" + to_canonical_address(factory) + salt(split, receipt_id) + keccak(init_code))
    return to_checksum_address(digest[12:])
