"""Subscription keys: created once, stored as SHA-256, scoped, revocable."""
from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.domain.ids import new_key_id, new_key_secret
from app.domain.scopes import SCOPES
from app.errors import InsufficientScope, InvalidInput, NotFound
from app.extensions import db
from app.models import ApiKey, Merchant, utcnow

logger = logging.getLogger(__name__)

LAST_USED_PRECISION = timedelta(minutes=1)  # at most one write per key per minute, not one per request


def hash_secret(secret: str) -> str:
    """Return the hex SHA-256 of a key secret, the only form stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(merchant: Merchant, scopes: list[str], label: str = "",
               grantable: frozenset[str] | None = None) -> tuple[ApiKey, str]:
    """Return the stored key and its secret (shown once).

    Raises InvalidInput on an unknown scope, InsufficientScope for a scope outside grantable (a key
    can only make keys with scopes it holds itself).
    """
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInput(f"unknown or missing scopes: {unknown}; known: {list(SCOPES)}",
                           fields={"scopes": [f"unknown or missing scopes: {unknown}"]})
    beyond = sorted(set(scopes) - grantable) if grantable is not None else []
    if beyond:
        raise InsufficientScope(f"A key can only grant scopes it holds itself; not {beyond}")
    secret = new_key_secret()
    key = ApiKey(id=new_key_id(), merchant_id=merchant.id, key_hash=hash_secret(secret),
                 scopes=sorted(set(scopes)), label=label)
    db.session.add(key)
    db.session.commit()
    logger.info("key created id=%s merchant=%s scopes=%s", key.id, merchant.id, key.scopes)
    return key, secret


def list_keys(merchant: Merchant, limit: int, page: int = 0) -> list[ApiKey]:
    """Return one page of the merchant's keys (limit per page), revoked ones included, newest first."""
    return list(db.session.scalars(select(ApiKey).where(ApiKey.merchant_id == merchant.id)
                                   .order_by(ApiKey.created_at.desc(), ApiKey.id).limit(limit).offset(limit * page)))


def revoke_key(key_id: str, merchant: Merchant | None = None) -> ApiKey:
    """Return the key after marking it revoked; raises NotFound (also for another merchant's key)."""
    key = db.session.get(ApiKey, key_id)
    if key is None or (merchant is not None and key.merchant_id != merchant.id):
        raise NotFound(f"no key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()
        logger.info("key revoked id=%s merchant=%s", key.id, key.merchant_id)
    return key


def record_use(key: ApiKey) -> None:
    """Store when the key was last used, to the minute, in a transaction of its own (on its own connection):
    authentication never commits, nor holds a write lock in, the request's transaction."""
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        with db.engine.begin() as connection:
            connection.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        set_committed_value(key, "last_used_at", now)  # stored already: nothing for the session to flush


def find_active_key(secret: str) -> ApiKey | None:
    """Return the unrevoked key whose hash matches secret, or None."""
    digest = hash_secret(secret)
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    # The lookup is by hash; the constant-time compare guards against a collation-insensitive index.
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
        return None
    return key
