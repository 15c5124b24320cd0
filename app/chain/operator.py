"""The platform operator account: nonces reserved across processes, and transaction fees.

The API deploys splits and the watcher sends settlements from the same key, in different processes,
so a nonce is taken under a database row lock (a write lock on SQLite) together with whatever the
caller records about the transaction, and never from the node's pending count alone.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import update
from web3 import Web3

from app.extensions import db
from app.models import OperatorNonce

REPLACEMENT_BUMP = (9, 8)  # a replacement pays 12.5 % more (nodes require at least 10 %)


@contextmanager
def reserved_nonce(w3: Web3, chain_id: int, address: str) -> Iterator[int]:
    """Yield the next nonce of address; the reservation is committed with what the block added, or rolled back."""
    db.session.commit()  # the lock must be the first statement of its transaction
    key = (OperatorNonce.chain_id == chain_id, OperatorNonce.address == address)
    try:
        db.session.execute(update(OperatorNonce).where(*key).values(next_nonce=OperatorNonce.next_nonce))
        row = db.session.get(OperatorNonce, (chain_id, address), with_for_update=True, populate_existing=True)
        if row is None:
            row = OperatorNonce(chain_id=chain_id, address=address, next_nonce=0)
            db.session.add(row)
        nonce = max(row.next_nonce, w3.eth.get_transaction_count(address, "pending"))
        yield nonce
        row.next_nonce = nonce + 1
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


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
