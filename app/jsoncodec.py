"""JSON with exact decimals: numbers parse to Decimal and Decimal dumps as a JSON number."""
from __future__ import annotations

import re
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


# Escapes that decode to text no database column can store: NUL (PostgreSQL) and unpaired surrogates.
UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
SURROGATES = re.compile("[\ud800-\udfff]")


def loads(s: str | bytes) -> Any:
    """Return the parsed JSON with every non-integer number as Decimal; raises ValueError on bad JSON,
    including a string holding NUL or an unpaired UTF-16 surrogate."""
    value = simplejson.loads(s, use_decimal=True, parse_constant=_reject_constant)
    if UNSTORABLE_ESCAPE.search(s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s):
        if any("\x00" in text or SURROGATES.search(text) for text in _strings(value)):
            raise ValueError("strings may not hold NUL or an unpaired UTF-16 surrogate")
    return value


def _strings(value: Any):
    """Yield every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def dumps(obj: Any) -> str:
    """Return obj as compact JSON text, decimals as exact numbers (what webhook bodies are)."""
    return simplejson.dumps(obj, use_decimal=True, separators=(",", ":"))


def canonical(obj: Any) -> str:
    """Return a stable text form of obj (sorted keys) for hashing request bodies."""
    return simplejson.dumps(obj, use_decimal=True, sort_keys=True, separators=(",", ":"))
