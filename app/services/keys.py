"""Subscription keys: created once, stored as SHA-256, scoped, revocable."""
from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.domain.ids import new_key_id, new_key_secret
from app.domain.scopes import SCOPES
from app.config import current_config
from app.errors import Conflict, InsufficientScope, InvalidInput, NotFound
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
    can only make keys with scopes it holds itself), Conflict when the merchant holds MAX_ACTIVE_KEYS.
    """
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInput(f"unknown or missing scopes: {unknown}; known: {list(SCOPES)}",
                           fields={"scopes": [f"unknown or missing scopes: {unknown}"]})
    beyond = sorted(set(scopes) - grantable) if grantable is not None else []
    if beyond:
        raise InsufficientScope(f"A key can only grant scopes it holds itself; not {beyond}")
    _refuse_beyond_limit(merchant, current_config().MAX_ACTIVE_KEYS)
    secret = new_key_secret()
    key = ApiKey(id=new_key_id(), merchant_id=merchant.id, key_hash=hash_secret(secret),
                 scopes=sorted(set(scopes)), label=label)
    db.session.add(key)
    db.session.commit()
    logger.info("key created id=%s merchant=%s scopes=%s", key.id, merchant.id, key.scopes)
    return key, secret


def _refuse_beyond_limit(merchant: Merchant, limit: int) -> None:
    """Raise Conflict when the merchant already holds limit unrevoked keys (a soft limit: two concurrent
    creations may both pass; it bounds how many keys, and so per-key rate limits, one merchant multiplies)."""
    active = db.session.scalar(select(func.count()).select_from(ApiKey).where(
        ApiKey.merchant_id == merchant.id, ApiKey.revoked_at.is_(None)))
    if active >= limit:
        raise Conflict(f"This merchant already has {active} active keys, the most allowed (MAX_ACTIVE_KEYS); "
                       "revoke one it no longer uses first")



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


def commit_use(key: ApiKey) -> None:
    """Store and commit when the key was last used, to the minute: authentication is the request's first unit
    of work, so this ends the request's read-only transaction (db.end_reads raises if it held changes) and
    commits only the key's use, on the request's own connection (a second one per request could exhaust the
    pool under load)."""
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        db.end_reads()
        db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        db.session.commit()
        set_committed_value(key, "last_used_at", now)  # stored already: nothing for the session to flush


def find_active_key(secret: str) -> ApiKey | None:
    """Return the unrevoked key whose hash matches secret, or None."""
    digest = hash_secret(secret)
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    # The lookup is by hash; the constant-time compare guards against a collation-insensitive index.
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
        return None
    return key
