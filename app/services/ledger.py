"""Where each order's money is, per token, in base units and in USD at the order's quote rate.

received = to merchant + to platform + held + in split, to the base unit, where
- held is what the deposit address still has (received, not yet swept),
- in split is what a sweep moved into the split but its distribution did not pay out this time
  (PaymentSplitter floors each payee's share; the unit left over is paid by a later distribution, so a
  later sweep can pay out more than it moved and show a negative figure here).
Refunds are paid by the merchant from its own wallet, so they are listed beside, not subtracted.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.models import Merchant, Order
from app.extensions import db
from app.services.payments import per_token, usd_cents

REFUND_COUNTED = ("confirmed",)


@dataclass
class TokenLedger:
    token: str
    received: int = 0
    to_merchant: int = 0
    to_platform: int = 0
    held: int = 0
    in_split: int = 0
    refunded: int = 0

    def add(self, other: TokenLedger) -> None:
        for name in AMOUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


AMOUNTS = [f.name for f in fields(TokenLedger) if f.name != "token"]


def order_ledger(order: Order) -> dict[str, TokenLedger]:
    """Return the order's ledger per token symbol (payments, sweeps and refunds must be loaded or loadable)."""
    received, swept = per_token(order.payments), per_token(order.sweeps)
    refunded = per_token(r for r in order.refunds if r.status in REFUND_COUNTED)
    ledger = {}
    for symbol in sorted(set(received) | set(swept) | set(refunded)):
        to_merchant = sum(s.merchant_base_units for s in order.sweeps if s.symbol == symbol)
        to_platform = sum(s.platform_base_units for s in order.sweeps if s.symbol == symbol)
        ledger[symbol] = TokenLedger(
            token=symbol, received=received.get(symbol, 0), to_merchant=to_merchant, to_platform=to_platform,
            held=received.get(symbol, 0) - swept.get(symbol, 0),
            in_split=swept.get(symbol, 0) - to_merchant - to_platform, refunded=refunded.get(symbol, 0))
    return ledger


def in_usd(order: Order, entry: TokenLedger) -> dict[str, int]:
    """Return each amount of entry in cents at the order's quote rate (rounded toward zero)."""
    def cents(amount: int) -> int:
        value = usd_cents(order, entry.token, abs(amount))
        return value if amount >= 0 else -value

    return {name: cents(getattr(entry, name)) for name in AMOUNTS}


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
