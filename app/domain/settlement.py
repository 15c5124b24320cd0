"""An order's money rules over plain values (no database, no chain): confirmations, what its payments and
sweeps are worth, the status and exception they justify, when it completed, what a refund may take, and
where each token's money is.

Payments, sweeps and refunds are read through small protocols, so the models and plain test values both
fit. Amounts are integer base units; USD is integer cents, converted per token at the order's quote rate
and rounded down (what a payment is credited). A payment is valued at the rate fixed when it arrived
(payment_rate): the quote's, or for a late one in a token without a peg the market's, never above the
quote's. Value that does not count towards the total (a token the order was not quoted in, or less than
a cent) is a stray receipt: listed, swept and refundable, but it never makes an order pending.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Protocol

from app.domain.money import cents_for_units, units_for_cents
from app.domain.statuses import ExceptionStatus, OrderStatus, RefundStatus


class Rate(Protocol):
    """How one token converts to USD for one order (its quote)."""

    decimals: int
    usd_rate: Decimal


class Move(Protocol):
    """An amount of one token: a payment, a sweep or a refund."""

    symbol: str
    amount_base_units: int


class ChainMove(Move, Protocol):
    tx_hash: str
    log_index: int
    block_number: int


class PaymentLike(ChainMove, Protocol):
    late: bool  # it arrived after the quote expired
    unquoted: bool  # the order had no quote in its token when it arrived: it counts for nothing
    usd_rate: Decimal | None  # the rate it is valued at when not the quote's (a late one without a peg)


class SweepLike(ChainMove, Protocol):
    block_time: datetime
    verified: bool  # every payee got at least its exact share
    merchant_base_units: int
    platform_base_units: int


Rates = Mapping[str, Rate]


class Quoted(Rate, Protocol):
    symbol: str


def rates(quotes: Iterable[Quoted]) -> dict[str, Quoted]:
    """Return an order's quotes by token symbol: the rates its payments are valued at."""
    return {quote.symbol: quote for quote in quotes}


def confirmations(head: int | None, block: int) -> int:
    """Return how many blocks, the block itself included, the chain has from block up to head (0 if unknown)."""
    return 0 if head is None else max(0, head - block + 1)


def is_confirmed(head: int | None, block: int, needed: int) -> bool:
    """Return True when block has at least needed confirmations at head."""
    return confirmations(head, block) >= needed


def newest_final_block(head: int, needed: int) -> int:
    """Return the newest block that has needed confirmations at head."""
    return head - needed + 1


def after_settlement(block: int, sweeps: Iterable[ChainMove]) -> bool:
    """Return True when a payment in block arrived after the order's first sweep (it is swept on its own)."""
    first_sweep = min((s.block_number for s in sweeps), default=None)
    return first_sweep is not None and block > first_sweep


def per_token(moves: Iterable[Move]) -> dict[str, int]:
    """Return the base units of moves summed per token symbol."""
    sums: dict[str, int] = {}
    for move in moves:
        sums[move.symbol] = sums.get(move.symbol, 0) + move.amount_base_units
    return sums


def usd_cents(rates: Rates, symbol: str, amount: int) -> int:
    """Return what amount of symbol is worth at the order's rate, rounded down (0 for a token never quoted)."""
    rate = rates.get(symbol)
    return 0 if rate is None else cents_for_units(amount, rate.decimals, rate.usd_rate)


def value_cents(rates: Rates, moves: Iterable[Move]) -> int:
    """Return what moves are worth, converting each token's sum once (no cent lost per move)."""
    return sum(usd_cents(rates, symbol, amount) for symbol, amount in per_token(moves).items())


def payment_rate(quote_rate: Decimal | None, late: bool, pegged: bool, market_rate: Decimal | None
                 ) -> Decimal | None:
    """Return the rate a payment is valued at when it arrives: None without a quote in its token; the
    quote's, except for a late payment in a token without a peg: the market rate then (the feed at its
    block, or now), capped at the quote's so the merchant never bears a fall and the shopper never gains
    from a rise. With no market rate at all, the quote's."""
    if quote_rate is None:
        return None
    if not late or pegged or market_rate is None:
        return quote_rate
    return min(quote_rate, market_rate)


