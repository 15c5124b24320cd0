"""The pay tests' offline chain: token addresses, a fixed ETH price, and amounts in USDC base units."""
from __future__ import annotations

from decimal import Decimal

from app.chain.quotes import EthPrice
from app.models import utcnow

USDC = "0x" + "11" * 20
USDT = "0x" + "22" * 20
FACTORY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ETH_PRICE = EthPrice(answer=3000_00000000, decimals=8, updated_at=0)  # $3,000.00


def fixed_eth_price() -> EthPrice:
    """Return ETH_PRICE read now (never stale); tests change ETH_PRICE to move the market."""
    return EthPrice(ETH_PRICE.answer, ETH_PRICE.decimals, int(utcnow().timestamp()))


def usdc_units(usd: str) -> int:
    return int(Decimal(usd) * 10**6)
