"""The chain watcher (DESIGN.md §7): from its cursor to head, in chunks, reorg-aware, exactly once.

Each tick reads the chain first, then writes payments, sweeps, block hashes, the cursor and the
resulting statuses in one transaction. A failure anywhere leaves the cursor where it was, so no block
is ever skipped. After a reorg the rollback to the fork point is part of that same transaction (on
SQLite it then holds the write lock while the tick reads the chain: reorgs are rare, and correctness
first).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from eth_utils import to_checksum_address
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import selectinload
from web3 import Web3

from app.chain import deposits, identity, quotes, reorg
from app.chain.client import balances_at, batch_calls, eth_price_at, log_failure, read_eth_price
from app.chain.contracts import load_artifact
from app.chain.events import (
    SETTLED_TOPIC,
    TRANSFER_TOPIC,
    ZERO_ADDRESS,
    address_topic,
    release,
    topic0,
    topic_address,
    transfer,
    words,
)
from app.chain.events import hex_str as _hex
from app.chain.settings import ETH, FINALIZED, ChainSettings
from app.config import current_config
from app.domain import settlement
from app.domain.statuses import OrderStatus
from app.extensions import db
from app.models import ChainBlock, ChainCursor, Order, Payment, Sweep, utcnow
from app.services import live_status as pay_events
from app.services import payments
from app.services.payments import Transfer

logger = logging.getLogger(__name__)

ADDRESS_CHUNK = 200
ID_CHUNK = 1000
UNKNOWN_SENDER = ZERO_ADDRESS  # an internal transfer's sender is not in any log


@dataclass
class Watcher:
    w3: Web3
    chain: ChainSettings
    chunk: int = field(default=0)
    split_shares: dict[str, tuple[dict[str, int], int]] = field(default_factory=dict)  # immutable on chain

    def __post_init__(self) -> None:
        self.chunk = self.chunk or self.chain.watch_chunk

    def tick(self, now: datetime | None = None) -> int:
        """Process the next chunk of blocks; return how many. Raises on RPC failure (cursor unchanged)."""
        genesis = identity.verify(self.w3, self.chain.chain_id, db.session.get(ChainCursor, self.chain.chain_id))
        head = self.w3.eth.block_number
        cursor = self._cursor(head)
        if head < cursor:
            # A node still syncing (or a load balancer's lagging one) lacks our blocks: not a reorg, so wait.
            logger.info("rpc behind the cursor chain=%d head=%d cursor=%d", self.chain.chain_id, head, cursor)
            db.session.rollback()
            return 0
        fork = reorg.find_fork(self.w3, self.chain.chain_id, cursor)
        rolled_back = reorg.rollback(self.chain.chain_id, fork) if fork is not None else set()
        cursor = fork if fork is not None else cursor
        end = max(cursor, min(head, cursor + self.chunk))
        blocks = self._blocks(cursor + 1, end) if end > cursor else []
        # With no new block there is nothing to attribute, so an idle tick skips loading the open orders.
        watched = self._watched_orders(now or utcnow()) if blocks else {}
        transfers = self._token_transfers(cursor + 1, end, blocks, watched) + self._native_transfers(blocks, watched)
        sweeps = self._sweeps(cursor + 1, end, blocks, watched)
        transfers += self._internal_eth(blocks[-1] if blocks else None, watched, transfers, sweeps)
        market_rates = self._market_rates(transfers, watched)
        # Payments and sweeps that were unconfirmed when this tick began may have become confirmed since.
        touched = rolled_back | self._orders_with_activity_since(cursor - self.chain.confirmations)
        self._commit(head, end, blocks, transfers, sweeps, watched, touched, now or utcnow(), genesis,
                     market_rates)
        return len(blocks)

    def run(self, stop=lambda: False, idle_seconds: float = 1.0, after_tick=None) -> None:
        """Tick until stop() is true, backing off and shrinking the chunk on RPC failures. After each
        tick, after_tick() runs (the settler and refund checks); its failures are logged and it runs again
        next tick."""
        backoff = 0.5
        while not stop():
            try:
                processed = self.tick()
                backoff, self.chunk = 0.5, min(self.chain.watch_chunk, self.chunk * 2)
            except identity.WrongChain:
                db.session.rollback()
                logger.error("watcher stopped: the RPC serves another chain; nothing was written")
                raise
            except Exception as exc:  # noqa: BLE001 - any RPC/DB failure: log, keep the cursor, retry
                db.session.rollback()
                self.chunk = max(1, self.chunk // 2)
                log_failure(logger, f"watcher tick failed chunk={self.chunk} retry_in={backoff:.1f}s", exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30)
                continue
            if after_tick is not None:
                try:
                    after_tick()
                except Exception as exc:  # noqa: BLE001 - same policy: log, retry next tick
                    db.session.rollback()
                    log_failure(logger, "after-tick work failed; retrying next tick", exc)
            if processed == 0:
                time.sleep(idle_seconds)

    def _cursor(self, head: int) -> int:
        cursor = db.session.get(ChainCursor, self.chain.chain_id)
        if cursor is None:
            return self.chain.start_block if self.chain.start_block is not None else head
        return cursor.block_number

    def _blocks(self, first: int, last: int) -> list:
        blocks = batch_calls(self.w3, lambda number: self.w3.eth.get_block(number, full_transactions=True),
                             range(first, last + 1), self.chain.rpc_batch_max)
        reorg.check_continuity(self.chain.chain_id, first - 1, blocks)
        return blocks

    def _watched_orders(self, now: datetime) -> dict[str, Order]:
        """Return orders whose deposit address may still be paid or swept: every paid order (it awaits its
        settlement), and the others while their quote is valid or expired within the monitor window, except
        cancelled ones (the merchant called them off; the pay page offers no payment)."""
        orders = db.session.scalars(select(Order).options(selectinload(Order.quotes)).where(
            Order.deposit_address.is_not(None),
            Order.status != OrderStatus.CANCELLED,
            or_(Order.status == OrderStatus.PAID, Order.expires_at >= now - self.chain.monitor_window))).all()
        return {order.deposit_address.lower(): order for order in orders}

    def _token_transfers(self, first: int, last: int, blocks: list, watched: dict[str, Order]) -> list[Transfer]:
        if last < first or not watched or not self.chain.tokens:
            return []
        by_address = {t.address.lower(): t for t in self.chain.tokens}
        logs = self._logs(first, last, blocks, [t.address for t in self.chain.tokens], TRANSFER_TOPIC,
                          2, [address_topic(a) for a in watched])
        times = {block["number"]: _time(block["timestamp"]) for block in blocks}
        found = []
        for log in logs:
            token, decoded = by_address.get(log["address"].lower()), transfer(log)
            if token is None or decoded is None:
                continue
            found.append(Transfer(tx_hash=_hex(log["transactionHash"]), log_index=log["logIndex"],
                                  block_number=log["blockNumber"], block_hash=_hex(log["blockHash"]),
                                  block_time=times[log["blockNumber"]], symbol=token.symbol,
                                  token_address=to_checksum_address(log["address"]), from_address=decoded[0],
                                  to_address=decoded[1], amount_base_units=decoded[2]))
        return found

    def _logs(self, first: int, last: int, blocks: list, addresses: list[str], topic: str, position: int,
              values: list[str]) -> list:
        """Return the logs of addresses with topic whose topic at position is one of values, in chunks,
        checked to come from the blocks just read (else the chain moved mid-tick)."""
        logs = []
        for i in range(0, len(values), ADDRESS_CHUNK):
            topics = [topic] + [None] * (position - 1) + [values[i:i + ADDRESS_CHUNK]]
            logs += self.w3.eth.get_logs({"fromBlock": first, "toBlock": last, "address": addresses,
                                          "topics": topics})
        hashes = {block["number"]: _hex(block["hash"]) for block in blocks}
        if any(hashes.get(log["blockNumber"]) != _hex(log["blockHash"]) for log in logs):
            raise reorg.ChainMoved("logs come from blocks other than the ones just read")
        return logs

    def _sweeps(self, first: int, last: int, blocks: list, watched: dict[str, Order]) -> list[Sweep]:
        """Return the factory's Settled events for watched orders, each with the split payouts it caused."""
        if last < first or not watched or not self.chain.factory:
            return []
        by_ref = {_hex(deposits.order_ref(o.receipt_id)): o for o in watched.values()}
        logs = self._logs(first, last, blocks, [self.chain.factory], SETTLED_TOPIC, 2, list(by_ref))
        if not logs:
            return []
        tx_hashes = list(dict.fromkeys(_hex(log["transactionHash"]) for log in logs))
        receipts = {_hex(r["transactionHash"]): r for r in batch_calls(
            self.w3, self.w3.eth.get_transaction_receipt, tx_hashes, self.chain.rpc_batch_max)}
        times = {block["number"]: _time(block["timestamp"]) for block in blocks}
        found = []
        for log in logs:
            order = by_ref[_hex(log["topics"][2])]
            sweep = self._sweep(order, log, receipts[_hex(log["transactionHash"])], times[log["blockNumber"]])
            if sweep is not None:
                found.append(sweep)
        return found

    def _sweep(self, order: Order, log, receipt, block_time: datetime) -> Sweep | None:
        split, token = topic_address(log["topics"][1]), topic_address(log["topics"][3])
        symbol = ETH if token == ZERO_ADDRESS else next(
            (t.symbol for t in self.chain.tokens if t.address.lower() == token.lower()), None)
        if split != order.split_address or symbol is None:
            return None  # another split's address for this reference, or a token we never credit
        amount = words(log)[0]
        # The payouts of this settle: the split's releases of this token since the previous Settled log.
        previous = max((e["logIndex"] for e in receipt["logs"]
                        if e["logIndex"] < log["logIndex"] and topic0(e) == SETTLED_TOPIC), default=-1)
        paid: dict[str, int] = {}
        for entry in receipt["logs"]:
            payout = release(entry) if previous < entry["logIndex"] < log["logIndex"] else None
            if payout and payout.split == split and (payout.token or ZERO_ADDRESS) == token:
                paid[payout.payee] = paid.get(payout.payee, 0) + payout.amount
        platform = paid.get(to_checksum_address(self.chain.platform_payee), 0) if self.chain.platform_payee else 0
        return Sweep(order_id=order.id, chain_id=self.chain.chain_id, tx_hash=_hex(log["transactionHash"]),
                     log_index=log["logIndex"], block_number=log["blockNumber"], block_hash=_hex(log["blockHash"]),
                     block_time=block_time, symbol=symbol, token_address=None if symbol == ETH else token,
                     amount_base_units=amount, merchant_base_units=sum(paid.values()) - platform,
                     platform_base_units=platform, verified=self._fair(split, amount, paid))

    def _fair(self, split: str, amount: int, paid: dict[str, int]) -> bool:
        """Return True if every payee of split got at least its exact share of amount, floored (the dust
        PaymentSplitter keeps is paid out by a later distribution, so a payee may get a unit more)."""
        if split not in self.split_shares:
            contract = self.w3.eth.contract(address=split, abi=load_artifact("Split")["abi"])
            payees = [contract.functions.payee(i).call() for i in range(contract.functions.payeeCount().call())]
            self.split_shares[split] = ({p: contract.functions.shares(p).call() for p in payees},
                                        contract.functions.totalShares().call())
        shares, total = self.split_shares[split]
        return all(paid.get(payee, 0) >= amount * share // total for payee, share in shares.items())

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

    def _internal_eth(self, last_block, watched: dict[str, Order], seen: list[Transfer],
                      swept: list[Sweep]) -> list[Transfer]:
        """ETH that arrived with no transaction of its own (sent by a contract): the balance at the chunk's
        last block beyond every ETH payment recorded less every ETH sweep, credited at that block.

        Sweeps are read from the same blocks as payments, so at that block the difference is exact.
        """
        here = self.chain.chain_id
        eth_orders = {a: o for a, o in watched.items() if any((q.chain_id, q.symbol) == (here, ETH) for q in o.quotes)}
        if last_block is None or not eth_orders:
            return []
        number = last_block["number"]
        addresses = list(eth_orders)
        balances = dict(zip(addresses, balances_at(self.w3, addresses, number, self.chain.rpc_batch_max)))
        held = self._recorded_eth(eth_orders, seen, swept)
        return [Transfer(tx_hash=f"balance:{address}@{number}", log_index=-2, block_number=number,
                         block_hash=_hex(last_block["hash"]), block_time=_time(last_block["timestamp"]), symbol=ETH,
                         token_address=None, from_address=UNKNOWN_SENDER, to_address=to_checksum_address(address),
                         amount_base_units=balances[address] - held[address])
                for address in eth_orders if balances[address] > held[address]]

    def _recorded_eth(self, eth_orders: dict[str, Order], seen: list[Transfer], swept: list[Sweep]) -> dict[str, int]:
        """Return the ETH each address should hold by our records: payments in, less sweeps out."""
        address_of = {order.id: address for address, order in eth_orders.items()}
        held = dict.fromkeys(eth_orders, 0)
        ids = list(address_of)
        for model, sign in ((Payment, 1), (Sweep, -1)):
            for start in range(0, len(ids), ID_CHUNK):  # databases bound the parameters of one statement
                for order_id, amount in db.session.execute(select(model.order_id, model.amount_base_units).where(
                        model.order_id.in_(ids[start:start + ID_CHUNK]), model.symbol == ETH,
                        model.chain_id == self.chain.chain_id)).all():
                    held[address_of[order_id]] += sign * amount
        for payment in seen:
            if payment.symbol == ETH and payment.to_address.lower() in held:
                held[payment.to_address.lower()] += payment.amount_base_units
        for sweep in swept:
            if sweep.symbol == ETH and sweep.order_id in address_of:
                held[address_of[sweep.order_id]] -= sweep.amount_base_units
        return held

    def _market_rates(self, transfers: list[Transfer], watched: dict[str, Order]) -> dict[int, Decimal]:
        """Return the ETH/USD feed rate at each block holding an ETH payment that needs one (late: valued at the
        market, never above its quote; or with no ETH quote on this chain: payments.needs_market_rate), the
        current one where the feed has no history."""
        blocks = sorted({t.block_number for t in transfers if payments.needs_market_rate(
            watched[t.to_address.lower()], self.chain.chain_id, t)})
        if not blocks or not self.chain.eth_usd_feed:
            return {}
        found = {block: eth_price_at(self.w3, self.chain.eth_usd_feed, block) for block in blocks}
        if None in found.values():
            current = read_eth_price(self.w3, self.chain.eth_usd_feed)
            found = {block: price or current for block, price in found.items()}
        return {block: quotes.usd_rate(price) for block, price in found.items() if price and price.answer > 0}

    def _commit(self, head: int, end: int, blocks: list, transfers: list[Transfer], sweeps: list[Sweep],
                watched: dict[str, Order], touched: set[int], now: datetime, genesis: str,
                market_rates: dict[int, Decimal] | None = None) -> None:
        by_order: dict[int, list[Transfer]] = {}
        for payment in transfers:
            by_order.setdefault(watched[payment.to_address.lower()].id, []).append(payment)
        known = payments.recorded_keys(self.chain.chain_id, transfers)
        orders = payments.lock_orders(sorted(touched | set(by_order) | {s.order_id for s in sweeps}))
        new = {order_id: payments.record_transfers(orders[order_id], self.chain, order_transfers, known,
                                                   market_rates)
               for order_id, order_transfers in by_order.items()}
        payments.record_sweeps(self.chain.chain_id, sweeps)
        if blocks:  # a rescan (after a rollback or a cursor reset) replaces the hashes it stored before
            db.session.execute(delete(ChainBlock).where(ChainBlock.chain_id == self.chain.chain_id,
                                                        ChainBlock.number >= blocks[0]["number"]))
        db.session.add_all([ChainBlock(chain_id=self.chain.chain_id, number=block["number"],
                                       hash=_hex(block["hash"])) for block in blocks])
        self._move_cursor(end, genesis)
        db.session.flush()
        paid, swept = payments.rows_by_order(Payment, list(orders)), payments.rows_by_order(Sweep, list(orders))
        chains = payments.chain_views(current_config().chains, {self.chain.chain_id: self._view(head)})
        for order_id, order in orders.items():
            payments.refresh_status(order, chains, paid[order_id], swept[order_id],
                                    new=new.get(order_id, []))
        payments.expire_overdue(now)
        reorg.prune(self.chain.chain_id, end)
        db.session.commit()
        pay_events.publish(order.receipt_id for order in orders.values())  # open pay pages re-read their status

    def _view(self, head: int) -> settlement.ChainView:
        """Return this chain as the money rules see it at head (its finalized block as last stored)."""
        cursor = db.session.get(ChainCursor, self.chain.chain_id)
        return settlement.ChainView(head, self.chain.confirmations, cursor.finalized_block if cursor else None,
                                    self.chain.finality == FINALIZED)

    def _move_cursor(self, end: int, genesis: str) -> None:
        cursor = db.session.get(ChainCursor, self.chain.chain_id, with_for_update=True)
        if cursor is None:
            db.session.add(ChainCursor(chain_id=self.chain.chain_id, block_number=end, genesis_hash=genesis))
        else:  # a cursor stored before genesis hashes were recorded adopts the chain it is on now
            cursor.block_number, cursor.genesis_hash = end, genesis

    def _orders_with_activity_since(self, block: int) -> set[int]:
        """Return the orders with a payment or a sweep above block."""
        return {order_id for model in (Payment, Sweep) for order_id in db.session.scalars(
            select(model.order_id).where(model.chain_id == self.chain.chain_id, model.block_number > block))}


def _time(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)