def _valued_groups(rates: Rates, payments: Iterable[PaymentLike]) -> dict[tuple[str, Decimal], list[PaymentLike]]:
    """Return the payments that have a rate, grouped by token and rate (each group is converted once)."""
    groups: dict[tuple[str, Decimal], list[PaymentLike]] = {}
    for payment in payments:
        rate = valued_rate(rates, payment)
        if rate is not None:
            groups.setdefault((payment.symbol, rate), []).append(payment)
    return groups


def _group_cents(rates: Rates, symbol: str, rate: Decimal, group: Iterable[Move]) -> int:
    return cents_for_units(sum(p.amount_base_units for p in group), rates[symbol].decimals, rate)


def valued_rate(rates: Rates, payment: PaymentLike) -> Decimal | None:
    """Return the rate payment is valued at: its own, else its token's quote (None: it has none)."""
    if payment.unquoted or payment.symbol not in rates:
        return None
    return payment.usd_rate if payment.usd_rate is not None else rates[payment.symbol].usd_rate


def paid_cents(rates: Rates, payments: Iterable[PaymentLike]) -> int:
    """Return what payments count towards the total: each token's sum at each rate converted once, rounded
    down; stray receipts count for nothing."""
    return sum(_group_cents(rates, symbol, rate, group)
               for (symbol, rate), group in _valued_groups(rates, payments).items())


def strays(rates: Rates, payments: Sequence[PaymentLike]) -> list[PaymentLike]:
    """Return the stray receipts among payments: in a token the order was not quoted in, or in a token
    (at one rate) whose payments together are worth less than a cent."""
    counted = {id(p) for (symbol, rate), group in _valued_groups(rates, payments).items()
               if _group_cents(rates, symbol, rate, group) > 0 for p in group}
    return [p for p in payments if id(p) not in counted]


def paying(rates: Rates, total_cents: int, payments: Sequence[PaymentLike]) -> list[PaymentLike]:
    """Return the payments that paid the order: those that count (no stray receipt, each worth a cent at least),
    in chain order, up to the one with which the total was reached (all of them while it was not). Only their senders may be refunded:
    a payment sent after that, or dust, would let anyone become a "payer"."""
    stray = {id(p) for p in strays(rates, payments)}
    paid, counted = [], 0
    for payment in sorted(payments, key=lambda p: (p.block_number, p.log_index)):
        # Dust sent before the shopper paid is not stray once the token's sum counts, but never made a payer.
        if id(payment) in stray or counted >= total_cents or paid_cents(rates, [payment]) == 0:
            continue
        paid.append(payment)
        counted = paid_cents(rates, paid)
    return paid


@dataclass(frozen=True)
class OrderTerms:
    """What the rules need to know of an order besides its payments and sweeps."""

    status: OrderStatus
    total_cents: int
    rates: Rates


@dataclass(frozen=True)
class Assessment:
    """The status an order's payments and sweeps justify, its exception, and why."""

    status: OrderStatus
    exception_status: ExceptionStatus | None
    completed_by: SweepLike | None  # the sweep with which the split had received the order's total
    cause: dict


def assess(terms: OrderTerms, payments: Sequence[PaymentLike], sweeps: Sequence[SweepLike], head: int,
           needed: int) -> Assessment:
    """Return the status, exception and cause that payments and sweeps justify at head (needed confirmations).

    Completed means the split has received, in confirmed and verified sweeps, at least the order's total;
    funds arriving after that are swept too but do not reopen the order. Refunded is final and is decided
    by refunds, not here.
    """
    confirmed = [p for p in payments if is_confirmed(head, p.block_number, needed)]
    final_sweeps = [s for s in sweeps if s.verified and is_confirmed(head, s.block_number, needed)]
    received, settled = paid_cents(terms.rates, payments), paid_cents(terms.rates, confirmed)
    completed_by = completing_sweep(terms, final_sweeps)
    status = _target(terms, received, settled, completed_by)
    stray = {id(p) for p in strays(terms.rates, payments)}
    late = any(p.late for p in payments if id(p) not in stray)
    return Assessment(status, exception_status(terms.total_cents, received, settled, late),
                      completed_by if status == OrderStatus.COMPLETED else None,
                      _cause(terms.status, status, payments, completed_by))


