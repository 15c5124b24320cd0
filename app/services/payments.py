"""Applying on-chain payments to orders: the order row locked, its status derived from its payments."""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.domain.money import cents_for_units
from app.domain.statuses import TRANSITIONS, ExceptionStatus, OrderStatus
from app.extensions import db
from app.models import Order, OrderStatusChange, Payment, Sweep

logger = logging.getLogger(__name__)


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
    return cents_for_units(amount, quote.decimals, quote.usd_rate)


def value_cents(order: Order, moves: list[Payment] | list[Sweep]) -> int:
    """Return what payments (or sweeps) are worth, converting each token's sum once (no cent lost per move)."""
    return sum(usd_cents(order, symbol, amount) for symbol, amount in per_token(moves).items())


def per_token(moves) -> dict[str, int]:
    """Return the base units of payments, sweeps or refunds summed per token symbol."""
    sums: dict[str, int] = {}
    for move in moves:
        sums[move.symbol] = sums.get(move.symbol, 0) + move.amount_base_units
    return sums


def recorded_keys(chain_id: int, transfers: list[Transfer]) -> set[tuple[str, int]]:
    """Return which (tx hash, log index) of transfers are already recorded, in one query."""
    hashes = {t.tx_hash for t in transfers}
    if not hashes:
        return set()
    return set(db.session.execute(select(Payment.tx_hash, Payment.log_index).where(
        Payment.chain_id == chain_id, Payment.tx_hash.in_(hashes))).all())


def record_transfers(order: Order, chain_id: int, transfers: list[Transfer], known: set[tuple[str, int]]) -> int:
    """Add the transfers not yet in known as payments of the order (order row locked); return how many."""
    new = [t for t in transfers if (t.tx_hash, t.log_index) not in known]
    db.session.add_all([Payment(
        order_id=order.id, chain_id=chain_id, tx_hash=t.tx_hash, log_index=t.log_index,
        block_number=t.block_number, block_hash=t.block_hash, block_time=t.block_time, symbol=t.symbol,
        token_address=t.token_address, from_address=t.from_address, amount_base_units=t.amount_base_units,
        usd_cents=usd_cents(order, t.symbol, t.amount_base_units), late=t.block_time > order.expires_at)
        for t in new])
    known.update((t.tx_hash, t.log_index) for t in new)
    for t in new:
        logger.info("payment recorded receipt=%s tx=%s amount=%d %s", order.receipt_id, t.tx_hash,
                    t.amount_base_units, t.symbol)
    return len(new)


def lock_orders(order_ids: list[int]) -> dict[int, Order]:
    """Return the orders by id, rows locked in id order, with quotes and history loaded (three queries)."""
    found = db.session.scalars(select(Order).options(selectinload(Order.quotes), selectinload(Order.history))
                               .where(Order.id.in_(order_ids)).order_by(Order.id).with_for_update()
                               .execution_options(populate_existing=True)).all()
    return {order.id: order for order in found}


def rows_by_order(model: type[Payment] | type[Sweep], order_ids: list[int]) -> dict[int, list]:
    """Return the recorded payments (or sweeps) of each order, in one query."""
    grouped: dict[int, list] = {order_id: [] for order_id in order_ids}
    for row in db.session.scalars(select(model).where(model.order_id.in_(order_ids)).order_by(model.id)):
        grouped[row.order_id].append(row)
    return grouped


def record_sweeps(chain_id: int, sweeps: list[Sweep]) -> None:
    """Add the sweeps not recorded yet (a rescan sees them again)."""
    hashes = {s.tx_hash for s in sweeps}
    known = set(db.session.execute(select(Sweep.tx_hash, Sweep.log_index).where(
        Sweep.chain_id == chain_id, Sweep.tx_hash.in_(hashes))).all()) if hashes else set()
    for sweep in sweeps:
        if (sweep.tx_hash, sweep.log_index) not in known:
            db.session.add(sweep)
            level = logging.INFO if sweep.verified else logging.ERROR
            logger.log(level, "sweep recorded order=%d tx=%s amount=%d %s merchant=%d platform=%d verified=%s",
                       sweep.order_id, sweep.tx_hash, sweep.amount_base_units, sweep.symbol,
                       sweep.merchant_base_units, sweep.platform_base_units, sweep.verified)


def refresh_status(order: Order, head: int, confirmations: int, paid: list[Payment] | None = None,
                   swept: list[Sweep] | None = None, actor: str = "watcher") -> None:
    """Move the order to the status its payments and sweeps justify, through each allowed step, with history.

    Completed means the merchant's split has received, in confirmed and verified sweeps, at least the
    order's total; funds arriving after that are swept too but do not reopen the order.
    """
    if order.status == OrderStatus.REFUNDED.value:
        return  # final: later payments and sweeps are still recorded, the status stays
    paid = rows_by_order(Payment, [order.id])[order.id] if paid is None else paid
    swept = rows_by_order(Sweep, [order.id])[order.id] if swept is None else swept
    confirmed = [p for p in paid if head - p.block_number + 1 >= confirmations]
    received, settled = value_cents(order, paid), value_cents(order, confirmed)
    final_sweeps = [s for s in swept if s.verified and head - s.block_number + 1 >= confirmations]
    target = _target(order, paid, settled, final_sweeps)
    order.exception_status = _exception(order, paid, received, settled)
    order.settled_at = _completion(order, final_sweeps).block_time if target == OrderStatus.COMPLETED else None
    cause = _cause(order, target, paid, final_sweeps)
    for step in transition_path(OrderStatus(order.status), target):
        order.status = step.value
        order.history.append(OrderStatusChange(status=step.value, actor=actor, cause=cause))
        logger.info("order status receipt=%s status=%s cause=%s", order.receipt_id, step.value, cause)


def _target(order: Order, payments: list[Payment], settled_cents: int, final_sweeps: list[Sweep]) -> OrderStatus:
    if not payments:
        return OrderStatus.EXPIRED if order.status == OrderStatus.EXPIRED.value else OrderStatus.GENERATED
    if settled_cents < order.total_cents:
        return OrderStatus.PENDING
    return OrderStatus.COMPLETED if _completion(order, final_sweeps) else OrderStatus.PAID


def _completion(order: Order, final_sweeps: list[Sweep]) -> Sweep | None:
    """Return the sweep with which the split had received the order's total, or None if it has not yet."""
    for count in range(1, len(final_sweeps) + 1):
        if value_cents(order, final_sweeps[:count]) >= order.total_cents:
            return final_sweeps[count - 1]
    return None


def _cause(order: Order, target: OrderStatus, paid: list[Payment], final_sweeps: list[Sweep]) -> dict:
    if target == OrderStatus.COMPLETED:
        done = _completion(order, final_sweeps)
        return {"txHash": done.tx_hash, "block": done.block_number}
    latest = max(paid, key=lambda p: (p.block_number, p.log_index), default=None)
    if latest is None:
        return {"reason": "payment removed"}
    if order.status == OrderStatus.COMPLETED.value:
        return {"reason": "settlement removed", "txHash": latest.tx_hash, "block": latest.block_number}
    return {"txHash": latest.tx_hash, "block": latest.block_number}


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
