"""Jinja filters of the shopper's pages: exact money and honest times."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask import Blueprint

from app.domain.money import cents_to_usd
from app.models import utcnow


def register(bp: Blueprint) -> None:
    """Make the filters available to every template."""
    for name, function in (("usd", usd), ("usd_value", usd_value), ("percent", percent), ("millis", millis),
                           ("time_left", time_left)):
        bp.add_app_template_filter(function, name)


def usd(cents: int) -> str:
    """Return integer cents as "$1,234.50"."""
    return usd_value(cents_to_usd(cents))


def usd_value(amount: Decimal) -> str:
    """Return a Decimal USD amount as "$1,234.50"."""
    return f"${amount:,.2f}"


def percent(rate: Decimal) -> str:
    """Return a rate as a percentage without trailing zeros: 0.095 → "9.5%"."""
    return f"{format((rate * 100).normalize(), 'f')}%"


def millis(moment: datetime) -> int:
    """Return a datetime as milliseconds since the epoch (what pay.js counts down to)."""
    return int(moment.timestamp() * 1000)


def time_left(moment: datetime) -> str:
    """Return "(14 min left)" until moment, or "(expired)"; pay.js keeps it current to the second."""
    seconds = int((moment - utcnow()).total_seconds())
    if seconds <= 0:
        return "(expired)"
    return f"({seconds // 60} min left)" if seconds >= 60 else f"({seconds} s left)"
