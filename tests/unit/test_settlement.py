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
C = 1  # the chain of every move unless a test says otherwise


@dataclass(frozen=True)
class Rate:
    decimals: int
    usd_rate: Decimal


@dataclass(frozen=True)
class Pay:
    amount_base_units: int
    block_number: int
    symbol: str = USDC
    chain_id: int = C
    block_time: datetime = AT
    late: bool = False
    tx_hash: str = "0xpay"
    log_index: int = 0
    unquoted: bool = False
    usd_rate: Decimal | None = None


@dataclass(frozen=True)
class Sweep:
    amount_base_units: int
    block_number: int
    symbol: str = USDC
    chain_id: int = C
    verified: bool = True
    merchant_base_units: int = 0
    platform_base_units: int = 0
    tx_hash: str = "0xsweep"
    log_index: int = 0
    block_time: datetime = AT


RATES = {(C, USDC): Rate(6, Decimal(1)), (C, ETH): Rate(18, Decimal("2500"))}
TOTAL = 1000  # $10.00 = 10_000_000 USDC base units


def view(head: int | None, needed: int = 2) -> dict[int, settlement.ChainView]:
    return {C: settlement.ChainView(head, needed)}


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
    verdict = settlement.assess(terms(current), paid, swept, view(head))
    assert (verdict.status, verdict.exception_status) == (status, exception)
    assert (verdict.completed_by is not None) == (status == S.COMPLETED)


def test_completion_is_the_sweep_that_carried_the_total():
    first, second = Sweep(6_000_000, 5, tx_hash="0xa"), Sweep(4_000_000, 6, tx_hash="0xb")
    third = Sweep(1_000_000, 7, tx_hash="0xc")
    verdict = settlement.assess(terms(S.PAID), [Pay(11_000_000, 4)], [first, second, third], view(20))
    assert verdict.completed_by is second and verdict.cause == {"txHash": "0xb", "block": 6}


@pytest.mark.parametrize("current, paid, cause", [
    (S.PAID, [], {"reason": "payment removed"}),
    (S.COMPLETED, [Pay(10_000_000, 5, tx_hash="0xp")], {"reason": "settlement removed", "txHash": "0xp", "block": 5}),
    (S.GENERATED, [Pay(1, 3, tx_hash="0xold"), Pay(1, 7, tx_hash="0xnew")], {"txHash": "0xnew", "block": 7}),
], ids=["payment-removed", "settlement-removed", "latest-payment"])
def test_the_cause_names_what_moved_the_order(current, paid, cause):
    assert settlement.assess(terms(current), paid, [], view(10)).cause == cause


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
    assert settlement.unswept(paid, [Sweep(5, 3)]) == {(C, USDC): 7, (C, ETH): 3}


def test_ledger_accounts_for_every_base_unit():
    paid = [Pay(10_000_001, 1), Pay(2 * 10**15, 1, symbol=ETH)]
    sweeps = [Sweep(10_000_000, 2, merchant_base_units=9_900_000, platform_base_units=99_999)]
    entries = settlement.ledger(paid, sweeps, [Pay(1_000_000, 3)])
    usdc, eth = entries[(C, USDC)], entries[(C, ETH)]
    assert usdc == TokenLedger(USDC, C, received=10_000_001, to_merchant=9_900_000, to_platform=99_999, held=1,
                               in_split=1, refunded=1_000_000)
    assert usdc.received == usdc.to_merchant + usdc.to_platform + usdc.held + usdc.in_split
    assert eth == TokenLedger(ETH, C, received=2 * 10**15, held=2 * 10**15)
    assert settlement.ledger_cents(RATES, eth)["received"] == 500  # 0.002 ETH at $2500


def test_ledger_cents_keep_the_sign_of_a_negative_in_split():
    entry = TokenLedger(USDC, C, in_split=-20_000)
    assert settlement.ledger_cents(RATES, entry)["in_split"] == -2


# ---- exception precedence (issue 12, item 6): partial, then over, then late