def _target(terms: OrderTerms, received_cents: int, settled_cents: int, completed_by: SweepLike | None
            ) -> OrderStatus:
    if received_cents == 0:  # nothing that counts was seen: stray receipts leave the order unpaid
        return OrderStatus.EXPIRED if terms.status == OrderStatus.EXPIRED else OrderStatus.GENERATED
    if settled_cents < terms.total_cents:
        return OrderStatus.PENDING
    return OrderStatus.COMPLETED if completed_by is not None else OrderStatus.PAID


def completing_sweep(terms: OrderTerms, final_sweeps: Sequence[SweepLike]) -> SweepLike | None:
    """Return the first sweep with which final_sweeps carry the order's total, or None if they do not yet."""
    for count in range(1, len(final_sweeps) + 1):
        if value_cents(terms.rates, final_sweeps[:count]) >= terms.total_cents:
            return final_sweeps[count - 1]
    return None


def exception_status(total_cents: int, received_cents: int, settled_cents: int, late: bool) -> ExceptionStatus | None:
    """Return the one exception an order shows, the first that applies: paid_partial while something but
    less than the total was received, then paid_over once more than the total is confirmed (a top-up after
    completion included, late or not), then paid_late if a payment that counts came after the quote
    expired; None otherwise.

    The order is what the merchant must act on first: money still missing, then money to give back, then
    only the timing (each payment keeps its own `late`, so nothing is lost when paid_over wins).
    """
    if 0 < received_cents < total_cents:
        return ExceptionStatus.PAID_PARTIAL
    if settled_cents > total_cents:
        return ExceptionStatus.PAID_OVER
    if late:
        return ExceptionStatus.PAID_LATE
    return None


def _cause(current: OrderStatus, target: OrderStatus, payments: Sequence[ChainMove],
           completed_by: SweepLike | None) -> dict:
    if target == OrderStatus.COMPLETED:
        return {"txHash": completed_by.tx_hash, "block": completed_by.block_number}
    latest = max(payments, key=lambda p: (p.block_number, p.log_index), default=None)
    if latest is None:
        return {"reason": "payment removed"}
    if current == OrderStatus.COMPLETED:
        return {"reason": "settlement removed", "txHash": latest.tx_hash, "block": latest.block_number}
    return {"txHash": latest.tx_hash, "block": latest.block_number}


REFUNDABLE = frozenset({OrderStatus.PAID, OrderStatus.COMPLETED})  # what a full refund moves to refunded


class RefundLike(Protocol):
    status: str
    usd_cents: int


def refunded_cents(refunds: Iterable[RefundLike]) -> int:
    """Return what confirmed refunds took, in cents."""
    return sum(r.usd_cents for r in refunds if r.status == RefundStatus.CONFIRMED)


def refund_room_cents(received_cents: int, reserved_cents: int) -> int:
    """Return how much more may be refunded: what was received less what open refunds already reserve."""
    return received_cents - reserved_cents


@dataclass(frozen=True)
class Received:
    """What an order received in one token in confirmed payments: the units that count and the cents they
    were credited, and the stray units."""

    units: int = 0
    cents: int = 0
    stray_units: int = 0


def received_in(rates: Rates, confirmed: Sequence[PaymentLike], symbol: str) -> Received:
    """Return what confirmed payments brought in symbol."""
    stray = strays(rates, confirmed)
    stray_ids = {id(p) for p in stray}
    counted = [p for p in confirmed if p.symbol == symbol and id(p) not in stray_ids]
    return Received(sum(p.amount_base_units for p in counted), paid_cents(rates, counted),
                    sum(p.amount_base_units for p in stray if p.symbol == symbol))


def _credited(received: Received, units: int) -> int:
    """Return what the first units of the counted ones were credited, in proportion, rounded down (all of
    them: exactly what they were credited)."""
    return min(units, received.units) * received.cents // received.units if received.units else 0


