"""Pricing: the reference's examples, half-up rounding, fee tiers, and a property test against a
deliberately plain Decimal implementation written here, independent of app.domain.pricing."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.money import round_half_up, usd_to_cents
from app.domain.pricing import FeeTier, PricedLine, parse_fee_tiers, platform_bps_for_volume, price
from app.models import ShopConfig
from app.services.tax import TaxChoice, resolve_tax


@pytest.mark.parametrize("lines, rate, bps, tax, fee, total", [
    ([PricedLine(10000, 1, True)], "0.095", 50, 950, 55, 11005),
    ([PricedLine(10000, 1, True)], "0.095", 200, 950, 219, 11169),
    ([PricedLine(1000, 1, True), PricedLine(1500, 1, False)], "0.095", 50, 95, 13, 2608),
], ids=["reference-0.5pct", "reference-2pct", "reference-taxable-only"])
def test_reference_examples(lines, rate, bps, tax, fee, total):
    totals = price(lines, Decimal(rate), bps)
    assert (totals.tax_cents, totals.fee_cents, totals.total_cents) == (tax, fee, total)


@pytest.mark.parametrize("value, expected", [("0.5", 1), ("1.5", 2), ("2.5", 3), ("2.4999", 2), ("54.75", 55)],
                         ids=["half", "one-and-half", "two-and-half-not-bankers", "below-half", "reference-fee"])
def test_round_half_up_never_rounds_to_even(value, expected):
    assert round_half_up(Decimal(value)) == expected


@pytest.mark.parametrize("text, volume, bps", [
    ("0:50", 0, 50), ("0:50,10000:40,100000:25", 999_999, 50), ("0:50,10000:40,100000:25", 1_000_000, 40),
    ("100000:25,0:50", 10_000_000, 25)], ids=["default", "below-second", "at-second", "unordered"])
def test_fee_tier_by_volume(text, volume, bps):
    assert platform_bps_for_volume(parse_fee_tiers(text), volume) == bps


@pytest.mark.parametrize("text", ["", "50", "0:50:1", "x:50", "0:10001", "-1:50", "0.001:50"],
                         ids=["empty", "no-colon", "extra-colon", "volume-text", "bps-over", "negative", "sub-cent"])
def test_bad_fee_tiers_are_refused(text):
    with pytest.raises(ValueError):
        parse_fee_tiers(text)


# ---- property test: the app's pricing against a plain, dollars-based reimplementation

def plain_receipt(lines, config, choice, tiers, volume_usd, add_on_bps):
    """Price a cart the slow, obvious way: dollars, Decimal, quantize to the cent half up."""
    cent = Decimal("0.01")
    subtotal = sum((Decimal(unit) / 100 * qty for unit, qty, _ in lines), Decimal(0))
    taxable = sum((Decimal(unit) / 100 * qty for unit, qty, is_taxable in lines if is_taxable), Decimal(0))
    if choice["rate"] is not None:
        rate = choice["rate"]
    else:
        jurisdiction = [j for j in config["jurisdictions"] if j["code"] == choice["code"]][0]
        if choice["components"]:
            rate = sum((Decimal(c["rate"]) for c in jurisdiction["components"] if c["code"] in choice["components"]),
                       Decimal(0))
        else:
            rate = Decimal(jurisdiction["rate"])
    tax = (taxable * rate).quantize(cent, rounding=ROUND_HALF_UP)
    platform = min(tiers, key=lambda t: t[0])[1]
    for threshold_usd, bps in sorted(tiers):
        if volume_usd >= threshold_usd:
            platform = bps
    percent = Decimal(platform + add_on_bps) / 100
    fee = ((subtotal + tax) * percent / 100).quantize(cent, rounding=ROUND_HALF_UP)
    return tax, fee, subtotal + tax + fee


rates = st.decimals(min_value=0, max_value=Decimal("0.25"), places=5)
components = st.lists(st.tuples(st.sampled_from(["state", "county", "city", "district"]), rates),
                      max_size=4, unique_by=lambda c: c[0])
carts = st.lists(st.tuples(st.integers(0, 10_000_000), st.integers(1, 10_000), st.booleans()), min_size=1, max_size=100)
tier_lists = st.lists(st.tuples(st.integers(0, 1_000_000), st.integers(0, 300)), min_size=1, max_size=4,
                      unique_by=lambda t: t[0])


@settings(max_examples=400, deadline=None)
@given(cart=carts, jurisdiction_rate=rates, comps=components, override=st.one_of(st.none(), rates),
       use_components=st.booleans(), tiers=tier_lists, volume_usd=st.integers(0, 2_000_000),
       add_on=st.integers(0, 1000))
def test_pricing_matches_a_plain_decimal_implementation(cart, jurisdiction_rate, comps, override, use_components,
                                                        tiers, volume_usd, add_on):
    jurisdiction = {"code": "J-1", "name": "J", "rate": str(jurisdiction_rate),
                    "components": [{"code": code, "name": code, "rate": str(rate)} for code, rate in comps]}
    config = ShopConfig(jurisdictions=[jurisdiction], processing_fee_add_on_bps=add_on)
    wanted = [code for code, _ in comps][: len(comps) // 2 + 1] if use_components and comps else None
    choice = {"rate": override, "code": "J-1", "components": wanted}

    tax_rate = resolve_tax(config, TaxChoice(override, "j-1", wanted)).rate
    fee_tiers = tuple(FeeTier(usd_to_cents(v), bps) for v, bps in tiers)
    bps = platform_bps_for_volume(fee_tiers, usd_to_cents(volume_usd)) + add_on
    totals = price([PricedLine(unit, qty, taxable) for unit, qty, taxable in cart], tax_rate, bps)

    tax, fee, total = plain_receipt(cart, {"jurisdictions": [jurisdiction]}, choice, tiers, volume_usd, add_on)
    assert (totals.tax_cents, totals.fee_cents, totals.total_cents) == (tax * 100, fee * 100, total * 100)
