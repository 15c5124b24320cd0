"""Applying on-chain payments to orders: the order row locked, its status derived from its payments."""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import select

from app.domain.statuses import TRANSITIONS, ExceptionStatus, OrderStatus
from app.extensions import db
from app.models import Order, OrderStatusChange, Payment

logger = logging.getLogger(__name__)

WATCHED = (OrderStatus.GENERATED, OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.EXPIRED)


@dataclass(frozen=True)
class Transfer:
    """A transfer to a deposit address as the chain reports it (not yet tied to an order)."""

    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    block_time: datetime
    symbol: str
    token_address: str | None
    from_address: str
    to_address: str
    amount_base_units: int


def usd_cents(order: Order, symbol: str, amount: int) -> int:
    """Return what amount of symbol is worth at the order's quote rate, rounded down (0 if never quoted)."""
    quote = next((q for q in order.quotes if q.symbol == symbol), None)
    if quote is None:
        return 0
    value = Decimal(amount) * quote.usd_rate * 100 / Decimal(10) ** quote.decimals
    return int(value.to_integral_value(ROUND_FLOOR))


def value_cents(order: Order, paid: list[Payment]) -> int:
    """Return what the payments are worth, converting each token's sum once (no cent lost per payment)."""
    per_token: dict[str, int] = {}
    for payment in paid:
        per_token[payment.symbol] = per_token.get(payment.symbol, 0) + payment.amount_base_units
    return sum(usd_cents(order, symbol, amount) for symbol, amount in per_token.items())


def record_transfer(order: Order, chain_id: int, transfer: Transfer) -> Payment | None:
    """Add the transfer as a payment of the order unless already recorded; return the new payment or None."""
    exists = db.session.scalar(select(Payment.id).where(
        Payment.chain_id == chain_id, Payment.tx_hash == transfer.tx_hash, Payment.log_index == transfer.log_index))
    if exists is not None:
        return None
    payment = Payment(order_id=order.id, chain_id=chain_id, tx_hash=transfer.tx_hash, log_index=transfer.log_index,
                      block_number=transfer.block_number, block_hash=transfer.block_hash,
                      block_time=transfer.block_time, symbol=transfer.symbol, token_address=transfer.token_address,
                      from_address=transfer.from_address, amount_base_units=transfer.amount_base_units,
                      usd_cents=usd_cents(order, transfer.symbol, transfer.amount_base_units),
                      late=transfer.block_time > order.expires_at)
    db.session.add(payment)
    db.session.flush()
    logger.info("payment recorded receipt=%s tx=%s amount=%d %s", order.receipt_id, transfer.tx_hash,
                transfer.amount_base_units, transfer.symbol)
    return payment


def lock_order(order_id: int) -> Order:
    """Return the order with its row locked for the rest of the transaction."""
    return db.session.scalar(select(Order).where(Order.id == order_id).with_for_update().execution_options(
        populate_existing=True))


def refresh_status(order: Order, head: int, confirmations: int, actor: str = "watcher") -> None:
    """Move the order to the status its payments justify, through each allowed step, with history."""
    if OrderStatus(order.status) not in WATCHED:
        return
    payments = db.session.scalars(select(Payment).where(Payment.order_id == order.id)).all()
    confirmed = [p for p in payments if head - p.block_number + 1 >= confirmations]
    received, settled = value_cents(order, payments), value_cents(order, confirmed)
    target = _target(order, payments, settled)
    order.exception_status = _exception(order, payments, received, settled)
    latest = max(payments, key=lambda p: (p.block_number, p.log_index), default=None)
    cause = {"txHash": latest.tx_hash, "block": latest.block_number} if latest else {"reason": "payment removed"}
    for step in transition_path(OrderStatus(order.status), target):
        order.status = step.value
        order.history.append(OrderStatusChange(status=step.value, actor=actor, cause=cause))
        logger.info("order status receipt=%s status=%s cause=%s", order.receipt_id, step.value, cause)


def _target(order: Order, payments: list[Payment], settled_cents: int) -> OrderStatus:
    if not payments:
        return OrderStatus.EXPIRED if order.status == OrderStatus.EXPIRED.value else OrderStatus.GENERATED
    return OrderStatus.PAID if settled_cents >= order.total_cents else OrderStatus.PENDING


def _exception(order: Order, payments: list[Payment], received: int, settled: int) -> str | None:
    if 0 < received < order.total_cents:
        return ExceptionStatus.PAID_PARTIAL.value
    if any(p.late for p in payments):
        return ExceptionStatus.PAID_LATE.value
    if settled > order.total_cents:
        return ExceptionStatus.PAID_OVER.value
    return None


def transition_path(current: OrderStatus, target: OrderStatus) -> list[OrderStatus]:
    """Return the shortest list of allowed steps from current to target (empty when already there)."""
    if current == target:
        return []
    previous: dict[OrderStatus, OrderStatus] = {}
    queue = deque([current])
    while queue:
        status = queue.popleft()
        for following in TRANSITIONS[status]:
            if following not in previous and following != current:
                previous[following] = status
                queue.append(following)
    if target not in previous:
        raise ValueError(f"no allowed path from {current.value} to {target.value}")
    path = [target]
    while path[-1] != current and previous[path[-1]] != current:
        path.append(previous[path[-1]])
    return path[::-1]


def expire_overdue(now: datetime, actor: str = "watcher") -> int:
    """Mark generated orders past their quote expiry as expired; return how many."""
    overdue = db.session.scalars(select(Order).where(
        Order.status == OrderStatus.GENERATED.value, Order.expires_at < now).with_for_update()).all()
    for order in overdue:
        order.status = OrderStatus.EXPIRED.value
        order.history.append(OrderStatusChange(status=order.status, actor=actor, cause={"reason": "quote expired"}))
    return len(overdue)
