"""Where each order's money is, per asset (a token on a chain), in base units and in USD at the order's quote
rate (the rules and their invariant are in app/domain/settlement.py: TokenLedger)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, and_, func, select

from app.domain import settlement
from app.domain.settlement import AMOUNTS, TokenLedger
from app.domain.statuses import RefundStatus
from app.errors import InvalidInput
from app.extensions import db
from app.models import Merchant, Order, Payment, Quote, Refund, Sweep, utcnow

UNITS_SUM = "tillpoint_units_sum"  # exact sum of text base units, registered on SQLite connections


def order_ledger(order: Order) -> dict[settlement.Asset, TokenLedger]:
    """Return the order's ledger per asset (payments, sweeps and refunds must be loaded or loadable)."""
    confirmed_refunds = [r for r in order.refunds if r.status == RefundStatus.CONFIRMED]
    stray = settlement.strays(settlement.rates(order.quotes), order.payments)
    return settlement.ledger(order.payments, order.sweeps, confirmed_refunds, stray)


def in_usd(order: Order, entry: TokenLedger) -> dict[str, int]:
    """Return each amount of entry in cents at the order's quote rate (rounded toward zero)."""
    return settlement.ledger_cents(settlement.rates(order.quotes), entry)


def bounded_window(start: datetime | None, end: datetime | None, longest: timedelta
                   ) -> tuple[datetime, datetime | None]:
    """Return [start, end) with a missing start set to `longest` before end (or now); raises InvalidInput when
    the window is longer than that, so one request never reads more than `longest` of orders."""
    until = end or utcnow()
    if start is None:
        return until - longest, end
    if until - start > longest:
        raise InvalidInput(f"The window is longer than {longest.days} days; ask for it in parts",
                           fields={"start": [f"at most {longest.days} days before end"]})
    return start, end


def merchant_summary(merchant: Merchant, start: datetime, end: datetime | None
                     ) -> tuple[dict[settlement.Asset, TokenLedger], dict[settlement.Asset, dict[str, int]]]:
    """Return per-asset totals over the merchant's orders created in [start, end), in base units and cents.

    The database sums each order's payments, sweeps and confirmed refunds per asset (three grouped queries,
    no order loaded); only the conversion to cents, which rounds per order at its own rate, is done here."""
    in_window = and_(Order.merchant_id == merchant.id, Order.created_at >= start,
                     *([Order.created_at < end] if end is not None else []))
    _use_exact_sums()
    entries: dict[OrderAsset, TokenLedger] = {}
    rates: dict[OrderAsset, settlement.Rate] = {}
    for row in _grouped(Payment, [Payment.amount_base_units], in_window):
        _entry(entries, rates, row).received = int(row.s0)
    for row in _grouped(Sweep, [Sweep.amount_base_units, Sweep.merchant_base_units, Sweep.platform_base_units],
                        in_window):
        swept, to_merchant, to_platform = int(row.s0), int(row.s1), int(row.s2)
        entry = _entry(entries, rates, row)
        entry.held -= swept
        entry.to_merchant, entry.to_platform, entry.in_split = to_merchant, to_platform, swept - to_merchant - to_platform
    for row in _grouped(Refund, [Refund.amount_base_units], in_window, Refund.status == RefundStatus.CONFIRMED):
        _entry(entries, rates, row).refunded = int(row.s0)
    for key, stray in _strays(in_window, rates).items():
        entries[key].stray = stray
    return _totals(entries, rates)


OrderAsset = tuple[int, int, str]  # (order id, chain id, symbol)


def _strays(in_window: ColumnElement, rates: dict) -> dict[OrderAsset, int]:
    """Return the stray receipts per (order, asset), by the rule of settlement.strays: the payments summed by
    the database per order, asset, own rate and quoted flag, each group judged as the rule judges it."""
    query = (select(Payment.order_id, Payment.chain_id, Payment.symbol, Payment.usd_rate, Payment.unquoted,
                    _units_sum(Payment.amount_base_units).label("s0"))
             .join(Order, Order.id == Payment.order_id).where(in_window)
             .group_by(Payment.order_id, Payment.chain_id, Payment.symbol, Payment.usd_rate, Payment.unquoted))
    by_order: dict[int, list[_Sum]] = {}
    for row in db.session.execute(query):
        by_order.setdefault(row.order_id, []).append(
            _Sum(row.chain_id, row.symbol, int(row.s0), row.unquoted, row.usd_rate))
    rates_of: dict[int, dict[settlement.Asset, settlement.Rate]] = {}
    for (order_id, chain_id, symbol), rate in rates.items():
        rates_of.setdefault(order_id, {})[(chain_id, symbol)] = rate
    found = {}
    for order_id, sums in by_order.items():
        order_rates = rates_of.get(order_id, {})
        for (chain_id, symbol), amount in settlement.per_token(settlement.strays(order_rates, sums)).items():
            found[(order_id, chain_id, symbol)] = amount
    return found


