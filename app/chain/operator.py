"""The platform operator account: nonces reserved across processes, and transaction fees.

The API deploys splits and the watcher sends settlements from the same key, in different processes,
so a nonce is taken under a database row lock (a write lock on SQLite), together with whatever the
caller records about the transaction.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from web3 import Web3

from app.domain.statuses import SettleState
from app.extensions import db
from app.models import OperatorLock, SettleTx

REPLACEMENT_BUMP = (9, 8)  # a replacement pays 12.5 % more (nodes require at least 10 %)


@contextmanager
def commit_with_nonce(w3: Web3, chain_id: int, address: str) -> Iterator[int]:
    """Yield the next nonce of address, in a unit of work of its own: on exit it commits what the block added
    (the transaction's record) with the reservation, or rolls back. It must begin its transaction (the lock is
    its first statement), so the caller's transaction may hold only reads (db.end_reads).

    The next nonce is the node's pending count, or one past the settler's recorded, not yet final
    transactions when those reach further (recorded but not broadcast yet, or dropped by the node and about
    to be sent again). A nonce whose transaction was lost unrecorded (a split deploy the node dropped) is
    therefore used again rather than left as a gap every later transaction would wait behind.
    """
    db.end_reads()
    try:
        _lock(chain_id, address)
        recorded = db.session.scalar(select(func.max(SettleTx.nonce)).where(
            SettleTx.chain_id == chain_id, SettleTx.sender == address, SettleTx.state == SettleState.PENDING))
        nonce = max(w3.eth.get_transaction_count(address, "pending"), -1 if recorded is None else recorded + 1)
        yield nonce
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _lock(chain_id: int, address: str) -> None:
    """Take the operator's lock row (created on first use, without a race on either backend)."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(OperatorLock).values(chain_id=chain_id, address=address).on_conflict_do_nothing())
    db.session.execute(update(OperatorLock).where(OperatorLock.chain_id == chain_id, OperatorLock.address == address)
                       .values(address=OperatorLock.address))


def fees(w3: Web3) -> dict[str, int]:
    """Return EIP-1559 fee fields from the node (2 × base fee + tip), or a legacy gasPrice without a base fee."""
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    if base_fee is None:
        return {"gasPrice": w3.eth.gas_price}
    tip = w3.eth.max_priority_fee
    return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}


def bumped(old_max_fee: int, old_tip: int, market: dict[str, int]) -> dict[str, int]:
    """Return fees for a replacement: the market's, but at least 12.5 % above the stuck transaction's."""
    def bump(value: int) -> int:
        return -(-value * REPLACEMENT_BUMP[0] // REPLACEMENT_BUMP[1])

    tip = max(market.get("maxPriorityFeePerGas", 0), bump(old_tip))
    return {"maxFeePerGas": max(market.get("maxFeePerGas", market.get("gasPrice", 0)), bump(old_max_fee), tip),
            "maxPriorityFeePerGas": tip}
