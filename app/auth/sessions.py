"""Admin sessions: an HS256 JWT in the HttpOnly cookie cb_auth_token, plus a double-submit CSRF token.

A valid signature is not enough: the token's id (jti) must name a live session row (app/services/sessions.py),
so logout revokes every copy of the cookie on the server."""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt
from flask import Response, g, request

from app.config import Config, current_config
from app.errors import CsrfFailed, Unauthorized
from app.services import sessions as session_store

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
    session_id: str


def issue(wallet: str, config: Config, now: datetime) -> tuple[str, SessionToken]:
    """Return a signed JWT for wallet and what it holds, and record it as a live session; the CSRF token is
    bound to it as a claim."""
    session = SessionToken(wallet.lower(), secrets.token_urlsafe(32), now + timedelta(seconds=config.SESSION_TTL_SECONDS),
                           secrets.token_urlsafe(24))
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": session.wallet, "iat": now, "nbf": now,
              "exp": session.expires_at, "jti": session.session_id, "csrf": session.csrf}
    session_store.open_session(session.session_id, session.wallet, session.expires_at)
    return jwt.encode(claims, config.SECRET_KEY, algorithm=ALGORITHM), session


def decode(token: str, config: Config) -> SessionToken:
    """Return the session a JWT holds; raises Unauthorized if it is tampered, expired or not ours."""
    try:
        claims = jwt.decode(token, config.SECRET_KEY, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "iss", "aud", "csrf", "jti"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized("The session is invalid or has expired; sign in again") from exc
    if not all(isinstance(claims[name], str) for name in ("sub", "csrf", "jti")):
        raise Unauthorized("The session is invalid; sign in again")
    return SessionToken(claims["sub"], claims["csrf"], datetime.fromtimestamp(claims["exp"], timezone.utc),
                        claims["jti"])


def from_request() -> SessionToken | None:
    """Return the live session of this request's cookie, None without one; raises Unauthorized for a token that
    is invalid, expired or signed out. Checked once per request (the rate limiter asks first)."""
    token = request.cookies.get(COOKIE)
    if token is None:
        return None
    if "session_checked" not in g:
        g.session_checked = _live(token)
    if isinstance(g.session_checked, Unauthorized):
        raise g.session_checked
    return g.session_checked


def _live(token: str) -> SessionToken | Unauthorized:
    """Return the session token names if it is still live here, else the Unauthorized to raise."""
    try:
        session = decode(token, current_config())
    except Unauthorized as exc:
        return exc
    if not session_store.session_is_live(session.session_id):
        return Unauthorized("This session has ended (signed out or expired); sign in again")
    return session


def end(session: SessionToken) -> None:
    """Revoke session on the server (logout)."""
    session_store.end_session(session.session_id)
    g.pop("session_checked", None)


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
