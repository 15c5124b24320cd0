"""Which chain the RPC serves: its chain id and genesis hash, checked against what the watcher's cursor recorded.

A dev chain restarted under a running deployment, or an RPC URL pointed at another network, serves other blocks
under the same numbers: the watcher would roll back real payments as a "reorg", never credit new ones, and the
settler would send with wrong nonces. The watcher refuses to run instead, and /healthz says why.
"""
from __future__ import annotations

from hexbytes import HexBytes
from web3 import Web3

from app.models import ChainCursor


class WrongChain(RuntimeError):
    """The RPC serves another chain than the one configured, or than the one the cursor counted blocks on."""


def genesis_hash(w3: Web3) -> str:
    """Return the hash of the RPC's block 0; raises what web3 raises."""
    return HexBytes(w3.eth.get_block(0)["hash"]).to_0x_hex()


def problem(chain_id: int, served_chain_id: int, served_genesis: str, cursor: ChainCursor | None) -> str | None:
    """Return why the RPC's chain is not ours (in words an operator can act on), or None when it is."""
    if served_chain_id != chain_id:
        return f"the RPC serves chain id {served_chain_id}, but CHAIN_ID is {chain_id}"
    if cursor is not None and cursor.genesis_hash and cursor.genesis_hash != served_genesis:
        return (f"the RPC's genesis block is {served_genesis}, but the watcher's cursor (block "
                f"{cursor.block_number}) was recorded on a chain whose genesis is {cursor.genesis_hash}: another "
                f"chain with the same id (a restarted dev chain?). Point RPC_URL back at the right node, or, for a "
                f"new dev chain, start from an empty database")
    return None


def verify(w3: Web3, chain_id: int, cursor: ChainCursor | None) -> str:
    """Return the RPC's genesis hash once it is checked to be our chain; raises WrongChain naming the difference."""
    served_genesis = genesis_hash(w3)
    reason = problem(chain_id, w3.eth.chain_id, served_genesis, cursor)
    if reason is not None:
        raise WrongChain(reason)
    return served_genesis
