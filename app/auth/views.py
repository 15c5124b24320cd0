"""Admin sign-in with Ethereum (EIP-4361): /auth/nonce, /auth/login, /auth/logout, /auth/me."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request

from app.auth import sessions
from app.auth.schemas import LoginSchema, NonceSchema, SessionSchema
from app.config import current_config
from app.domain import siwe
from app.errors import Forbidden, InvalidInput, Unauthorized
from app.fields import OkSchema, json_object, load
from app.models import utcnow
from app.openapi import doc
from app.services import sessions as session_service

bp = Blueprint("auth", __name__, url_prefix="/auth")


def expected_login() -> siwe.Expected:
    """Return the domain, scheme and chain a login must name; raises Forbidden when they are not configured.

    The domain comes from PUBLIC_URL, never from the Host header outside dev/test: a phishing site
    could otherwise relay a message signed for itself with its own Host header.
    """
    config = current_config()
    if config.PUBLIC_URL:
        public = urlsplit(config.PUBLIC_URL)
        return siwe.Expected(public.netloc, public.scheme, config.CHAIN.chain_id)
    if config.is_dev:
        return siwe.Expected(request.host, request.scheme, config.CHAIN.chain_id)
    raise Forbidden("Sign-in needs PUBLIC_URL configured (the domain wallets sign for)")


@bp.get("/nonce")
@doc("A single-use nonce for a Sign-In with Ethereum message, and what the message must name", NonceSchema,
     errors=(403,))
def nonce():
    config = current_config()
    expected = expected_login()
    value, expires_at = session_service.issue_nonce(timedelta(seconds=config.NONCE_TTL_SECONDS))
    return jsonify(NonceSchema().dump({"nonce": value, "expires_at": expires_at, "domain": expected.domain,
                                       "uri": f"{expected.scheme}://{expected.domain}",
                                       "chain_id": expected.chain_id, "version": "1"}))


@bp.post("/login")
@doc("Sign in with a signed EIP-4361 message; sets the cb_auth_token session and cb_csrf cookies", SessionSchema,
     request=LoginSchema, errors=(401, 403, 413))
def login():
    if not request.is_json:  # a cross-site form cannot send JSON without a CORS preflight (login CSRF)
        raise InvalidInput("Send the login as application/json")
    data = load(LoginSchema(), json_object())
    config = current_config()
    who = session_service.sign_in(data["message"], data["signature"], expected_login(), config)
    token, session = sessions.issue(who.wallet, config, utcnow())
    response = jsonify(SessionSchema().dump(session_body(who, session)))
    sessions.set_cookies(response, token, session, config)
    return response


@bp.post("/logout")
@doc("Sign out: end the session on the server and expire its cookies, signed in or not (a valid session "
     "needs its CSRF token)", OkSchema,
     errors=(403,))
def logout():
    try:
        session = sessions.from_request()
    except Unauthorized:
        session = None  # an expired or broken cookie is simply cleared
    if session is not None:
        sessions.check_csrf(session)
        sessions.end(session)
    response = jsonify(OkSchema().dump({"ok": True}))
    sessions.clear_cookies(response, current_config())
    return response


@bp.get("/me")
@doc("The signed-in wallet, its roles and merchant, and the CSRF token", SessionSchema, session=True,
     errors=(401, 403))
def me():
    session = sessions.from_request()
    if session is None:
        raise Unauthorized("Not signed in")
    who = session_service.identity(session.wallet, current_config())
    return jsonify(SessionSchema().dump(session_body(who, session)))


def session_body(who: session_service.Identity, session: sessions.SessionToken) -> dict:
    return {"ok": True, "wallet": who.wallet, "roles": sorted(who.roles),
            "merchant_id": who.merchant.id if who.merchant else None, "csrf_token": session.csrf,
            "expires_at": session.expires_at}
