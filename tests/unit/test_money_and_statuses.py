"""Money parsing, identifiers and the order status transition table."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.ids import RECEIPT_ID_PATTERN, new_receipt_id, normalize_wallet
from app.domain.money import cents_to_usd, usd_to_cents
from app.domain.statuses import IllegalTransition, OrderStatus, check_transition, transition_path


@pytest.mark.parametrize("value, cents", [("12.30", 1230), (7, 700), (Decimal("0.01"), 1), ("1E+2", 10000),
                                          ("3.500", 350)], ids=["text", "int", "decimal", "exponent", "trailing-zero"])
def test_usd_to_cents_is_exact(value, cents):
    assert usd_to_cents(value) == cents


@pytest.mark.parametrize("value", ["0.001", "abc", "NaN", "Infinity", "1e999999999", "1e-999999999"],
                         ids=["three-places", "text", "nan", "infinity", "huge", "tiny"])
def test_usd_to_cents_refuses_what_is_not_whole_cents(value):
    with pytest.raises(ValueError):
        usd_to_cents(value)


def test_cents_to_usd_has_two_places():
    assert str(cents_to_usd(1005)) == "10.05" and str(cents_to_usd(0)) == "0.00"


def test_receipt_ids_are_unguessable_and_well_formed():
    ids = {new_receipt_id() for _ in range(2000)}
    assert len(ids) == 2000 and all(RECEIPT_ID_PATTERN.match(i) for i in ids)


def test_wallets_are_normalized_and_checked():
    assert normalize_wallet("0x" + "AB" * 20) == "0x" + "ab" * 20
    with pytest.raises(ValueError):
        normalize_wallet("0x" + "zz" * 20)


S = OrderStatus
ALLOWED = {(S.GENERATED, S.PENDING), (S.GENERATED, S.EXPIRED), (S.PENDING, S.PAID), (S.PENDING, S.GENERATED),
           (S.PAID, S.COMPLETED), (S.PAID, S.REFUNDED), (S.PAID, S.PENDING), (S.COMPLETED, S.REFUNDED),
           (S.COMPLETED, S.PAID), (S.EXPIRED, S.PENDING), (S.EXPIRED, S.GENERATED),
           (S.GENERATED, S.CANCELLED), (S.EXPIRED, S.CANCELLED)}


@pytest.mark.parametrize("current", list(S), ids=[s.value for s in S])
@pytest.mark.parametrize("new", list(S), ids=[s.value for s in S])
def test_only_the_documented_transitions_are_allowed(current, new):
    if (current, new) in ALLOWED:
        check_transition(current, new)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, new)


@pytest.mark.parametrize("current, target, path", [
    (S.GENERATED, S.GENERATED, []), (S.GENERATED, S.PAID, [S.PENDING, S.PAID]),
    (S.EXPIRED, S.COMPLETED, [S.PENDING, S.PAID, S.COMPLETED]), (S.COMPLETED, S.PENDING, [S.PAID, S.PENDING]),
], ids=["there", "seen-then-paid", "late-to-completed", "settlement-and-payment-reorged"])
def test_transition_path_walks_allowed_steps(current, target, path):
    assert transition_path(current, target) == path


def test_no_path_out_of_refunded_is_the_domains_error():
    with pytest.raises(IllegalTransition):
        transition_path(S.REFUNDED, S.PAID)


def test_statuses_are_their_values_in_text():
    assert f"{S.PAID}" == "paid" and str(S.PAID) == "paid" and S.PAID == "paid"
