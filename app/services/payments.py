"""Applying on-chain payments to orders: the order row locked, its status derived from its payments."""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.chain import quotes
from app.chain.settings import ETH, FINALIZED, ChainSettings
from app.domain import settlement
from app.domain.money import cents_for_units, units_for_cents
from app.domain.statuses import OrderStatus, transition_path
from app.extensions import db
from app.models import ChainCursor, Order, Payment, Quote, Sweep
from app.services import lifecycle, orders
from app.webhooks import events

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


def terms(order: Order) -> settlement.OrderTerms:
    """Return what the settlement rules need of the order besides its payments and sweeps."""
    return settlement.OrderTerms(OrderStatus(order.status), order.total_cents, settlement.rates(order.quotes))


def paid_cents(order: Order, paid: list[Payment]) -> int:
    """Return what payments count towards the order's total, each at the rate it is valued at (strays: 0)."""
    return settlement.paid_cents(settlement.rates(order.quotes), paid)


def needs_market_rate(order: Order, chain_id: int, transfer: Transfer) -> bool:
    """Return True when crediting transfer needs the chain's ETH/USD rate at its block: an ETH payment that came
    late, or on a chain where the order has no ETH quote (a wrong-network payment)."""
    if transfer.symbol != ETH:
        return False
    return transfer.block_time > order.expires_at or (chain_id, ETH) not in settlement.rates(order.quotes)


def _quote_for(order: Order, chain: ChainSettings, transfer: Transfer,
               market_rates: Mapping[int, Decimal | None]) -> Quote | None:
    """Return the order's quote for the transfer's asset. A payment in a token listed on chain that the order
    was not quoted in there (sent on another network than the one offered, or in another listed token) is
    credited all the same: it gets an unoffered quote at the token's peg, or for ETH at the chain's feed at
    its block. None when there is no rate at all (ETH with no feed reading): a stray receipt."""
    quote = settlement.rates(order.quotes).get((chain.chain_id, transfer.symbol))
    if quote is not None:
        return quote
    token, rate = chain.token(transfer.symbol), market_rates.get(transfer.block_number)
    if token is not None:
        fixed = quotes.stable_quote(token, order.total_cents, chain.chain_id)
    elif transfer.symbol == ETH and rate is not None and rate > 0:
        fixed = quotes.Quote(chain.chain_id, ETH, None, 18, units_for_cents(order.total_cents, 18, rate), rate)
    else:
        return None
    row = orders.quote_row(fixed, transfer.block_time, order.expires_at, offered=False)
    order.quotes.append(row)
    logger.info("payment on an unoffered network credited receipt=%s chain=%d token=%s rate=%s", order.receipt_id,
                chain.chain_id, transfer.symbol, fixed.usd_rate)
    return row


def _valued(order: Order, chain: ChainSettings, transfer: Transfer,
            market_rates: Mapping[int, Decimal | None]) -> Payment:
    """Return the transfer as a payment of order, valued at the rate domain.settlement.payment_rate fixes."""
    quote = _quote_for(order, chain, transfer, market_rates)
    late = transfer.block_time > order.expires_at
    rate = settlement.payment_rate(quote.usd_rate if quote else None, late, transfer.symbol != ETH,
                                   market_rates.get(transfer.block_number))
    return Payment(
        order_id=order.id, chain_id=chain.chain_id, tx_hash=transfer.tx_hash, log_index=transfer.log_index,
        block_number=transfer.block_number, block_hash=transfer.block_hash, block_time=transfer.block_time,
        symbol=transfer.symbol, token_address=transfer.token_address, from_address=transfer.from_address,
        amount_base_units=transfer.amount_base_units, late=late, unquoted=quote is None,
        usd_rate=rate if quote is not None and rate != quote.usd_rate else None,
        usd_cents=cents_for_units(transfer.amount_base_units, quote.decimals, rate) if quote else 0)


