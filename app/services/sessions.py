"""Sign-in: single-use login nonces and the live admin sessions in the database (shared by every worker), and
the roles of a wallet."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from app.config import Config
from app.domain import siwe
from app.errors import Forbidden, Unauthorized
from app.extensions import db
from app.models import AdminSession, LoginNonce, Merchant, utcnow
from app.services import shops

logger = logging.getLogger(__name__)

MERCHANT = "merchant"
PLATFORM_ADMIN = "platform_admin"


@dataclass(frozen=True)
class Identity:
    wallet: str
    roles: frozenset[str]
    merchant: Merchant | None


def issue_nonce(ttl: timedelta) -> tuple[str, datetime]:
    """Return a fresh nonce and when it lapses; expired nonces are purged on the way."""
    now = utcnow()
    nonce = secrets.token_hex(16)
    db.session.execute(delete(LoginNonce).where(LoginNonce.expires_at <= now))
    db.session.add(LoginNonce(nonce=nonce, expires_at=now + ttl))
    db.session.commit()
    return nonce, now + ttl


def consume_nonce(nonce: str) -> bool:
    """Return True if nonce was issued, unexpired and unused, and mark it used (one atomic DELETE)."""
    result = db.session.execute(delete(LoginNonce).where(LoginNonce.nonce == nonce,
                                                         LoginNonce.expires_at > utcnow()))
    db.session.commit()
    return result.rowcount == 1


def open_session(session_id: str, wallet: str, expires_at: datetime) -> None:
    """Record a new live session (its JWT id); expired sessions are purged on the way."""
    now = utcnow()
    db.session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
    db.session.add(AdminSession(id=session_id, wallet=wallet.lower(), created_at=now, expires_at=expires_at))
    db.session.commit()


def session_is_live(session_id: str) -> bool:
    """Return True while the session was opened here, not ended and not expired."""
    return db.session.scalar(select(AdminSession.id).where(AdminSession.id == session_id,
                                                           AdminSession.expires_at > utcnow())) is not None


def end_session(session_id: str) -> None:
    """Forget the session: every copy of its token is refused from now on (logout)."""
    db.session.execute(delete(AdminSession).where(AdminSession.id == session_id))
    db.session.commit()
    logger.info("signed out session=%s", session_id[:8])


def identity(wallet: str, config: Config) -> Identity:
    """Return who a wallet is here: its merchant (if any) and roles; raises Forbidden if it has none."""
    wallet = wallet.lower()
    merchant = shops.find_merchant(wallet)
    roles = {MERCHANT} if merchant is not None else set()
    if wallet in config.ADMIN_WALLETS:
        roles.add(PLATFORM_ADMIN)
    if not roles:
        raise Forbidden("This wallet is neither a merchant nor a platform admin here")
    return Identity(wallet, frozenset(roles), merchant)


def sign_in(message: str, signature: str, expected: siwe.Expected, config: Config) -> Identity:
    """Return the identity of a verified SIWE login, using up its nonce; raises Unauthorized or Forbidden."""
    try:
        parsed = siwe.verify(message, signature, expected, utcnow())
    except siwe.SiweError as exc:
        raise Unauthorized(f"Sign-in refused: {exc}") from exc
    if not consume_nonce(parsed.nonce):
        raise Unauthorized("Sign-in refused: the nonce is unknown, expired or already used")
    signed_in = identity(parsed.address, config)
    logger.info("signed in wallet=%s roles=%s", signed_in.wallet, sorted(signed_in.roles))
    return signed_in
