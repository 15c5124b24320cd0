"""Admin sessions: an HS256 JWT in the HttpOnly cookie cb_auth_token, plus a double-submit CSRF token."""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt
from flask import Response, request

from app.config import Config, current_config
from app.errors import CsrfFailed, Unauthorized

COOKIE = "cb_auth_token"
CSRF_COOKIE = "cb_csrf"
CSRF_HEADER = "X-CSRF-Token"
ALGORITHM = "HS256"  # the only one accepted: never "none", never one chosen by the token
ISSUER = "tillpoint"
AUDIENCE = "tillpoint-admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class SessionToken:
    wallet: str
    csrf: str
    expires_at: datetime


def issue(wallet: str, config: Config, now: datetime) -> tuple[str, SessionToken]:
    """Return a signed JWT for wallet and what it holds; the CSRF token is bound to it as a claim."""
    session = SessionToken(wallet.lower(), secrets.token_urlsafe(32), now + timedelta(seconds=config.SESSION_TTL_SECONDS))
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": session.wallet, "iat": now, "nbf": now,
              "exp": session.expires_at, "jti": secrets.token_urlsafe(16), "csrf": session.csrf}
    return jwt.encode(claims, config.SECRET_KEY, algorithm=ALGORITHM), session


def decode(token: str, config: Config) -> SessionToken:
    """Return the session a JWT holds; raises Unauthorized if it is tampered, expired or not ours."""
    try:
        claims = jwt.decode(token, config.SECRET_KEY, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "iss", "aud", "csrf"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized("The session is invalid or has expired; sign in again") from exc
    if not isinstance(claims["sub"], str) or not isinstance(claims["csrf"], str):
        raise Unauthorized("The session is invalid; sign in again")
    return SessionToken(claims["sub"], claims["csrf"], datetime.fromtimestamp(claims["exp"], timezone.utc))


def from_request() -> SessionToken | None:
    """Return the verified session of this request's cookie, None without one; raises Unauthorized."""
    token = request.cookies.get(COOKIE)
    return None if token is None else decode(token, current_config())


def subject_or_none() -> str | None:
    """Return the wallet of a valid session cookie, or None (for rate-limit bucketing; never raises)."""
    try:
        session = from_request()
    except Unauthorized:
        return None
    return session.wallet if session else None


def check_csrf(session: SessionToken) -> None:
    """Raise CsrfFailed on a state-changing request unless X-CSRF-Token equals the cb_csrf cookie and the session's token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not sent or not hmac.compare_digest(sent.encode(), cookie.encode()) or \
            not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfFailed()


def set_cookies(response: Response, token: str, session: SessionToken, config: Config) -> None:
    """Set the HttpOnly session cookie and the readable CSRF cookie, both expiring with the session."""
    common = {"expires": session.expires_at, "secure": not config.is_dev, "samesite": "Lax", "path": "/"}
    response.set_cookie(COOKIE, token, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, session.csrf, httponly=False, **common)


def clear_cookies(response: Response, config: Config) -> None:
    """Expire both session cookies in the browser."""
    for name in (COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=not config.is_dev, samesite="Lax",
                               httponly=name == COOKIE)