PRECEDENCE = [
    # (id, received, settled, late, expected) for a $10.00 order
    ("nothing", 0, 0, False, None),
    ("exact", 1000, 1000, False, None),
    ("partial", 400, 400, False, X.PAID_PARTIAL),
    ("partial-beats-late", 400, 400, True, X.PAID_PARTIAL),
    ("over", 1200, 1200, False, X.PAID_OVER),
    ("over-beats-late", 1200, 1200, True, X.PAID_OVER),
    ("top-up-after-expiry-and-completion", 1500, 1500, True, X.PAID_OVER),
    ("over-unconfirmed-is-not-yet-over", 1200, 1000, True, X.PAID_LATE),
    ("late", 1000, 1000, True, X.PAID_LATE),
]


@pytest.mark.parametrize("received, settled, late, expected", [case[1:] for case in PRECEDENCE],
                         ids=[case[0] for case in PRECEDENCE])
def test_exception_precedence_is_partial_then_over_then_late(received, settled, late, expected):
    assert settlement.exception_status(TOTAL, received, settled, late) == expected


def test_a_top_up_after_completion_past_expiry_is_flagged_paid_over():
    paid = [Pay(10_000_000, 3), Pay(2_000_000, 8, late=True, log_index=1)]
    verdict = settlement.assess(terms(S.COMPLETED), paid, [Sweep(10_000_000, 5)], view(20))
    assert (verdict.status, verdict.exception_status) == (S.COMPLETED, X.PAID_OVER)


# ---- stray receipts (item 2): value that does not count never makes an order pending

def test_stray_receipts_are_unquoted_tokens_and_tokens_worth_less_than_a_cent():
    dust, usdt, unquoted_eth = Pay(9_999, 1), Pay(5_000_000, 1, symbol="USDT"), Pay(10**18, 1, symbol=ETH,
                                                                                      unquoted=True)
    counted = Pay(10**15, 1, symbol=ETH)
    assert settlement.strays(RATES, [dust, usdt, unquoted_eth, counted]) == [dust, usdt, unquoted_eth]
    assert settlement.paid_cents(RATES, [dust, usdt, unquoted_eth, counted]) == 250


def test_dust_that_adds_up_to_a_cent_counts():
    halves = [Pay(5_000, 1), Pay(5_000, 2)]
    assert settlement.strays(RATES, halves) == [] and settlement.paid_cents(RATES, halves) == 1


STRAYS = [
    # (id, current status, payments, expected status)
    ("dust-keeps-it-generated", S.GENERATED, [Pay(1, 5)], S.GENERATED),
    ("unquoted-token-keeps-it-generated", S.GENERATED, [Pay(10**18, 5, symbol="USDT")], S.GENERATED),
    ("stray-moves-a-stranded-pending-order-back", S.PENDING, [Pay(1, 5, symbol=ETH)], S.GENERATED),
    ("expired-stays-expired", S.EXPIRED, [Pay(1, 5, late=True)], S.EXPIRED),
    ("stray-beside-a-real-payment", S.GENERATED, [Pay(1, 5, symbol=ETH), Pay(10_000_000, 5, log_index=1)], S.PAID),
]


@pytest.mark.parametrize("current, paid, status", [case[1:] for case in STRAYS], ids=[case[0] for case in STRAYS])
def test_pending_means_value_towards_the_total_was_seen(current, paid, status):
    verdict = settlement.assess(terms(current), paid, [], view(10))
    assert (verdict.status, verdict.exception_status) == (status, None)


# ---- late payments in a token without a peg (item 3)

RATE_CASES = [
    # (id, quote rate, late, pegged, market rate, expected)
    ("on-time", Decimal(3000), False, False, Decimal(2000), Decimal(3000)),
    ("late-market-fell", Decimal(3000), True, False, Decimal(2000), Decimal(2000)),
    ("late-capped-at-quote", Decimal(3000), True, False, Decimal(4000), Decimal(3000)),
    ("late-no-market-rate", Decimal(3000), True, False, None, Decimal(3000)),
    ("late-pegged", Decimal(1), True, True, Decimal("0.5"), Decimal(1)),
    ("not-quoted", None, True, False, Decimal(2000), None),
]


