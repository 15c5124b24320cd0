"""The settler (DESIGN.md §1 step 5, §7): sweeps what paid orders hold into their splits.

It only sends and shepherds `DepositFactory.settle` transactions. What happened on chain is read by
the watcher (each `Settled` event becomes a Sweep, with the payouts it caused), so completion, reorgs
and sweeps sent by anyone else are handled in one place.

A settle transaction is signed, recorded with its nonce and raw bytes, committed, and only then
broadcast. A settler killed at any point, or whose transaction a reorg dropped, finds the record and
re-broadcasts the same bytes (same hash, same nonce) rather than sending a second settle; one left
unmined for `settle_stuck_seconds` is replaced, same nonce, with fees at least 12.5 % higher.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from eth_account import Account
from sqlalchemy import or_, select
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from app.chain.contracts import BALANCE_OF_ABI, load_artifact
from app.chain.deposits import order_ref
from app.chain.events import ZERO_ADDRESS
from app.chain.operator import bumped, fees, commit_with_nonce
from app.chain.settings import ETH, FINALIZED, ChainSettings
from app.domain import settlement
from app.domain.statuses import OrderStatus, SettleState
from app.extensions import db
from app.models import ChainCursor, Order, Payment, SettleTx, Sweep, utcnow
from app.services.payments import rows_by_order

logger = logging.getLogger(__name__)

MAX_FAILED = 3  # settles of one order's token that reverted before the settler stops trying (and says so)
GAS_MARGIN = (5, 4)  # the node's estimate + 25 %


@dataclass
class Settler:
    w3: Web3
    chain: ChainSettings
    account: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.account = Account.from_key(self.chain.operator_key)
        self.factory = self.w3.eth.contract(address=self.chain.factory, abi=load_artifact("DepositFactory")["abi"])

    def tick(self, now: datetime | None = None) -> int:
        """Shepherd the settles in flight, then send the ones due; return how many were sent."""
        now = now or utcnow()
        cursor = db.session.get(ChainCursor, self.chain.chain_id)
        if cursor is None:
            return 0
        final_block = settlement.newest_final_block(cursor.block_number, self.chain.confirmations)
        if self.chain.finality == FINALIZED:  # only what the chain has finalized is swept
            final_block = min(final_block, cursor.finalized_block if cursor.finalized_block is not None else -1)
        self._shepherd(final_block, now)
        sent = sum(self._send(order, symbol) for order, symbol in self._due(final_block, now))
        db.session.commit()
        return sent

    def _shepherd(self, final_block: int, now: datetime) -> None:
        """Close settles whose nonce is final; re-broadcast lost ones (also those a reorg took back after they
        were mined); replace stuck ones."""
        sender = self.account.address
        final_count = self.w3.eth.get_transaction_count(sender, max(final_block, 0))
        in_flight = db.session.scalars(select(SettleTx).where(
            SettleTx.chain_id == self.chain.chain_id, SettleTx.sender == sender,
            or_(SettleTx.state == SettleState.PENDING, SettleTx.nonce >= final_count)).order_by(SettleTx.nonce, SettleTx.id)).all()
        if not in_flight:
            return
        mined_count = self.w3.eth.get_transaction_count(sender, "latest")
        for nonce, group in groupby(in_flight, key=lambda tx: tx.nonce):
            attempts = list(group)
            if nonce < final_count:
                self._finish(attempts)
                continue
            for attempt in attempts:
                if attempt.state != SettleState.PENDING:
                    logger.warning("settle tx=%s (%s) is no longer final: a reorg took it back", attempt.tx_hash,
                                   attempt.state)
                    attempt.state = SettleState.PENDING
            if nonce >= mined_count:
                self._keep_alive(attempts[-1], now)
        db.session.commit()

    def _finish(self, attempts: list[SettleTx]) -> None:
        """Mark which attempt of a final nonce was mined (done, or failed if it reverted); the rest replaced."""
        for attempt in attempts:
            try:
                receipt = self.w3.eth.get_transaction_receipt(attempt.tx_hash)
            except TransactionNotFound:
                attempt.state = SettleState.REPLACED
                continue
            attempt.state = SettleState.DONE if receipt["status"] == 1 else SettleState.FAILED
            log = logger.info if receipt["status"] == 1 else logger.error
            log("settle %s order=%d token=%s tx=%s nonce=%d", attempt.state, attempt.order_id, attempt.symbol,
                attempt.tx_hash, attempt.nonce)
        if all(a.state == SettleState.REPLACED for a in attempts):
            logger.error("settle nonce=%d was used by a transaction the settler did not record", attempts[0].nonce)

    def _keep_alive(self, latest: SettleTx, now: datetime) -> None:
        if not self._known(latest.tx_hash):
            logger.warning("settle tx=%s not known to the node: broadcasting it again", latest.tx_hash)
            latest.sent_at = now
            self._broadcast(latest)
        elif now - latest.sent_at >= timedelta(seconds=self.chain.settle_stuck_seconds):
            self._replace(latest)

    def _replace(self, stuck: SettleTx) -> None:
        order = db.session.get(Order, stuck.order_id)
        call = self._settle_call(order, stuck.symbol)
        fee = bumped(stuck.max_fee_per_gas, stuck.priority_fee_per_gas, fees(self.w3))
        replacement = self._sign(order, stuck.symbol, call, stuck.nonce, self._gas(call), fee)
        db.session.add(replacement)
        db.session.commit()
        logger.warning("settle tx=%s stuck since %s: replaced by tx=%s (nonce %d, max fee %d)", stuck.tx_hash,
                       stuck.sent_at.isoformat(), replacement.tx_hash, stuck.nonce, replacement.max_fee_per_gas)
        self._broadcast(replacement)

    def _due(self, final_block: int, now: datetime) -> list[tuple[Order, str]]:
        """Return (order, token) pairs whose confirmed payments on this chain exceed what was swept here, with no
        settle in flight.

        Nothing stays at a deposit address: paid orders are swept at once; completed and refunded ones when
        more arrives (a refund is paid from the merchant's own wallet, so what the shopper sent is the
        merchant's); partly paid ones once their quote has expired (the merchant refunds or settles up).
        Besides paid orders, only those within the monitor window are looked at, as the watcher does; a
        cancelled order received nothing and is never looked at.
        """
        S, recent = OrderStatus, Order.expires_at >= now - self.chain.monitor_window
        paid_here = select(Payment.id).where(Payment.order_id == Order.id, Payment.chain_id == self.chain.chain_id)
        orders = db.session.scalars(select(Order).where(
            paid_here.exists(), Order.split_address.is_not(None), or_(
                Order.status == S.PAID,
                Order.status.in_([S.COMPLETED, S.REFUNDED]) & recent,
                Order.status.in_([S.PENDING, S.EXPIRED]) & recent & (Order.expires_at < now),
            )).order_by(Order.id)).all()
        if not orders:
            return []
        ids = [order.id for order in orders]
        paid, swept = rows_by_order(Payment, ids), rows_by_order(Sweep, ids)
        tries = Counter(tuple(row) for row in db.session.execute(
            select(SettleTx.order_id, SettleTx.symbol, SettleTx.state).where(
                SettleTx.order_id.in_(ids), SettleTx.chain_id == self.chain.chain_id,
                SettleTx.state.in_([SettleState.PENDING, SettleState.FAILED]))))
        due = []
        here = self.chain.chain_id
        for order in orders:
            confirmed = [p for p in paid[order.id] if p.chain_id == here and p.block_number <= final_block]
            for (chain_id, symbol), amount in settlement.unswept(confirmed, swept[order.id]).items():
                if chain_id == here and amount > 0 and not tries[(order.id, symbol, SettleState.PENDING)]:
                    if tries[(order.id, symbol, SettleState.FAILED)] < MAX_FAILED:
                        due.append((order, symbol))
        return due

    def _send(self, order: Order, symbol: str) -> int:
        if self._balance(order.deposit_address, symbol) == 0:
            return 0  # swept already (by anyone): the watcher records the sweep
        call = self._settle_call(order, symbol)
        try:
            gas = self._gas(call)
        except ContractLogicError as exc:
            logger.error("settle of receipt=%s token=%s would revert: %s", order.receipt_id, symbol, exc)
            return 0
        fee = fees(self.w3)
        fee = {"maxFeePerGas": fee.get("maxFeePerGas", fee.get("gasPrice")),
               "maxPriorityFeePerGas": fee.get("maxPriorityFeePerGas", fee.get("gasPrice"))}
        with commit_with_nonce(self.w3, self.chain.chain_id, self.account.address) as nonce:
            settle = self._sign(order, symbol, call, nonce, gas, fee)
            db.session.add(settle)
        logger.info("settle sent receipt=%s token=%s tx=%s nonce=%d", order.receipt_id, symbol, settle.tx_hash, nonce)
        self._broadcast(settle)
        return 1

    def _settle_call(self, order: Order, symbol: str):
        token = ZERO_ADDRESS if symbol == ETH else self.chain.token(symbol).address
        return self.factory.functions.settle(order.split_address, order_ref(order.receipt_id), token)

    def _gas(self, call) -> int:
        return call.estimate_gas({"from": self.account.address}) * GAS_MARGIN[0] // GAS_MARGIN[1]

    def _sign(self, order: Order, symbol: str, call, nonce: int, gas: int, fee: dict[str, int]) -> SettleTx:
        tx = call.build_transaction({"from": self.account.address, "nonce": nonce, "gas": gas,
                                     "chainId": self.chain.chain_id, **fee})
        signed = self.account.sign_transaction(tx)
        return SettleTx(chain_id=self.chain.chain_id, order_id=order.id, symbol=symbol, sender=self.account.address,
                        nonce=nonce, tx_hash=signed.hash.to_0x_hex(), raw_tx=signed.raw_transaction.to_0x_hex(),
                        max_fee_per_gas=fee["maxFeePerGas"], priority_fee_per_gas=fee["maxPriorityFeePerGas"],
                        sent_at=utcnow())

    def _broadcast(self, settle: SettleTx) -> None:
        """Send the recorded bytes; a node that refuses them (known, mined meanwhile) is sorted out next tick."""
        try:
            self.w3.eth.send_raw_transaction(settle.raw_tx)
        except Web3RPCError as exc:
            logger.warning("settle tx=%s not accepted: %s", settle.tx_hash, exc)

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except TransactionNotFound:
            return False

    def _balance(self, address: str, symbol: str) -> int:
        if symbol == ETH:
            return self.w3.eth.get_balance(address)
        token = self.w3.eth.contract(address=self.chain.token(symbol).address, abi=BALANCE_OF_ABI)
        return token.functions.balanceOf(address).call()
