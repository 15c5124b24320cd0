"""An order's money rules over plain values (no database, no chain): confirmations, what its payments and
sweeps are worth, the status and exception they justify, when it completed, what a refund may take, and
where each token's money is.

Payments, sweeps and refunds are read through small protocols, so the models and plain test values both
fit. Money is kept apart per asset, a token on one chain ((chain id, symbol): USDC on Base is not USDC on
BSC, whose decimals differ). Amounts are integer base units; USD is integer cents, converted per asset at the
order's quote rate and rounded down (what a payment is credited). A payment is valued at the rate fixed when it arrived
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
    """An amount of one token on one chain: a payment, a sweep or a refund."""

    chain_id: int
    symbol: str
    amount_base_units: int


Asset = tuple[int, str]  # (chain id, token symbol)


def asset(move: Move) -> Asset:
    """Return the asset a move is in: its token on its chain."""
    return move.chain_id, move.symbol


class ChainMove(Move, Protocol):
    tx_hash: str
    log_index: int
    block_number: int
    block_time: datetime


class PaymentLike(ChainMove, Protocol):
    late: bool  # it arrived after the quote expired
    unquoted: bool  # the order had no quote in its token when it arrived: it counts for nothing
    usd_rate: Decimal | None  # the rate it is valued at when not the quote's (a late one without a peg)


class SweepLike(ChainMove, Protocol):
    verified: bool  # every payee got at least its exact share
    merchant_base_units: int
    platform_base_units: int


Rates = Mapping[Asset, Rate]


class Quoted(Rate, Protocol):
    chain_id: int
    symbol: str


def rates(quotes: Iterable[Quoted]) -> dict[Asset, Quoted]:
    """Return an order's quotes by asset: the rates its payments are valued at."""
    return {asset(quote): quote for quote in quotes}


def confirmations(head: int | None, block: int) -> int:
    """Return how many blocks, the block itself included, the chain has from block up to head (0 if unknown)."""
    return 0 if head is None else max(0, head - block + 1)


def is_confirmed(head: int | None, block: int, needed: int) -> bool:
    """Return True when block has at least needed confirmations at head."""
    return confirmations(head, block) >= needed


def newest_final_block(head: int, needed: int) -> int:
    """Return the newest block that has needed confirmations at head."""
    return head - needed + 1


@dataclass(frozen=True)
class ChainView:
    """What is known of one chain: its head (None: unknown), the confirmations a payment needs there, and
    its `finalized` block when completion waits for finality on that chain (None: confirmations suffice)."""

    head: int | None
    needed: int
    finalized: int | None = None
    require_finalized: bool = False

    def confirmed(self, block: int) -> bool:
        """Return True when block has the confirmations a payment needs (what makes an order paid)."""
        return is_confirmed(self.head, block, self.needed)

    def final(self, block: int) -> bool:
        """Return True when block is settled for good: confirmed and, where finality is required, finalized."""
        if not self.confirmed(block):
            return False
        return not self.require_finalized or (self.finalized is not None and block <= self.finalized)


Chains = Mapping[int, ChainView]
UNKNOWN_CHAIN = ChainView(head=None, needed=1)  # a chain no longer configured: nothing there confirms


def confirmed_on(chains: Chains, move: ChainMove) -> bool:
    """Return True when move has the confirmations its chain needs."""
    return chains.get(move.chain_id, UNKNOWN_CHAIN).confirmed(move.block_number)


def final_on(chains: Chains, move: ChainMove) -> bool:
    """Return True when move is final on its chain (confirmations, and finality where required)."""
    return chains.get(move.chain_id, UNKNOWN_CHAIN).final(move.block_number)


def after_settlement(payment: ChainMove, sweeps: Iterable[ChainMove]) -> bool:
    """Return True when payment arrived after the order's first sweep on its chain (it is swept on its own)."""
    first_sweep = min((s.block_number for s in sweeps if s.chain_id == payment.chain_id), default=None)
    return first_sweep is not None and payment.block_number > first_sweep


def arrival(move: ChainMove) -> tuple[datetime, int, int, int]:
    """Return a sort key putting moves in the order they happened: by block time (block numbers of two chains
    cannot be compared), then chain, block and log index."""
    return move.block_time, move.chain_id, move.block_number, move.log_index


def per_token(moves: Iterable[Move]) -> dict[Asset, int]:
    """Return the base units of moves summed per asset."""
    sums: dict[Asset, int] = {}
    for move in moves:
        sums[asset(move)] = sums.get(asset(move), 0) + move.amount_base_units
    return sums


def usd_cents(rates: Rates, key: Asset, amount: int) -> int:
    """Return what amount of an asset is worth at the order's rate, rounded down (0 for one never quoted)."""
    rate = rates.get(key)
    return 0 if rate is None else cents_for_units(amount, rate.decimals, rate.usd_rate)


def value_cents(rates: Rates, moves: Iterable[Move]) -> int:
    """Return what moves are worth, converting each asset's sum once (no cent lost per move)."""
    return sum(usd_cents(rates, key, amount) for key, amount in per_token(moves).items())


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


def _valued_groups(rates: Rates, payments: Iterable[PaymentLike]) -> dict[tuple[Asset, Decimal], list[PaymentLike]]:
    """Return the payments that have a rate, grouped by asset and rate (each group is converted once)."""
    groups: dict[tuple[Asset, Decimal], list[PaymentLike]] = {}
    for payment in payments:
        rate = valued_rate(rates, payment)
        if rate is not None:
            groups.setdefault((asset(payment), rate), []).append(payment)
    return groups


