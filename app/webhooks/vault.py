"""Endpoint secrets encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from
SECRET_KEY with HKDF, so a database dump alone reveals no secret. Rotating SECRET_KEY makes stored
secrets unreadable: rotate each endpoint's secret after it."""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"tillpoint webhook secrets v1"


class SecretUnreadable(Exception):
    """A stored secret does not decrypt under the current SECRET_KEY."""


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret_key: str, plaintext: str) -> str:
    """Return plaintext encrypted under a key derived from secret_key."""
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def unseal(secret_key: str, token: str) -> str:
    """Return the plaintext of token; raises SecretUnreadable if secret_key did not seal it."""
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("webhook secret does not decrypt under this SECRET_KEY") from None
