"""Which tax rate applies to an order (DESIGN.md §4.3)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.errors import InvalidInput
from app.models import ShopConfig


@dataclass(frozen=True)
class TaxChoice:
    rate: Decimal | None
    jurisdiction_code: str | None
    components: list[str] | None


@dataclass(frozen=True)
class ResolvedTax:
    rate: Decimal
    jurisdiction_code: str | None
    components: list[str]


def resolve_tax(config: ShopConfig, choice: TaxChoice) -> ResolvedTax:
    """Return the rate: body taxRate, else the named or default jurisdiction, else 0.

    Raises InvalidInput naming an unknown jurisdiction or component.
    """
    if choice.rate is not None:
        return ResolvedTax(choice.rate, choice.jurisdiction_code, [])
    code = choice.jurisdiction_code or config.default_jurisdiction_code
    if code is None:
        if choice.components:
            raise InvalidInput("taxComponents need a jurisdiction",
                               fields={"taxComponents": ["no jurisdictionCode and no shop default"]})
        return ResolvedTax(Decimal(0), None, [])
    jurisdiction = _find(config.jurisdictions, code)
    if jurisdiction is None:
        raise InvalidInput(f"Unknown jurisdiction {code}",
                           fields={"jurisdictionCode": [f"unknown jurisdiction {code}"]})
    components = jurisdiction.get("components", [])
    if not choice.components:
        return ResolvedTax(Decimal(jurisdiction["rate"]), jurisdiction["code"], [c["code"] for c in components])
    chosen = []
    for wanted in choice.components:
        component = _find(components, wanted)
        if component is None:
            raise InvalidInput(f"Unknown tax component {wanted} in {jurisdiction['code']}",
                               fields={"taxComponents": [f"unknown component {wanted}"]})
        if component not in chosen:
            chosen.append(component)
    rate = sum((Decimal(c["rate"]) for c in chosen), Decimal(0))
    return ResolvedTax(rate, jurisdiction["code"], [c["code"] for c in chosen])


def _find(entries: list[dict], code: str) -> dict | None:
    return next((e for e in entries if e["code"].upper() == code.upper()), None)
