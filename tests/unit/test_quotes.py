"""Quotes: stablecoins exact at their peg, ETH from the feed rounded up to 10^12 wei, stale feeds refused."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.chain.deposits import deposit_address, implementation_address, order_ref
from app.chain.quotes import EthPrice, eth_quote, is_fresh, quotes_for, stable_quote
from app.chain.settings import ChainSettings, Token, parse_tokens

USDC = Token("USDC", "0x" + "11" * 20, 6)


@pytest.mark.parametrize("token, cents, units", [
    (USDC, 11005, 110_050_000), (Token("EURC", "0x" + "22" * 20, 6, Decimal("1.08")), 10800, 100_000_000),
    (Token("EURC", "0x" + "22" * 20, 6, Decimal("1.08")), 1, 9260), (Token("DAI", "0x" + "33" * 20, 18), 1, 10**16),
], ids=["usdc-exact", "peg-exact", "peg-rounds-up", "18-decimals"])
def test_stable_quotes_are_exact_and_round_up(token, cents, units):
    assert stable_quote(token, cents).amount_base_units == units


def test_eth_quote_rounds_up_to_a_multiple_of_10_to_the_12():
    quote = eth_quote(EthPrice(3000 * 10**8, 8, 0), 4999)  # $49.99 at $3000: 16,663,333,333,333,333.3 wei
    assert quote.amount_base_units == 16_664_000_000_000_000
    assert quote.amount_base_units % 10**12 == 0 and quote.usd_rate == Decimal(3000)


def test_eth_quote_never_leaves_the_merchant_short():
    for cents in (1, 999, 123456, 10**9):
        price = EthPrice(2_718_281_828_459, 8, 0)
        wei = eth_quote(price, cents).amount_base_units
        assert wei * price.answer >= cents * 10**18 * 10**8 // 100


@pytest.mark.parametrize("updated_ago, fresh", [(0, True), (3600, True), (3601, False), (-3600, False)],
                         ids=["now", "at-limit", "stale", "future"])
def test_feed_freshness(updated_ago, fresh):
    assert is_fresh(EthPrice(1, 8, 1_000_000 - updated_ago), 3600, now=1_000_000) is fresh


def test_eth_is_offered_only_with_a_fresh_price():
    chain = ChainSettings(factory="0x" + "44" * 20, eth_usd_feed="0x" + "55" * 20, tokens=(USDC,))
    assert [q.symbol for q in quotes_for(chain, ["USDC", "ETH"], 100, lambda: None)] == ["USDC"]
    stale = EthPrice(3000 * 10**8, 8, 0)
    assert [q.symbol for q in quotes_for(chain, ["ETH", "USDC"], 100, lambda: stale)] == ["USDC"]


def test_tokens_setting_parses_and_refuses_bad_entries():
    assert parse_tokens(f"USDC:{'0x' + 'ab' * 20}:6, EURC:{'0x' + 'cd' * 20}:6:1.08")[1].usd_peg == Decimal("1.08")
    for bad in ("USDC:0x12:6", f"USDC:{'0x' + 'ab' * 20}", f"ETH:{'0x' + 'ab' * 20}:18", f"X:{'0x' + 'ab' * 20}:6:0"):
        with pytest.raises(ValueError):
            parse_tokens(bad)


def test_order_ref_is_the_receipt_id_padded_and_addresses_differ_per_split():
    assert order_ref("R-ABCDEFGHIJKL") == b"R-ABCDEFGHIJKL" + b"\0" * 18
    factory = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert implementation_address(factory) == "0xa16E02E87b7454126E5E10d957A927A7F5B5d2be"
    a = deposit_address(factory, "0x" + "01" * 20, "R-ABCDEFGHIJKL")
    assert a != deposit_address(factory, "0x" + "02" * 20, "R-ABCDEFGHIJKL")
    assert a != deposit_address(factory, "0x" + "01" * 20, "R-ABCDEFGHIJKM")