def _group_cents(rates: Rates, key: Asset, rate: Decimal, group: Iterable[Move]) -> int:
    return cents_for_units(sum(p.amount_base_units for p in group), rates[key].decimals, rate)


def valued_rate(rates: Rates, payment: PaymentLike) -> Decimal | None:
    """Return the rate payment is valued at: its own, else its asset's quote (None: it has none)."""
    if payment.unquoted or asset(payment) not in rates:
        return None
    return payment.usd_rate if payment.usd_rate is not None else rates[asset(payment)].usd_rate


def paid_cents(rates: Rates, payments: Iterable[PaymentLike]) -> int:
    """Return what payments count towards the total: each asset's sum at each rate converted once, rounded
    down; stray receipts count for nothing."""
    return sum(_group_cents(rates, key, rate, group)
               for (key, rate), group in _valued_groups(rates, payments).items())


def strays(rates: Rates, payments: Sequence[PaymentLike]) -> list[PaymentLike]:
    """Return the stray receipts among payments: in an asset the order has no quote in, or in an asset
    (at one rate) whose payments together are worth less than a cent."""
    counted = {id(p) for (key, rate), group in _valued_groups(rates, payments).items()
               if _group_cents(rates, key, rate, group) > 0 for p in group}
    return [p for p in payments if id(p) not in counted]


def paying(rates: Rates, total_cents: int, payments: Sequence[PaymentLike]) -> list[PaymentLike]:
    """Return the payments that paid the order: those that count (no stray receipt, each worth a cent at least),
    in chain order, up to the one with which the total was reached (all of them while it was not). Only their senders may be refunded:
    a payment sent after that, or dust, would let anyone become a "payer"."""
    stray = {id(p) for p in strays(rates, payments)}
    paid, counted = [], 0
    for payment in sorted(payments, key=arrival):
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


def assess(terms: OrderTerms, payments: Sequence[PaymentLike], sweeps: Sequence[SweepLike], chains: Chains
           ) -> Assessment:
    """Return the status, exception and cause that payments and sweeps justify, as far as chains have got.

    Paid needs each counted payment confirmed on its chain. Completed means the split has received, in
    verified sweeps final on their chains, at least the order's total; funds arriving after that are swept
    too but do not reopen the order. Refunded is final and is decided by refunds, not here.
    """
    confirmed = [p for p in payments if confirmed_on(chains, p)]
    final_sweeps = sorted((s for s in sweeps if s.verified and final_on(chains, s)), key=arrival)
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
    latest = max(payments, key=arrival, default=None)
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


def received_in(rates: Rates, confirmed: Sequence[PaymentLike], key: Asset) -> Received:
    """Return what confirmed payments brought in an asset."""
    stray = strays(rates, confirmed)
    stray_ids = {id(p) for p in stray}
    counted = [p for p in confirmed if asset(p) == key and id(p) not in stray_ids]
    return Received(sum(p.amount_base_units for p in counted), paid_cents(rates, counted),
                    sum(p.amount_base_units for p in stray if asset(p) == key))


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


def unswept(confirmed_payments: Iterable[Move], sweeps: Iterable[Move]) -> dict[Asset, int]:
    """Return, per asset, what confirmed payments brought in beyond what sweeps took out (may be ≤ 0)."""
    held = per_token(confirmed_payments)
    for key, amount in per_token(sweeps).items():
        held[key] = held.get(key, 0) - amount
    return held


@dataclass
class TokenLedger:
    """Where one asset's money (a token on a chain) of an order (or a sum of orders) is, in base units.

    received = to_merchant + to_platform + held + in_split, where held is still at the deposit address and
    in_split was swept into the split but not paid out this time (PaymentSplitter floors each share; a
    later distribution pays the leftover unit, so a later sweep can show a negative figure here).
    Refunds are paid by the merchant from its own wallet, so they are listed beside, not subtracted.
    """

    token: str
    chain_id: int = 0
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


AMOUNTS = [f.name for f in fields(TokenLedger) if f.name not in ("token", "chain_id")]


def ledger(payments: Iterable[Move], sweeps: Sequence[SweepLike], confirmed_refunds: Iterable[Move],
           stray: Iterable[Move] = ()) -> dict[Asset, TokenLedger]:
    """Return an order's ledger per asset, in (chain, symbol) order (stray: the payments that are stray
    receipts)."""
    received, swept, refunded = per_token(payments), per_token(sweeps), per_token(confirmed_refunds)
    strayed = per_token(stray)
    entries = {}
    for key in sorted(set(received) | set(swept) | set(refunded)):
        to_merchant = sum(s.merchant_base_units for s in sweeps if asset(s) == key)
        to_platform = sum(s.platform_base_units for s in sweeps if asset(s) == key)
        entries[key] = TokenLedger(
            token=key[1], chain_id=key[0], received=received.get(key, 0), to_merchant=to_merchant,
            to_platform=to_platform, held=received.get(key, 0) - swept.get(key, 0),
            in_split=swept.get(key, 0) - to_merchant - to_platform, refunded=refunded.get(key, 0),
            stray=strayed.get(key, 0))
    return entries


def ledger_cents(rates: Rates, entry: TokenLedger) -> dict[str, int]:
    """Return each amount of entry in cents at the order's rate (rounded toward zero)."""
    def cents(amount: int) -> int:
        value = usd_cents(rates, (entry.chain_id, entry.token), abs(amount))
        return value if amount >= 0 else -value

    return {name: cents(getattr(entry, name)) for name in AMOUNTS}
