"""Exact money: integer cents at rest, Decimal with ROUND_HALF_UP in arithmetic."""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, DecimalException

CENT = Decimal("0.01")
MAX_USD_DIGITS = 15  # bounds the int() below; real limits are checked by callers


def round_half_up(value: Decimal) -> int:
    """Return value rounded to a whole number, halves away from zero (never banker's rounding)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usd_to_cents(amount: Decimal | int | str) -> int:
    """Return the exact cents of a USD amount; raises ValueError if it has more than 2 decimals."""
    try:
        value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    except DecimalException as exc:
        raise ValueError(f"not a number: {amount!r}") from exc
    # adjusted() reads the exponent; arithmetic on 1e999999999 would overflow the Decimal context.
    if not value.is_finite() or value.adjusted() > MAX_USD_DIGITS:
        raise ValueError(f"not a finite number within range: {amount!r}")
    if value.as_tuple().exponent < -2 and value != value.quantize(CENT):
        raise ValueError(f"more than 2 decimal places: {amount!r}")
    return int(value * 100)


def cents_to_usd(cents: int) -> Decimal:
    """Return cents as a Decimal USD amount with exactly two places."""
    return (Decimal(cents) / 100).quantize(CENT)


def units_display(units: int, decimals: int) -> str:
    """Return base units as a plain decimal token amount: 12650000, 6 → "12.65"; 10000000, 6 → "10" (never 1E+1)."""
    return format(Decimal(units).scaleb(-decimals).normalize(), "f")


def units_for_cents(cents: int, decimals: int, usd_rate: Decimal, step: int = 1) -> int:
    """Return the base units worth at least cents at usd_rate, rounded up to a multiple of step."""
    units = (Decimal(cents) * Decimal(10) ** decimals / (100 * usd_rate)).to_integral_value(ROUND_CEILING)
    return -(-int(units) // step) * step


def cents_for_units(units: int, decimals: int, usd_rate: Decimal, rounding: str = ROUND_FLOOR) -> int:
    """Return what base units are worth in cents at usd_rate: rounded down (what a payment is credited),
    or with rounding=ROUND_CEILING up (what a refund takes out of what was received)."""
    return int((Decimal(units) * usd_rate * 100 / Decimal(10) ** decimals).to_integral_value(rounding))
