"""Receipt pricing (DESIGN.md §4): pure functions over integer cents and Decimal rates."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.domain.money import round_half_up, usd_to_cents

BPS_DENOMINATOR = 10_000


@dataclass(frozen=True)
class FeeTier:
    """Platform fee in basis points for merchants whose trailing-30-day volume is at least min_volume_cents."""

    min_volume_cents: int
    bps: int


@dataclass(frozen=True)
class PricedLine:
    unit_cents: int
    qty: int
    taxable: bool

    @property
    def total_cents(self) -> int:
        return self.unit_cents * self.qty


@dataclass(frozen=True)
class Totals:
    subtotal_cents: int
    taxable_cents: int
    tax_cents: int
    fee_cents: int
    total_cents: int


def price(lines: list[PricedLine], tax_rate: Decimal, fee_bps: int) -> Totals:
    """Return the receipt totals: tax on taxable lines, fee on subtotal + tax, both rounded half up."""
    subtotal = sum(line.total_cents for line in lines)
    taxable = sum(line.total_cents for line in lines if line.taxable)
    tax = round_half_up(Decimal(taxable) * tax_rate)
    fee = round_half_up(Decimal(subtotal + tax) * fee_bps / BPS_DENOMINATOR)
    return Totals(subtotal, taxable, tax, fee, subtotal + tax + fee)


def platform_bps_for_volume(tiers: tuple[FeeTier, ...], volume_cents: int) -> int:
    """Return the bps of the highest tier whose threshold the volume reaches (the lowest tier otherwise)."""
    ordered = sorted(tiers, key=lambda tier: tier.min_volume_cents)
    chosen = ordered[0]
    for tier in ordered:
        if volume_cents >= tier.min_volume_cents:
            chosen = tier
    return chosen.bps


def parse_fee_tiers(text: str) -> tuple[FeeTier, ...]:
    """Return tiers from "minUsd:bps,..." (e.g. "0:50,10000:40"); raises ValueError on bad input."""
    tiers = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        volume, sep, bps = part.partition(":")
        if not sep:
            raise ValueError(f"fee tier {part!r} is not minUsd:bps")
        tier = FeeTier(usd_to_cents(volume.strip()), int(bps))
        if tier.min_volume_cents < 0 or not 0 <= tier.bps <= BPS_DENOMINATOR:
            raise ValueError(f"fee tier {part!r} out of range")
        tiers.append(tier)
    if not tiers:
        raise ValueError("at least one fee tier is required")
    return tuple(sorted(tiers, key=lambda tier: tier.min_volume_cents))
