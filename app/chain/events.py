"""The few event logs Tillpoint reads, decoded by hand (fixed layouts; no ABI machinery per log)."""
from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)").to_0x_hex()
SETTLED_TOPIC = Web3.keccak(text="Settled(address,bytes32,address,uint256)").to_0x_hex()
PAYMENT_RELEASED_TOPIC = Web3.keccak(text="PaymentReleased(address,uint256)").to_0x_hex()
ERC20_PAYMENT_RELEASED_TOPIC = Web3.keccak(text="ERC20PaymentReleased(address,address,uint256)").to_0x_hex()
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class Release:
    """A payee paid by a split: PaymentReleased (token None = ETH) or ERC20PaymentReleased."""

    log_index: int
    split: str
    token: str | None
    payee: str
    amount: int


def hex_str(value) -> str:
    return HexBytes(value).to_0x_hex()


def topic_address(topic) -> str:
    return to_checksum_address(HexBytes(topic)[-20:])


def address_topic(address: str) -> str:
    """Return address as a 32-byte log topic (for eth_getLogs filters)."""
    return "0x" + "00" * 12 + address.lower().removeprefix("0x")


def topic0(log) -> str:
    return hex_str(log["topics"][0]) if log["topics"] else ""


def words(log) -> list[int]:
    """Return the log's data as 32-byte big-endian integers."""
    data = HexBytes(log["data"])
    return [int.from_bytes(data[i:i + 32], "big") for i in range(0, len(data), 32)]


def transfer(log) -> tuple[str, str, int] | None:
    """Return (from, to, amount) of an ERC-20 Transfer log, or None if log is not one."""
    if topic0(log) != TRANSFER_TOPIC or len(log["topics"]) != 3 or len(HexBytes(log["data"])) != 32:
        return None
    return topic_address(log["topics"][1]), topic_address(log["topics"][2]), words(log)[0]


def release(log) -> Release | None:
    """Return the split payout a log records, or None if log is not one."""
    kind, data = topic0(log), words(log)
    if kind == PAYMENT_RELEASED_TOPIC and len(data) == 2:
        token = None
    elif kind == ERC20_PAYMENT_RELEASED_TOPIC and len(data) == 2 and len(log["topics"]) == 2:
        token = topic_address(log["topics"][1])
    else:
        return None
    return Release(log_index=log["logIndex"], split=to_checksum_address(log["address"]), token=token,
                   payee=to_checksum_address(data[0].to_bytes(32, "big")[-20:]), amount=data[1])
