"""Subscription keys: created once, stored as SHA-256, scoped, revocable."""
from __future__ import annotations

import hashlib
import hmac
import logging

from sqlalchemy import select

from app.domain.ids import new_key_id, new_key_secret
from app.errors import InvalidInput, NotFound
from app.extensions import db
from app.models import ApiKey, Merchant, utcnow

logger = logging.getLogger(__name__)

SCOPES = (
    "orders:create", "orders:read", "receipts:read", "receipts:refund",
    "inventory:read", "inventory:write", "shop:read", "shop:write", "split:read", "split:write",
)


def hash_secret(secret: str) -> str:
    """Return the hex SHA-256 of a key secret, the only form stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(merchant: Merchant, scopes: list[str], label: str = "") -> tuple[ApiKey, str]:
    """Return the stored key and its secret (shown once); raises InvalidInput on an unknown scope."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInput(f"unknown or missing scopes: {unknown}; known: {list(SCOPES)}")
    secret = new_key_secret()
    key = ApiKey(id=new_key_id(), merchant_id=merchant.id, key_hash=hash_secret(secret),
                 scopes=sorted(set(scopes)), label=label)
    db.session.add(key)
    db.session.commit()
    logger.info("key created id=%s merchant=%s scopes=%s", key.id, merchant.id, key.scopes)
    return key, secret


def revoke_key(key_id: str) -> ApiKey:
    """Return the key after marking it revoked; raises NotFound."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()
    return key


def find_active_key(secret: str) -> ApiKey | None:
    """Return the unrevoked key whose hash matches secret, or None."""
    digest = hash_secret(secret)
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    # The lookup is by hash; the constant-time compare guards against a collation-insensitive index.
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
        return None
    return key
