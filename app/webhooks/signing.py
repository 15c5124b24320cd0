"""Standard Webhooks signatures (v1: HMAC-SHA256 of "{id}.{timestamp}.{body}", base64) and secrets
(`whsec_` + base64 of random bytes). Receivers verify with any Standard Webhooks library."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec allows 24 to 64


def new_secret() -> str:
    """Return a new endpoint secret: whsec_ + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return "v1,<base64 HMAC-SHA256>" of exactly the bytes sent, for one secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secrets_in_use: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Return the Standard Webhooks headers of one attempt: one signature per secret in use (two during a
    rotation), space-separated. timestamp is the attempt's, in Unix seconds, so each retry is signed anew."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_in_use),
            "content-type": "application/json"}