@pytest.mark.parametrize("quote, late, pegged, market, expected", [case[1:] for case in RATE_CASES],
                         ids=[case[0] for case in RATE_CASES])
def test_a_late_payment_without_a_peg_is_valued_at_the_market_never_above_the_quote(quote, late, pegged, market,
                                                                                      expected):
    assert settlement.payment_rate(quote, late, pegged, market) == expected


def test_a_late_payment_valued_below_the_quote_leaves_the_order_partly_paid():
    wei = 4 * 10**15  # $10.00 at the quote's $2,500; $8.00 at the market's $2,000 when it arrived
    verdict = settlement.assess(terms(S.EXPIRED), [Pay(wei, 5, symbol=ETH, late=True, usd_rate=Decimal(2000))],
                                [], view(10))
    assert (verdict.status, verdict.exception_status) == (S.PENDING, X.PAID_PARTIAL)
    assert settlement.paid_cents(RATES, [Pay(wei, 5, symbol=ETH, usd_rate=Decimal(2000))]) == 800


# ---- refunds in exact units (item 5)

W = 4_216_666_667_000_000  # an ETH quote of $12.65 at $3,000, rounded up to 10^12 wei: credited 1265 cents
ETH_3000 = {(C, ETH): Rate(18, Decimal(3000))}


def received_eth(wei: int = W, stray: int = 0) -> settlement.Received:
    return settlement.received_in(ETH_3000, [Pay(wei, 1, symbol=ETH)] + ([Pay(stray, 1, symbol=ETH, unquoted=True)]
                                                                         if stray else []), (C, ETH))


def test_a_refund_of_exactly_the_units_received_takes_exactly_what_they_were_credited():
    assert received_eth() == settlement.Received(W, 1265, 0)
    assert settlement.refund_cents(received_eth(), 0, W, ETH_3000[(C, ETH)]) == 1265


