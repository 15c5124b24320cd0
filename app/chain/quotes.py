"""Token amounts for an order total: stablecoins at their peg, ETH from a Chainlink-style feed.

Amounts are integers in base units, always rounded up so the merchant is never short.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from decimal import Decimal

from app.chain.settings import ETH, ChainSettings, Token
from app.domain.money import units_for_cents

logger = logging.getLogger(__name__)

WEI_PER_ETH = 10**18
# ETH quotes are whole multiples of 10^12 wei, so wallets that parse amounts as JS Numbers stay exact.
ETH_QUOTE_STEP = 10**12


@dataclass(frozen=True)
class EthPrice:
    """A feed reading: answer / 10**decimals USD per ETH, updated at updated_at (unix seconds)."""

    answer: int
    decimals: int
    updated_at: int


@dataclass(frozen=True)
class Quote:
    chain_id: int
    symbol: str
    token_address: str | None
    decimals: int
    amount_base_units: int
    usd_rate: Decimal


def usd_rate(price: EthPrice) -> Decimal:
    """Return the feed reading as USD per ETH."""
    return Decimal(price.answer) / 10**price.decimals


def ceil_div(numerator: int, denominator: int) -> int:
    """Return numerator / denominator rounded up (both positive integers)."""
    return -(-numerator // denominator)


def stable_quote(token: Token, total_cents: int, chain_id: int = 0) -> Quote:
    """Return the base units of token worth total_cents at its USD peg, rounded up."""
    units = units_for_cents(total_cents, token.decimals, token.usd_peg)
    return Quote(chain_id, token.symbol, token.address, token.decimals, units, token.usd_peg)


def eth_quote(price: EthPrice, total_cents: int, chain_id: int = 0) -> Quote:
    """Return the wei worth total_cents at the feed price, rounded up to a multiple of 10^12 wei."""
    if price.answer <= 0:
        raise ValueError("feed answer must be positive")
    wei = ceil_div(total_cents * WEI_PER_ETH * 10**price.decimals, price.answer * 100)
    wei = ceil_div(wei, ETH_QUOTE_STEP) * ETH_QUOTE_STEP
    return Quote(chain_id, ETH, None, 18, wei, usd_rate(price))


def is_fresh(price: EthPrice, max_age_seconds: int, now: float | None = None) -> bool:
    """Return True if the feed was updated within max_age_seconds (and not in the future)."""
    age = int(now if now is not None else time.time()) - price.updated_at
    return price.answer > 0 and -60 <= age <= max_age_seconds


def quotes_for(chain: ChainSettings, accepted: list[str], total_cents: int, read_eth_price) -> list[Quote]:
    """Return a quote per accepted token on chain; ETH only when read_eth_price() gives a fresh price."""
    quotes = []
    for symbol in chain.offered(accepted):
        if symbol != ETH:
            quotes.append(stable_quote(chain.token(symbol), total_cents, chain.chain_id))
            continue
        price = read_eth_price()
        if price is not None and is_fresh(price, chain.price_max_age_seconds):
            quotes.append(eth_quote(price, total_cents, chain.chain_id))
        else:
            logger.warning("eth not offered: price unavailable or stale price=%s", price)
    return quotes
