"""Opaque page cursors: a position in a listing, signed with SECRET_KEY so a client can hand it back but never
forge or edit it (a cursor that does not verify is a 400 naming `cursor`, never a 500)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from app.config import current_config
from app.errors import InvalidInput

SIGNATURE_BYTES = 16


def encode(purpose: str, position: list[int | str]) -> str:
    """Return the signed cursor of position in the listing named by purpose."""
    payload = _b64(json.dumps(position, separators=(",", ":")).encode())
    return f"{payload}.{_b64(_signature(purpose, payload))}"


def decode(purpose: str, cursor: str, shape: tuple[type, ...]) -> list:
    """Return the position a cursor of purpose holds, checked against shape (one type per item); raises
    InvalidInput when it is malformed, signed for another listing or key, or edited."""
    payload, _, signature = cursor.partition(".")
    try:
        valid = hmac.compare_digest(_unb64(signature), _signature(purpose, payload))
        position = json.loads(_unb64(payload)) if valid else None
    except (binascii.Error, ValueError):
        position = None
    if not (isinstance(position, list) and len(position) == len(shape)
            and all(type(value) is kind for value, kind in zip(position, shape))):
        raise InvalidInput("The cursor is not one this server gave out", fields={"cursor": ["Invalid cursor."]})
    return position


def _signature(purpose: str, payload: str) -> bytes:
    key = current_config().SECRET_KEY.encode()
    return hmac.new(key, f"cursor:{purpose}:{payload}".encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
