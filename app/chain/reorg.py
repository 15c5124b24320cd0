"""Reorgs: find where our stored block hashes part from the chain, and roll back above that point."""
from __future__ import annotations

import logging

from hexbytes import HexBytes
from sqlalchemy import delete, select
from web3 import Web3
from web3.exceptions import BlockNotFound

from app.extensions import db
from app.models import ChainBlock, ChainCursor, Payment, Sweep

logger = logging.getLogger(__name__)

KEEP_BLOCKS = 512  # stored hashes; a reorg deeper than this is beyond what we can detect


class ChainMoved(RuntimeError):
    """The chain changed under a scan (a new fork appeared mid-tick); the next tick will see it."""


def chain_hash(w3: Web3, number: int) -> str | None:
    """Return the canonical hash of block number, or None if the chain is shorter."""
    try:
        return HexBytes(w3.eth.get_block(number)["hash"]).to_0x_hex()
    except BlockNotFound:
        return None


def find_fork(w3: Web3, chain_id: int, cursor: int) -> int | None:
    """Return the last block we stored that is still canonical, if the cursor's block is not; else None."""
    stored = db.session.get(ChainBlock, (chain_id, cursor))
    if stored is None or chain_hash(w3, cursor) == stored.hash:
        return None
    older = db.session.scalars(select(ChainBlock).where(ChainBlock.chain_id == chain_id, ChainBlock.number < cursor)
                               .order_by(ChainBlock.number.desc())).all()
    for block in older:
        if chain_hash(w3, block.number) == block.hash:
            return block.number
    return (older[-1].number if older else cursor) - 1


def rollback(chain_id: int, fork: int) -> set[int]:
    """Drop payments, sweeps and block hashes above fork and move the cursor back; return the orders touched.

    Nothing is committed here: the caller rescans and commits rollback, new payments and statuses at once.
    """
    order_ids: set[int] = set()
    for model in (Payment, Sweep):
        above = (model.chain_id == chain_id, model.block_number > fork)
        order_ids.update(db.session.scalars(select(model.order_id).where(*above)).all())
        db.session.execute(delete(model).where(*above))
    db.session.execute(delete(ChainBlock).where(ChainBlock.chain_id == chain_id, ChainBlock.number > fork))
    db.session.get(ChainCursor, chain_id, with_for_update=True).block_number = fork
    logger.warning("reorg rolled back chain=%d fork=%d orders=%s", chain_id, fork, sorted(order_ids))
    return order_ids


def check_continuity(chain_id: int, previous: int, blocks: list) -> None:
    """Raise ChainMoved unless the blocks chain onto each other and onto our stored previous block."""
    stored = db.session.get(ChainBlock, (chain_id, previous))
    expected = stored.hash if stored else None
    for block in blocks:
        parent = HexBytes(block["parentHash"]).to_0x_hex()
        if expected is not None and parent != expected:
            raise ChainMoved(f"block {block['number']} does not extend {expected}")
        expected = HexBytes(block["hash"]).to_0x_hex()


def prune(chain_id: int, newest: int) -> None:
    """Forget block hashes older than KEEP_BLOCKS below newest."""
    db.session.execute(delete(ChainBlock).where(ChainBlock.chain_id == chain_id,
                                                ChainBlock.number < newest - KEEP_BLOCKS))