def refund_cents(received: Received, reserved_units: int, units: int, rate: Rate | None) -> int | None:
    """Return what a refund of units in a token takes from what the order received, after the units its open
    refunds in that token reserve: received units at what they were credited (so giving all of them back
    takes exactly their credit, and the pieces of a split refund never add up to more), stray units for
    nothing, and units beyond those at the quote rate rounded up. None beyond them with no quote."""
    before, after = reserved_units, reserved_units + units
    cents = _credited(received, after) - _credited(received, before)
    held = received.units + received.stray_units
    beyond = max(0, after - held) - max(0, before - held)
    if beyond == 0:
        return cents
    if rate is None:
        return None
    return cents + cents_for_units(beyond, rate.decimals, rate.usd_rate, ROUND_CEILING)


def refund_units(received: Received, reserved_units: int, cents: int, rate: Rate) -> int:
    """Return the units a refund of cents in a token pays: every counted unit not yet reserved when cents is
    exactly what they were credited (a refund of everything gives back every unit), else the units worth
    cents at the quote rate, rounded up."""
    left_units = max(0, received.units - reserved_units)
    if left_units and cents == received.cents - _credited(received, reserved_units):
        return left_units
    return units_for_cents(cents, rate.decimals, rate.usd_rate)


def is_fully_refunded(status: OrderStatus, refunded_cents: int, received_cents: int) -> bool:
    """Return True when confirmed refunds cover what a paid or completed order received."""
    return status in REFUNDABLE and refunded_cents >= received_cents


def unswept(confirmed_payments: Iterable[Move], sweeps: Iterable[Move]) -> dict[str, int]:
    """Return, per token, what confirmed payments brought in beyond what sweeps took out (may be ≤ 0)."""
    held = per_token(confirmed_payments)
    for symbol, amount in per_token(sweeps).items():
        held[symbol] = held.get(symbol, 0) - amount
    return held


@dataclass
class TokenLedger:
    """Where one token's money of an order (or a sum of orders) is, in base units.

    received = to_merchant + to_platform + held + in_split, where held is still at the deposit address and
    in_split was swept into the split but not paid out this time (PaymentSplitter floors each share; a
    later distribution pays the leftover unit, so a later sweep can show a negative figure here).
    Refunds are paid by the merchant from its own wallet, so they are listed beside, not subtracted.
    """

    token: str
    received: int = 0
    to_merchant: int = 0
    to_platform: int = 0
    held: int = 0
    in_split: int = 0
    refunded: int = 0
    stray: int = 0  # of received, what counts for nothing (stray receipts): swept and refundable all the same

    def add(self, other: TokenLedger) -> None:
        for name in AMOUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


AMOUNTS = [f.name for f in fields(TokenLedger) if f.name != "token"]


def ledger(payments: Iterable[Move], sweeps: Sequence[SweepLike], confirmed_refunds: Iterable[Move],
           stray: Iterable[Move] = ()) -> dict[str, TokenLedger]:
    """Return an order's ledger per token symbol, in symbol order (stray: the payments that are stray receipts)."""
    received, swept, refunded = per_token(payments), per_token(sweeps), per_token(confirmed_refunds)
    strayed = per_token(stray)
    entries = {}
    for symbol in sorted(set(received) | set(swept) | set(refunded)):
        to_merchant = sum(s.merchant_base_units for s in sweeps if s.symbol == symbol)
        to_platform = sum(s.platform_base_units for s in sweeps if s.symbol == symbol)
        entries[symbol] = TokenLedger(
            token=symbol, received=received.get(symbol, 0), to_merchant=to_merchant, to_platform=to_platform,
            held=received.get(symbol, 0) - swept.get(symbol, 0),
            in_split=swept.get(symbol, 0) - to_merchant - to_platform, refunded=refunded.get(symbol, 0),
            stray=strayed.get(symbol, 0))
    return entries


def ledger_cents(rates: Rates, entry: TokenLedger) -> dict[str, int]:
    """Return each amount of entry in cents at the order's rate (rounded toward zero)."""
    def cents(amount: int) -> int:
        value = usd_cents(rates, entry.token, abs(amount))
        return value if amount >= 0 else -value

    return {name: cents(getattr(entry, name)) for name in AMOUNTS}