def recorded_keys(chain_id: int, transfers: list[Transfer]) -> set[tuple[str, int]]:
    """Return which (tx hash, log index) of transfers are already recorded, in one query."""
    hashes = {t.tx_hash for t in transfers}
    if not hashes:
        return set()
    return set(db.session.execute(select(Payment.tx_hash, Payment.log_index).where(
        Payment.chain_id == chain_id, Payment.tx_hash.in_(hashes))).all())


def record_transfers(order: Order, chain: ChainSettings, transfers: list[Transfer], known: set[tuple[str, int]],
                     market_rates: Mapping[int, Decimal | None] | None = None) -> list[Payment]:
    """Add the transfers on chain not yet in known as payments of the order (order row locked), each valued as
    it arrives (market_rates: the chain's ETH/USD rate by block, for the transfers needs_market_rate names);
    return the new ones."""
    new = [t for t in transfers if (t.tx_hash, t.log_index) not in known]
    added = [_valued(order, chain, t, market_rates or {}) for t in new]
    db.session.add_all(added)
    known.update((t.tx_hash, t.log_index) for t in new)
    for t in new:
        logger.info("payment recorded receipt=%s tx=%s amount=%d %s", order.receipt_id, t.tx_hash,
                    t.amount_base_units, t.symbol)
    return added


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


def chain_views(chains: Sequence[ChainSettings], current: Mapping[int, settlement.ChainView] | None = None
                ) -> dict[int, settlement.ChainView]:
    """Return what is known of each configured chain: the last block its watcher processed (its cursor) as its
    head, the confirmations it needs and its finalized block; current replaces what a caller knows better (a
    watcher's own chain at its head)."""
    cursors = {c.chain_id: c for c in db.session.scalars(select(ChainCursor))}
    views = {}
    for chain in chains:
        cursor = cursors.get(chain.chain_id)
        views[chain.chain_id] = settlement.ChainView(
            head=cursor.block_number if cursor else None, needed=chain.confirmations,
            finalized=cursor.finalized_block if cursor else None, require_finalized=chain.finality == FINALIZED)
    return views | dict(current or {})


def refresh_status(order: Order, chains: Mapping[int, settlement.ChainView], paid: list[Payment] | None = None,
                   swept: list[Sweep] | None = None, actor: str = "watcher", new: list[Payment] = ()) -> None:
    """Move the order to the status its payments and sweeps justify (domain.settlement.assess), through
    each allowed step, with history; set its exception status and settledAt; then announce the new payments
    (payment.received, carrying the refreshed receipt). Refunded and cancelled are final: payments are still
    recorded and announced (a cancelled order's payment can only be one the watcher read just before the
    cancel committed)."""
    paid = rows_by_order(Payment, [order.id])[order.id] if paid is None else paid
    swept = rows_by_order(Sweep, [order.id])[order.id] if swept is None else swept
    if order.status in (OrderStatus.REFUNDED, OrderStatus.CANCELLED):
        _announce(order, new, swept)
        return
    verdict = settlement.assess(terms(order), paid, swept, chains)
    lifecycle.flag(order, verdict.exception_status)
    order.settled_at = verdict.completed_by.block_time if verdict.completed_by else None
    # Receivers hear "payment detected", then the payment, then "paid", also when one tick sees all three.
    if OrderStatus.PENDING in transition_path(OrderStatus(order.status), verdict.status):
        lifecycle.walk(order, OrderStatus.PENDING, actor, verdict.cause)
    _announce(order, new, swept)
    lifecycle.walk(order, verdict.status, actor, verdict.cause)


def _announce(order: Order, new: list[Payment], swept: list[Sweep]) -> None:
    for payment in new:
        events.payment_received(order, payment, settlement.after_settlement(payment, swept))


def expire_overdue(now: datetime, actor: str = "watcher") -> int:
    """Mark generated orders past their quote expiry as expired; return how many."""
    overdue = db.session.scalars(select(Order).where(
        Order.status == OrderStatus.GENERATED, Order.expires_at < now).with_for_update()).all()
    for order in overdue:
        lifecycle.move(order, OrderStatus.EXPIRED, actor, {"reason": "quote expired"}, now)
    return len(overdue)
