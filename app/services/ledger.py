"""Where each order's money is, per token, in base units and in USD at the order's quote rate (the rules
and their invariant are in app/domain/settlement.py: TokenLedger)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.domain import settlement
from app.domain.settlement import AMOUNTS, TokenLedger
from app.domain.statuses import RefundStatus
from app.extensions import db
from app.models import Merchant, Order


def order_ledger(order: Order) -> dict[str, TokenLedger]:
    """Return the order's ledger per token symbol (payments, sweeps and refunds must be loaded or loadable)."""
    confirmed_refunds = [r for r in order.refunds if r.status == RefundStatus.CONFIRMED]
    stray = settlement.strays(settlement.rates(order.quotes), order.payments)
    return settlement.ledger(order.payments, order.sweeps, confirmed_refunds, stray)


def in_usd(order: Order, entry: TokenLedger) -> dict[str, int]:
    """Return each amount of entry in cents at the order's quote rate (rounded toward zero)."""
    return settlement.ledger_cents(settlement.rates(order.quotes), entry)


def merchant_summary(merchant: Merchant, start: datetime | None, end: datetime | None
                     ) -> tuple[dict[str, TokenLedger], dict[str, dict[str, int]]]:
    """Return per-token totals over the merchant's orders created in [start, end), in base units and cents."""
    query = select(Order).options(selectinload(Order.quotes), selectinload(Order.payments),
                                  selectinload(Order.sweeps), selectinload(Order.refunds)).where(
        Order.merchant_id == merchant.id)
    if start is not None:
        query = query.where(Order.created_at >= start)
    if end is not None:
        query = query.where(Order.created_at < end)
    units: dict[str, TokenLedger] = {}
    cents: dict[str, dict[str, int]] = {}
    for order in db.session.scalars(query):
        for symbol, entry in order_ledger(order).items():
            units.setdefault(symbol, TokenLedger(token=symbol)).add(entry)
            totals = cents.setdefault(symbol, dict.fromkeys(AMOUNTS, 0))
            for name, value in in_usd(order, entry).items():
                totals[name] += value
    return units, cents
