"""The settlement rules of app/domain/settlement.py over plain values: no database, no chain."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from app.domain import settlement
from app.domain.settlement import OrderTerms, TokenLedger
from app.domain.statuses import ExceptionStatus, OrderStatus

S, X = OrderStatus, ExceptionStatus
USDC, ETH = "USDC", "ETH"
AT = datetime(2026, 12, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Rate:
    decimals: int
    usd_rate: Decimal


@dataclass(frozen=True)
class Pay:
    amount_base_units: int
    block_number: int
    symbol: str = USDC
    late: bool = False
    tx_hash: str = "0xpay"
    log_index: int = 0


@dataclass(frozen=True)
class Sweep:
    amount_base_units: int
    block_number: int
    symbol: str = USDC
    verified: bool = True
    merchant_base_units: int = 0
    platform_base_units: int = 0
    tx_hash: str = "0xsweep"
    log_index: int = 0
    block_time: datetime = AT


RATES = {USDC: Rate(6, Decimal(1)), ETH: Rate(18, Decimal("2500"))}
TOTAL = 1000  # $10.00 = 10_000_000 USDC base units


def terms(status: OrderStatus = S.GENERATED, total: int = TOTAL) -> OrderTerms:
    return OrderTerms(status, total, RATES)


@pytest.mark.parametrize("head, block, needed, confirmed", [
    (100, 100, 1, True), (100, 100, 2, False), (101, 100, 2, True), (99, 100, 1, False), (None, 100, 1, False),
    (100, 100, 0, True),
], ids=["own-block", "needs-one-more", "two", "head-behind", "head-unknown", "none-needed"])
def test_confirmation_counts_the_payments_own_block(head, block, needed, confirmed):
    assert settlement.is_confirmed(head, block, needed) is confirmed


def test_newest_final_block_is_the_one_with_exactly_enough_confirmations():
    head, needed = 100, 3
    final = settlement.newest_final_block(head, needed)
    assert settlement.is_confirmed(head, final, needed) and not settlement.is_confirmed(head, final + 1, needed)


def test_value_converts_each_tokens_sum_once_so_no_cent_is_lost_per_payment():
    halves = [Pay(5_000, 1), Pay(5_000, 2)]  # half a cent each: floored one by one, they would be worth 0
    assert settlement.value_cents(RATES, halves) == 1


def test_a_token_the_order_was_never_quoted_in_is_worth_nothing():
    assert settlement.value_cents(RATES, [Pay(10**9, 1, symbol="DAI")]) == 0


ASSESS = [
    # (id, current status, payments, sweeps, head, expected status, expected exception)
    ("nothing", S.GENERATED, [], [], 10, S.GENERATED, None),
    ("nothing-expired-stays", S.EXPIRED, [], [], 10, S.EXPIRED, None),
    ("seen-unconfirmed", S.GENERATED, [Pay(10_000_000, 10)], [], 10, S.PENDING, None),
    ("confirmed", S.PENDING, [Pay(10_000_000, 9)], [], 10, S.PAID, None),
    ("partial", S.GENERATED, [Pay(4_000_000, 5)], [], 10, S.PENDING, X.PAID_PARTIAL),
    ("partial-adds-up", S.PENDING, [Pay(4_000_000, 5), Pay(6_000_000, 6, log_index=1)], [], 10, S.PAID, None),
    ("over", S.PENDING, [Pay(12_000_000, 5)], [], 10, S.PAID, X.PAID_OVER),
    ("over-unconfirmed-not-yet", S.GENERATED, [Pay(12_000_000, 10)], [], 10, S.PENDING, None),
    ("late", S.EXPIRED, [Pay(10_000_000, 5, late=True)], [], 10, S.PAID, X.PAID_LATE),
    ("late-partial-is-partial", S.EXPIRED, [Pay(1_000_000, 5, late=True)], [], 10, S.PENDING, X.PAID_PARTIAL),
    ("payment-reorged-away", S.PAID, [], [], 10, S.GENERATED, None),
    ("swept", S.PAID, [Pay(10_000_000, 5)], [Sweep(10_000_000, 8)], 10, S.COMPLETED, None),
    ("sweep-unconfirmed", S.PAID, [Pay(10_000_000, 5)], [Sweep(10_000_000, 10)], 10, S.PAID, None),
    ("sweep-unverified", S.PAID, [Pay(10_000_000, 5)], [Sweep(10_000_000, 8, verified=False)], 10, S.PAID, None),
    ("sweep-short", S.PAID, [Pay(10_000_000, 5)], [Sweep(9_000_000, 8)], 10, S.PAID, None),
    ("sweep-reorged-away", S.COMPLETED, [Pay(10_000_000, 5)], [], 10, S.PAID, None),
]


@pytest.mark.parametrize("current, paid, swept, head, status, exception", [case[1:] for case in ASSESS],
                         ids=[case[0] for case in ASSESS])
def test_assess_decides_status_and_exception(current, paid, swept, head, status, exception):
    verdict = settlement.assess(terms(current), paid, swept, head, needed=2)
    assert (verdict.status, verdict.exception_status) == (status, exception)
    assert (verdict.completed_by is not None) == (status == S.COMPLETED)


def test_completion_is_the_sweep_that_carried_the_total():
    first, second = Sweep(6_000_000, 5, tx_hash="0xa"), Sweep(4_000_000, 6, tx_hash="0xb")
    third = Sweep(1_000_000, 7, tx_hash="0xc")
    verdict = settlement.assess(terms(S.PAID), [Pay(11_000_000, 4)], [first, second, third], 20, needed=2)
    assert verdict.completed_by is second and verdict.cause == {"txHash": "0xb", "block": 6}


@pytest.mark.parametrize("current, paid, cause", [
    (S.PAID, [], {"reason": "payment removed"}),
    (S.COMPLETED, [Pay(10_000_000, 5, tx_hash="0xp")], {"reason": "settlement removed", "txHash": "0xp", "block": 5}),
    (S.GENERATED, [Pay(1, 3, tx_hash="0xold"), Pay(1, 7, tx_hash="0xnew")], {"txHash": "0xnew", "block": 7}),
], ids=["payment-removed", "settlement-removed", "latest-payment"])
def test_the_cause_names_what_moved_the_order(current, paid, cause):
    assert settlement.assess(terms(current), paid, [], 10, needed=2).cause == cause


@pytest.mark.parametrize("status, refunded, received, full", [
    (S.PAID, 1000, 1000, True), (S.COMPLETED, 1200, 1000, True), (S.PAID, 999, 1000, False),
    (S.PENDING, 1000, 1000, False), (S.REFUNDED, 1000, 1000, False),
], ids=["paid", "completed-over", "partial", "pending-never", "already-refunded"])
def test_only_a_full_refund_of_a_paid_or_completed_order_refunds_it(status, refunded, received, full):
    assert settlement.is_fully_refunded(status, refunded, received) is full


def test_refund_room_is_what_was_received_less_what_refunds_reserve():
    assert settlement.refund_room_cents(1000, 300) == 700


def test_unswept_is_confirmed_payments_less_sweeps_per_token():
    paid = [Pay(5, 1), Pay(7, 2), Pay(3, 2, symbol=ETH)]
    assert settlement.unswept(paid, [Sweep(5, 3)]) == {USDC: 7, ETH: 3}


def test_ledger_accounts_for_every_base_unit():
    paid = [Pay(10_000_001, 1), Pay(2 * 10**15, 1, symbol=ETH)]
    sweeps = [Sweep(10_000_000, 2, merchant_base_units=9_900_000, platform_base_units=99_999)]
    entries = settlement.ledger(paid, sweeps, [Pay(1_000_000, 3)])
    usdc, eth = entries[USDC], entries[ETH]
    assert usdc == TokenLedger(USDC, received=10_000_001, to_merchant=9_900_000, to_platform=99_999, held=1,
                               in_split=1, refunded=1_000_000)
    assert usdc.received == usdc.to_merchant + usdc.to_platform + usdc.held + usdc.in_split
    assert eth == TokenLedger(ETH, received=2 * 10**15, held=2 * 10**15)
    assert settlement.ledger_cents(RATES, eth)["received"] == 500  # 0.002 ETH at $2500


def test_ledger_cents_keep_the_sign_of_a_negative_in_split():
    entry = TokenLedger(USDC, in_split=-20_000)
    assert settlement.ledger_cents(RATES, entry)["in_split"] == -2
