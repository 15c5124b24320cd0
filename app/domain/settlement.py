"""An order's money rules over plain values (no database, no chain): confirmations, what its payments and
sweeps are worth, the status and exception they justify, when it completed, what a refund may take, and
where each token's money is.

Payments, sweeps and refunds are read through small protocols, so the models and plain test values both
fit. Amounts are integer base units; USD is integer cents, converted per token at the order's quote rate
and rounded down (what a payment is credited).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from app.domain.money import cents_for_units
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
    received, settled = value_cents(terms.rates, payments), value_cents(terms.rates, confirmed)
    completed_by = completing_sweep(terms, final_sweeps)
    status = _target(terms, payments, settled, completed_by)
    return Assessment(status, exception_status(terms.total_cents, received, settled, any(p.late for p in payments)),
                      completed_by if status == OrderStatus.COMPLETED else None,
                      _cause(terms.status, status, payments, completed_by))


def _target(terms: OrderTerms, payments: Sequence[PaymentLike], settled_cents: int,
            completed_by: SweepLike | None) -> OrderStatus:
    if not payments:
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
    """Return paid_partial while less than the total was received, else paid_late if any payment came after
    the quote expired, else paid_over once more than the total is confirmed; None otherwise."""
    if 0 < received_cents < total_cents:
        return ExceptionStatus.PAID_PARTIAL
    if late:
        return ExceptionStatus.PAID_LATE
    if settled_cents > total_cents:
        return ExceptionStatus.PAID_OVER
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

    def add(self, other: TokenLedger) -> None:
        for name in AMOUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


AMOUNTS = [f.name for f in fields(TokenLedger) if f.name != "token"]


def ledger(payments: Iterable[Move], sweeps: Sequence[SweepLike], confirmed_refunds: Iterable[Move]
           ) -> dict[str, TokenLedger]:
    """Return an order's ledger per token symbol, in symbol order."""
    received, swept, refunded = per_token(payments), per_token(sweeps), per_token(confirmed_refunds)
    entries = {}
    for symbol in sorted(set(received) | set(swept) | set(refunded)):
        to_merchant = sum(s.merchant_base_units for s in sweeps if s.symbol == symbol)
        to_platform = sum(s.platform_base_units for s in sweeps if s.symbol == symbol)
        entries[symbol] = TokenLedger(
            token=symbol, received=received.get(symbol, 0), to_merchant=to_merchant, to_platform=to_platform,
            held=received.get(symbol, 0) - swept.get(symbol, 0),
            in_split=swept.get(symbol, 0) - to_merchant - to_platform, refunded=refunded.get(symbol, 0))
    return entries


def ledger_cents(rates: Rates, entry: TokenLedger) -> dict[str, int]:
    """Return each amount of entry in cents at the order's rate (rounded toward zero)."""
    def cents(amount: int) -> int:
        value = usd_cents(rates, entry.token, abs(amount))
        return value if amount >= 0 else -value

    return {name: cents(getattr(entry, name)) for name in AMOUNTS}
