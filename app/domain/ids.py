"""Unguessable public identifiers from secrets (never random or sequential)."""
from __future__ import annotations

import base64
import re
import secrets

RECEIPT_ID_PATTERN = re.compile(r"^R-[A-Z2-7]{12}$")
WALLET_PATTERN = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _base32(nbytes: int, length: int) -> str:
    return base64.b32encode(secrets.token_bytes(nbytes)).decode()[:length]


def new_receipt_id() -> str:
    """Return "R-" + 12 base32 characters (60 random bits)."""
    return "R-" + _base32(8, 12)


def new_item_id() -> str:
    """Return an inventory item id, "inv_" + 16 lowercase base32 characters."""
    return "inv_" + _base32(10, 16).lower()


def new_key_id() -> str:
    """Return a public key id, "key_" + 16 lowercase base32 characters."""
    return "key_" + _base32(10, 16).lower()


def new_key_secret() -> str:
    """Return a subscription key secret: "tp_live_" + 43 URL-safe characters (256 bits)."""
    return "tp_live_" + secrets.token_urlsafe(32)


def new_endpoint_id() -> str:
    """Return a webhook endpoint id, "we_" + 16 lowercase base32 characters."""
    return "we_" + _base32(10, 16).lower()


def normalize_wallet(wallet: str) -> str:
    """Return the wallet in lowercase; raises ValueError unless it is 0x + 40 hex."""
    if not isinstance(wallet, str) or not WALLET_PATTERN.match(wallet):
        raise ValueError("wallet must be 0x followed by 40 hex characters")
    return wallet.lower()
