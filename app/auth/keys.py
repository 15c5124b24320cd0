"""Who is calling: a subscription key with scopes, or (for public reads) an x-wallet header."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import g, request

from app.domain.ids import normalize_wallet
from app.errors import InsufficientScope, InvalidInput, NotFound, Unauthorized
from app.models import Merchant
from app.services import keys, shops

KEY_HEADERS = ("Ocp-Apim-Subscription-Key", "x-api-key")


@dataclass(frozen=True)
class Caller:
    merchant: Merchant
    key_id: str | None
    scopes: frozenset[str]


def requires(scope: str, public: bool = False):
    """Decorate a view so g.caller is set; 401 without a valid key, 403 without the scope.

    With public=True a request carrying no key may name the merchant with x-wallet instead.
    A key, when sent, always wins and x-wallet is then ignored.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.caller = authenticate(scope, public)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def authenticate(scope: str, public: bool) -> Caller:
    """Return the caller for this request; raises Unauthorized, InsufficientScope or NotFound."""
    secret = next((request.headers[h] for h in KEY_HEADERS if request.headers.get(h)), None)
    if secret is None and public:
        return Caller(public_merchant(request.headers.get("x-wallet")), None, frozenset({scope}))
    if secret is None:
        raise Unauthorized()
    key = keys.find_active_key(secret)
    if key is None:
        raise Unauthorized()
    if scope not in key.scopes:
        raise InsufficientScope(f"This route needs the scope {scope}")
    return Caller(key.merchant, key.id, frozenset(key.scopes))


def public_merchant(wallet: str | None) -> Merchant:
    """Return the merchant named by x-wallet; raises Unauthorized, InvalidInput or NotFound."""
    if not wallet:
        raise Unauthorized("Send a subscription key, or x-wallet for a public read")
    try:
        merchant = shops.find_merchant(normalize_wallet(wallet))
    except ValueError as exc:
        raise InvalidInput("x-wallet must be 0x followed by 40 hex characters") from exc
    if merchant is None:
        raise NotFound("No merchant with that wallet")
    return merchant


def current_merchant() -> Merchant:
    """Return the merchant of the authenticated caller."""
    return g.caller.merchant