def test_the_pieces_of_a_split_refund_never_add_up_to_more_than_was_credited():
    pieces = [W // 3, W // 3, W - 2 * (W // 3)]
    cents = [settlement.refund_cents(received_eth(), sum(pieces[:i]), piece, ETH_3000[(C, ETH)])
             for i, piece in enumerate(pieces)]
    assert sum(cents) == 1265
    assert sum(settlement.refund_cents(received_eth(), n, 1, ETH_3000[(C, ETH)]) for n in range(1000)) == 0


def test_a_usd_refund_of_everything_received_pays_back_every_unit():
    assert settlement.refund_units(received_eth(), 0, 1265, ETH_3000[(C, ETH)]) == W
    assert settlement.refund_units(received_eth(), 0, 1000, ETH_3000[(C, ETH)]) == 3_333_333_333_333_334
    assert settlement.refund_units(received_eth(), W // 2, 1265 - 632, ETH_3000[(C, ETH)]) == W - W // 2


@pytest.mark.parametrize("reserved, units, rate, cents", [
    (0, 5, None, 0), (5, 1, None, None), (0, W + 10**15, ETH_3000[(C, ETH)], 1265 + 300),
], ids=["stray-units-are-refunded-for-nothing", "beyond-a-stray-without-quote", "beyond-at-the-quote-rounded-up"])
def test_refund_cents_beyond_what_counted(reserved, units, rate, cents):
    received = settlement.Received(0, 0, 5) if rate is None else received_eth()
    assert settlement.refund_cents(received, reserved, units, rate) == cents


def test_the_ledger_shows_stray_receipts_per_token():
    usdt = Pay(5_000_000, 1, symbol="USDT")
    entries = settlement.ledger([usdt, Pay(10_000_000, 1)], [], [], settlement.strays(RATES, [usdt]))
    assert (entries[(C, "USDT")].stray, entries[(C, USDC)].stray) == (5_000_000, 0)


def test_only_payments_up_to_the_total_paid_the_order_dust_and_top_ups_did_not():
    first, second = Pay(6_000_000, 5, tx_hash="0xa"), Pay(4_000_000, 6, tx_hash="0xb")
    top_up, dust = Pay(1_000_000, 9, tx_hash="0xtop"), Pay(1, 7, symbol=ETH, tx_hash="0xdust")
    assert settlement.paying(RATES, TOTAL, [top_up, dust, second, first]) == [first, second]


def test_while_the_total_is_not_reached_every_counted_payment_paid():
    partial = [Pay(3_000_000, 5, tx_hash="0xa"), Pay(1_000_000, 6, tx_hash="0xb")]
    assert settlement.paying(RATES, TOTAL, partial) == partial


def test_dust_sent_before_the_shopper_paid_never_makes_a_payer():
    dust, shopper = Pay(1, 3, tx_hash="0xdust"), Pay(10_000_000, 5, tx_hash="0xshop")
    assert settlement.strays(RATES, [dust, shopper]) == []  # the token's sum counts, so no stray receipt
    assert settlement.paying(RATES, TOTAL, [dust, shopper]) == [shopper]


@pytest.mark.parametrize("block, after", [(4, False), (5, False), (6, True)], ids=["before", "same-block", "after"])
def test_a_payment_is_after_settlement_only_once_a_sweep_came_before_it(block, after):
    assert settlement.after_settlement(Pay(1, block), [Sweep(1, 7), Sweep(1, 5)]) is after
    assert settlement.after_settlement(Pay(1, block), []) is False


# ---- many chains: each token on each chain is its own asset, each chain confirms its own moves

BASE, BSC = 8453, 56
MULTI = {(C, USDC): Rate(6, Decimal(1)), (BSC, USDC): Rate(18, Decimal(1))}


def test_the_same_token_on_two_chains_is_two_assets_with_their_own_decimals():
    paid = [Pay(4_000_000, 5), Pay(6 * 10**18, 9, chain_id=BSC)]  # $4.00 in 6 decimals + $6.00 in 18 decimals
    assert settlement.paid_cents(MULTI, paid) == 1000
    assert settlement.per_token(paid) == {(C, USDC): 4_000_000, (BSC, USDC): 6 * 10**18}
    assert settlement.paid_cents(MULTI, [Pay(10_000_000, 5, chain_id=BASE)]) == 0  # no quote on that chain


def test_each_payment_is_confirmed_by_its_own_chain():
    paid = [Pay(4_000_000, 5), Pay(6 * 10**18, 900, chain_id=BSC)]
    chains = {C: settlement.ChainView(10, 2), BSC: settlement.ChainView(900, 2)}
    assert settlement.assess(OrderTerms(S.GENERATED, TOTAL, MULTI), paid, [], chains).status == S.PENDING
    chains[BSC] = settlement.ChainView(901, 2)
    assert settlement.assess(OrderTerms(S.PENDING, TOTAL, MULTI), paid, [], chains).status == S.PAID
    assert settlement.assess(OrderTerms(S.PENDING, TOTAL, MULTI), paid, [], {C: chains[C]}).status == S.PENDING


def test_completion_waits_for_the_finalized_block_where_the_chain_requires_it():
    paid, swept = [Pay(10_000_000, 5)], [Sweep(10_000_000, 8)]
    waiting = {C: settlement.ChainView(20, 2, finalized=7, require_finalized=True)}
    assert settlement.assess(terms(S.PAID), paid, swept, waiting).status == S.PAID
    final = {C: settlement.ChainView(20, 2, finalized=8, require_finalized=True)}
    assert settlement.assess(terms(S.PAID), paid, swept, final).status == S.COMPLETED


def test_payments_on_two_chains_are_ordered_by_time_not_block_number():
    early = Pay(6_000_000, 900, chain_id=BSC, block_time=AT)
    later = Pay(4_000_000, 5, block_time=AT.replace(hour=1))
    rates = {**MULTI, (BSC, USDC): Rate(6, Decimal(1))}
    assert settlement.paying(rates, 600, [later, early]) == [early]


def test_a_sweep_on_another_chain_does_not_make_a_payment_late_for_settlement():
    assert settlement.after_settlement(Pay(1, 9), [Sweep(1, 5, chain_id=BSC)]) is False
