"""The chain watcher (DESIGN.md §7): from its cursor to head, in chunks, reorg-aware, exactly once.

Each tick reads the chain first (no DB transaction open), then writes payments, block hashes, the
cursor and the resulting statuses in one transaction. A failure anywhere leaves the cursor where it
was, so no block is ever skipped.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload
from web3 import Web3

from app.chain import reorg
from app.chain.settings import ETH, ChainSettings
from app.domain.statuses import OrderStatus
from app.extensions import db
from app.models import ChainBlock, ChainCursor, Order, Payment, utcnow
from app.pay import events as pay_events
from app.services import payments
from app.services.payments import Transfer

logger = logging.getLogger(__name__)

TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)").to_0x_hex()
ADDRESS_CHUNK = 200
UNKNOWN_SENDER = "0x0000000000000000000000000000000000000000"  # an internal transfer's sender is not in any log


@dataclass
class Watcher:
    w3: Web3
    chain: ChainSettings
    monitor_window: timedelta = timedelta(hours=24)
    max_chunk: int = 200
    chunk: int = field(default=0)

    def __post_init__(self) -> None:
        self.chunk = self.chunk or self.max_chunk

    def tick(self, now: datetime | None = None) -> int:
        """Process the next chunk of blocks; return how many. Raises on RPC failure (cursor unchanged)."""
        head = self.w3.eth.block_number
        cursor = self._cursor(head)
        fork = reorg.find_fork(self.w3, self.chain.chain_id, cursor)
        rolled_back = reorg.rollback(self.chain.chain_id, fork) if fork is not None else set()
        cursor = fork if fork is not None else cursor
        end = max(cursor, min(head, cursor + self.chunk))
        blocks = self._blocks(cursor + 1, end) if end > cursor else []
        # With no new block there is nothing to attribute, so an idle tick skips loading the open orders.
        watched = self._watched_orders(now or utcnow()) if blocks else {}
        transfers = self._token_transfers(cursor + 1, end, blocks, watched) + self._native_transfers(blocks, watched)
        transfers += self._internal_eth(blocks[-1] if blocks else None, watched, transfers)
        # Payments that were unconfirmed when this tick began may have become confirmed since.
        touched = rolled_back | self._orders_with_payments_since(cursor - self.chain.confirmations)
        self._commit(head, end, blocks, transfers, watched, touched, now or utcnow())
        return len(blocks)

    def run(self, stop=lambda: False, idle_seconds: float = 1.0) -> None:
        """Tick until stop() is true, backing off and shrinking the chunk on RPC failures."""
        backoff = 0.5
        while not stop():
            try:
                processed = self.tick()
                backoff, self.chunk = 0.5, min(self.max_chunk, self.chunk * 2)
                if processed == 0:
                    time.sleep(idle_seconds)
            except Exception:  # noqa: BLE001 - any RPC/DB failure: log, keep the cursor, retry
                db.session.rollback()
                self.chunk = max(1, self.chunk // 2)
                logger.exception("watcher tick failed chunk=%d retry_in=%.1fs", self.chunk, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30)

    def _cursor(self, head: int) -> int:
        cursor = db.session.get(ChainCursor, self.chain.chain_id)
        if cursor is None:
            return self.chain.start_block if self.chain.start_block is not None else head
        return cursor.block_number

    def _blocks(self, first: int, last: int) -> list:
        with self.w3.batch_requests() as batch:
            for number in range(first, last + 1):
                batch.add(self.w3.eth.get_block(number, full_transactions=True))
            blocks = batch.execute()
        reorg.check_continuity(self.chain.chain_id, first - 1, blocks)
        return blocks

    def _watched_orders(self, now: datetime) -> dict[str, Order]:
        """Return orders whose deposit address may still be paid (quote valid or expired within the window)."""
        orders = db.session.scalars(select(Order).options(selectinload(Order.quotes)).where(
            Order.chain_id == self.chain.chain_id, Order.deposit_address.is_not(None),
            Order.status.in_([s.value for s in payments.WATCHED]),
            Order.expires_at >= now - self.monitor_window)).all()
        return {order.deposit_address.lower(): order for order in orders}

    def _token_transfers(self, first: int, last: int, blocks: list, watched: dict[str, Order]) -> list[Transfer]:
        if last < first or not watched or not self.chain.tokens:
            return []
        by_address = {t.address.lower(): t for t in self.chain.tokens}
        topics = ["0x" + "00" * 12 + a.removeprefix("0x") for a in watched]
        logs = []
        for i in range(0, len(topics), ADDRESS_CHUNK):
            logs += self.w3.eth.get_logs({"fromBlock": first, "toBlock": last, "address": list(
                t.address for t in self.chain.tokens), "topics": [TRANSFER_TOPIC, None, topics[i:i + ADDRESS_CHUNK]]})
        times = {block["number"]: _time(block["timestamp"]) for block in blocks}
        hashes = {block["number"]: _hex(block["hash"]) for block in blocks}
        if any(hashes.get(log["blockNumber"]) != _hex(log["blockHash"]) for log in logs):
            raise reorg.ChainMoved("logs come from blocks other than the ones just read")
        return [Transfer(tx_hash=_hex(log["transactionHash"]), log_index=log["logIndex"],
                         block_number=log["blockNumber"], block_hash=_hex(log["blockHash"]),
                         block_time=times[log["blockNumber"]], symbol=by_address[log["address"].lower()].symbol,
                         token_address=to_checksum_address(log["address"]),
                         from_address=_topic_address(log["topics"][1]), to_address=_topic_address(log["topics"][2]),
                         amount_base_units=int.from_bytes(HexBytes(log["data"]), "big"))
                for log in logs if log["address"].lower() in by_address and len(log["topics"]) == 3]

    def _native_transfers(self, blocks: list, watched: dict[str, Order]) -> list[Transfer]:
        candidates = [(block, tx) for block in blocks for tx in block["transactions"]
                      if tx["to"] and tx["to"].lower() in watched and tx["value"] > 0]
        transfers = []
        for block, tx in candidates:
            if self.w3.eth.get_transaction_receipt(tx["hash"])["status"] != 1:
                continue  # a failed send moved no value
            transfers.append(Transfer(tx_hash=_hex(tx["hash"]), log_index=-1, block_number=block["number"],
                                      block_hash=_hex(block["hash"]), block_time=_time(block["timestamp"]),
                                      symbol=ETH, token_address=None, from_address=to_checksum_address(tx["from"]),
                                      to_address=to_checksum_address(tx["to"]), amount_base_units=tx["value"]))
        return transfers

    def _internal_eth(self, last_block, watched: dict[str, Order], seen: list[Transfer]) -> list[Transfer]:
        """ETH that arrived with no transaction of its own (sent by a contract): the balance at the chunk's
        last block beyond every ETH payment recorded, credited at that block.

        Until settlement sweeps deposit addresses, a balance only grows, so the difference is exact.
        """
        eth_orders = {a: o for a, o in watched.items()
                      if o.status != OrderStatus.PAID.value and any(q.symbol == ETH for q in o.quotes)}
        if last_block is None or not eth_orders:
            return []
        number = last_block["number"]
        with self.w3.batch_requests() as batch:
            for address in eth_orders:
                batch.add(self.w3.eth.get_balance(to_checksum_address(address), number))
            balances = dict(zip(eth_orders, batch.execute()))
        credited = self._recorded_eth(eth_orders, seen)
        return [Transfer(tx_hash=f"balance:{address}@{number}", log_index=-2, block_number=number,
                         block_hash=_hex(last_block["hash"]), block_time=_time(last_block["timestamp"]), symbol=ETH,
                         token_address=None, from_address=UNKNOWN_SENDER, to_address=to_checksum_address(address),
                         amount_base_units=balances[address] - credited.get(address, 0))
                for address in eth_orders if balances[address] > credited.get(address, 0)]

    def _recorded_eth(self, eth_orders: dict[str, Order], seen: list[Transfer]) -> dict[str, int]:
        ids = {order.id: address for address, order in eth_orders.items()}
        credited: dict[str, int] = {}
        for order_id, amount in db.session.execute(select(Payment.order_id, Payment.amount_base_units).where(
                Payment.order_id.in_(ids), Payment.symbol == ETH)).all():
            credited[ids[order_id]] = credited.get(ids[order_id], 0) + amount
        for transfer in seen:
            if transfer.symbol == ETH:
                address = transfer.to_address.lower()
                credited[address] = credited.get(address, 0) + transfer.amount_base_units
        return credited

    def _commit(self, head: int, end: int, blocks: list, transfers: list[Transfer], watched: dict[str, Order],
                touched: set[int], now: datetime) -> None:
        by_order: dict[int, list[Transfer]] = {}
        for transfer in transfers:
            by_order.setdefault(watched[transfer.to_address.lower()].id, []).append(transfer)
        known = payments.recorded_keys(self.chain.chain_id, transfers)
        orders = payments.lock_orders(sorted(touched | set(by_order)))
        for order_id, order_transfers in by_order.items():
            payments.record_transfers(orders[order_id], self.chain.chain_id, order_transfers, known)
        if blocks:  # a rescan (after a rollback or a cursor reset) replaces the hashes it stored before
            db.session.execute(delete(ChainBlock).where(ChainBlock.chain_id == self.chain.chain_id,
                                                        ChainBlock.number >= blocks[0]["number"]))
        db.session.add_all([ChainBlock(chain_id=self.chain.chain_id, number=block["number"],
                                       hash=_hex(block["hash"])) for block in blocks])
        self._move_cursor(end)
        db.session.flush()
        recorded = payments.payments_by_order(list(orders))
        for order_id, order in orders.items():
            payments.refresh_status(order, head, self.chain.confirmations, recorded[order_id])
        payments.expire_overdue(now)
        reorg.prune(self.chain.chain_id, end)
        db.session.commit()
        pay_events.publish(order.receipt_id for order in orders.values())  # open pay pages re-read their status

    def _move_cursor(self, end: int) -> None:
        cursor = db.session.get(ChainCursor, self.chain.chain_id, with_for_update=True)
        if cursor is None:
            db.session.add(ChainCursor(chain_id=self.chain.chain_id, block_number=end))
        else:
            cursor.block_number = end

    def _orders_with_payments_since(self, block: int) -> set[int]:
        return set(db.session.scalars(select(Payment.order_id).join(Order).where(
            Payment.chain_id == self.chain.chain_id, Payment.block_number > block,
            Order.status.in_([s.value for s in payments.WATCHED]))).all())


def _hex(value) -> str:
    return HexBytes(value).to_0x_hex()


def _topic_address(topic) -> str:
    return to_checksum_address(HexBytes(topic)[-20:])


def _time(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)
