"""ETH quotes from the real (mock) feed on anvil: read once per short window, stale feeds refused."""
from __future__ import annotations

from decimal import Decimal

from app.chain.client import forget_prices
from tests.helpers.chain import transact


def eth_rate(receipt: dict) -> Decimal | None:
    return next((q["usdRate"] for q in receipt["quotes"] if q["token"] == "ETH"), None)


def test_feed_is_read_once_per_window_and_again_after(w3, accounts, contracts, new_order):
    assert eth_rate(new_order()) == Decimal(3000)
    transact(w3, contracts.feed.functions.updateAnswer(2500 * 10**8), accounts.platform)
    assert eth_rate(new_order()) == Decimal(3000), "the reading from a moment ago is reused"
    forget_prices()
    assert eth_rate(new_order()) == Decimal(2500)


def test_a_stale_feed_means_no_eth_quote(w3, accounts, contracts, new_order):
    transact(w3, contracts.feed.functions.setUpdatedAt(1), accounts.platform)
    receipt = new_order()
    assert eth_rate(receipt) is None and {q["token"] for q in receipt["quotes"]} == {"USDC", "USDT"}