class _Sum:
    """Payments of one order summed by asset, own rate and quoted flag: what settlement.strays reads."""

    def __init__(self, chain_id: int, symbol: str, amount: int, unquoted: bool, usd_rate) -> None:
        self.chain_id, self.symbol, self.amount_base_units, self.unquoted = chain_id, symbol, amount, unquoted
        self.usd_rate = None if usd_rate is None else Decimal(usd_rate)


def _grouped(model, amounts: list, in_window: ColumnElement, *where: ColumnElement) -> Iterable:
    """Return rows (order_id, chain_id, symbol, decimals, usd_rate, s0, s1, …): model's amounts summed per order
    and asset, with the order's quote for that asset (None when it was never quoted)."""
    sums = [_units_sum(column).label(f"s{n}") for n, column in enumerate(amounts)]
    query: Select = (select(model.order_id, model.chain_id, model.symbol, Quote.decimals, Quote.usd_rate, *sums)
                     .join(Order, Order.id == model.order_id)
                     .outerjoin(Quote, and_(Quote.order_id == model.order_id, Quote.chain_id == model.chain_id,
                                            Quote.symbol == model.symbol))
                     .where(in_window, *where)
                     .group_by(model.order_id, model.chain_id, model.symbol, Quote.decimals, Quote.usd_rate))
    return db.session.execute(query)


def _entry(entries: dict, rates: dict, row) -> TokenLedger:
    key = (row.order_id, row.chain_id, row.symbol)
    if key not in entries:
        entries[key] = TokenLedger(token=row.symbol, chain_id=row.chain_id)
        if row.decimals is not None:
            rates[key] = _Rate(row.decimals, Decimal(row.usd_rate))
    return entries[key]


def _totals(entries: dict[OrderAsset, TokenLedger], rates: dict
            ) -> tuple[dict[settlement.Asset, TokenLedger], dict[settlement.Asset, dict[str, int]]]:
    units: dict[settlement.Asset, TokenLedger] = {}
    cents: dict[settlement.Asset, dict[str, int]] = {}
    for key, entry in sorted(entries.items()):
        entry.held += entry.received
        asset = (entry.chain_id, entry.token)
        units.setdefault(asset, TokenLedger(token=entry.token, chain_id=entry.chain_id)).add(entry)
        order_rates = {asset: rates[key]} if key in rates else {}
        totals = cents.setdefault(asset, dict.fromkeys(AMOUNTS, 0))
        for name, value in settlement.ledger_cents(order_rates, entry).items():
            totals[name] += value
    return dict(sorted(units.items())), cents


class _Rate:
    """An order's quote rate for one token, as the settlement rules read it."""

    def __init__(self, decimals: int, usd_rate: Decimal) -> None:
        self.decimals, self.usd_rate = decimals, usd_rate


def _units_sum(column) -> ColumnElement:
    """Return the exact SQL sum of a base-units column, as an int (NUMERIC on PostgreSQL, text on SQLite)."""
    if db.session.get_bind().dialect.name == "sqlite":
        return func.coalesce(getattr(func, UNITS_SUM)(column), "0")
    return func.coalesce(func.sum(column), 0)


def _use_exact_sums() -> None:
    """Register the exact base-units sum on this SQLite connection: SQLite's own SUM overflows at 2^63 wei
    (9.2 ETH) and TOTAL is a float."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.connection.driver_connection.create_aggregate(UNITS_SUM, 1, _ExactSum)


class _ExactSum:
    """SQLite aggregate: the sum of integer texts, as text (Python ints never overflow)."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, value) -> None:
        if value is not None:
            self.total += int(value)

    def finalize(self) -> str:
        return str(self.total)
