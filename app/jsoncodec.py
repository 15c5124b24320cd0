"""JSON with exact decimals: numbers parse to Decimal and Decimal dumps as a JSON number."""
from __future__ import annotations

from typing import Any

import simplejson
from flask.json.provider import JSONProvider


class DecimalJSONProvider(JSONProvider):
    """Flask JSON provider that never turns money into a float."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("separators", (",", ":"))
        return simplejson.dumps(obj, use_decimal=True, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


def loads(s: str | bytes) -> Any:
    """Return the parsed JSON with every non-integer number as Decimal; raises ValueError on bad JSON."""
    return simplejson.loads(s, use_decimal=True, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def canonical(obj: Any) -> str:
    """Return a stable text form of obj (sorted keys) for hashing request bodies."""
    return simplejson.dumps(obj, use_decimal=True, sort_keys=True, separators=(",", ":"))
