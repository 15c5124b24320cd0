"""Who is calling: a gateway stamp, a subscription key, an admin session, or (public reads) x-wallet.

Checked in that order; the first credential present decides and the others are ignored. Client-sent
identity headers (x-wallet, wallet, x-resolved-wallet, x-subscription-id) never choose the merchant
on an authenticated route.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import g, request

from app.auth import edge, sessions
from app.config import current_config
from app.domain.ids import normalize_wallet
from app.domain.scopes import SCOPES
from app.errors import Forbidden, InsufficientScope, InvalidInput, NotFound, Unauthorized
from app.models import Merchant
from app.services import keys, shops
from app.services import sessions as session_service

KEY_HEADERS = ("Ocp-Apim-Subscription-Key", "x-api-key")


@dataclass(frozen=True)
class Caller:
    merchant: Merchant
    key_id: str | None
    scopes: frozenset[str]
    via: str = "key"  # key | session | edge | public
    wallet: str | None = None  # the signed-in or stamped wallet (session, edge)
    roles: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """Return who acted, for status histories: the key id, or session:/edge: and the wallet."""
        return self.key_id or f"{self.via}:{self.wallet or self.merchant.wallet}"


def requires(scope: str, public: bool = False):
    """Decorate a view so g.caller is set; 401 without a credential, 403 without the scope.

    A session acts for its own merchant with every scope (state-changing requests need the CSRF
    token). With public=True a request carrying no credential may name the merchant with x-wallet.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.caller = authenticate(scope, public)
            return view(*args, **kwargs)

        # Read by the OpenAPI document (app/openapi.py): the route is the one place its scope is written.
        wrapper.required_scope, wrapper.public = scope, public
        return wrapper

    return decorator


def authenticate(scope: str, public: bool) -> Caller:
    """Return the caller for this request; raises Unauthorized, Forbidden, CsrfFailed, InsufficientScope or NotFound."""
    if (stamped := edge.stamped_wallet()) is not None:
        return with_scope(stamped_caller(stamped), scope)
    secret = next((request.headers[h] for h in KEY_HEADERS if request.headers.get(h)), None)
    if secret is not None:
        return with_scope(key_caller(secret), scope)
    if (session := sessions.from_request()) is not None:
        return session_caller(session)
    if public:
        return Caller(public_merchant(request.headers.get("x-wallet")), None, frozenset({scope}), via="public")
    raise Unauthorized("Send a subscription key or sign in")


def with_scope(caller: Caller, scope: str) -> Caller:
    """Return caller if it holds scope; raises InsufficientScope."""
    if scope not in caller.scopes:
        raise InsufficientScope(f"This route needs the scope {scope}")
    return caller


def active_key(secret: str):
    """Return the unrevoked key of secret, or None; looked up once per request (the rate limiter asks first)."""
    seen = g.setdefault("keys_seen", {})
    if secret not in seen:
        seen[secret] = keys.find_active_key(secret)
    return seen[secret]


def key_caller(secret: str) -> Caller:
    """Return the caller a subscription key names; raises Unauthorized for an unknown or revoked key."""
    key = active_key(secret)
    if key is None:
        raise Unauthorized()
    keys.commit_use(key)
    return Caller(key.merchant, key.id, frozenset(key.scopes))


def session_caller(session: sessions.SessionToken) -> Caller:
    """Return the merchant a signed-in wallet owns, with every scope; raises CsrfFailed or Forbidden."""
    sessions.check_csrf(session)
    who = session_service.identity(session.wallet, current_config())
    if who.merchant is None:
        raise Forbidden("This session has no merchant to act for")
    return Caller(who.merchant, None, frozenset(SCOPES), via="session", wallet=who.wallet, roles=who.roles)


def stamped_caller(wallet: str) -> Caller:
    """Return the merchant the gateway stamped, with the stamped scopes (all when none are stamped)."""
    try:
        merchant = shops.find_merchant(normalize_wallet(wallet))
    except ValueError as exc:
        raise InvalidInput(f"{edge.STAMP_HEADER} must be 0x followed by 40 hex characters") from exc
    if merchant is None:
        raise Unauthorized(f"No merchant has the wallet in {edge.STAMP_HEADER}")
    scopes = edge.stamped_scopes()
    return Caller(merchant, None, frozenset(SCOPES) if scopes is None else scopes, via="edge",
                  wallet=merchant.wallet)


def public_merchant(wallet: str | None) -> Merchant:
    """Return the merchant named by x-wallet; raises Unauthorized (missing or malformed, like any credential) or NotFound."""
    if not wallet:
        raise Unauthorized("Send a subscription key, or x-wallet for a public read")
    try:
        merchant = shops.find_merchant(normalize_wallet(wallet))
    except ValueError as exc:
        raise Unauthorized("x-wallet must be 0x followed by 40 hex characters") from exc
    if merchant is None:
        raise NotFound("No merchant with that wallet")
    return merchant


def current_merchant() -> Merchant:
    """Return the merchant of the authenticated caller."""
    return g.caller.merchant
