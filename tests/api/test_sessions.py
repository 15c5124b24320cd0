"""Admin sessions: Sign-In with Ethereum, the cb_auth_token JWT, roles and double-submit CSRF."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jwt
import pytest
from sqlalchemy import update

from app import create_app
from app.auth import sessions
from app.models import LoginNonce, ShopConfig
from app.services import shops
from tests.helpers.config import TEST_SECRET_KEY
from tests.helpers.wallet import Wallet


def test_a_signed_message_signs_in_with_secure_cookie_flags_and_acts_for_its_merchant(merchant_wallet, app):
    client = merchant_wallet.client
    me = client.get("/auth/me").json
    assert me["wallet"] == merchant_wallet.address.lower() and me["roles"] == ["merchant"]
    assert me["merchantId"] == merchant_wallet.merchant.id and me["csrfToken"] == client.get_cookie("cb_csrf").value
    session = client.get_cookie("cb_auth_token")
    assert session.http_only and session.same_site == "Lax" and not client.get_cookie("cb_csrf").http_only
    ttl = session.expires - datetime.now(timezone.utc)
    assert timedelta(minutes=59) < ttl <= timedelta(hours=1)
    assert client.get("/api/receipts").status_code == 200


def test_replayed_login_is_refused(wallet, in_app):
    with in_app():
        shops.create_merchant(wallet.address, "Shop")
    text = wallet.message()
    assert wallet.login(text).status_code == 200
    replay = wallet.login(text)
    assert (replay.status_code, replay.json["error"]) == (401, "unauthorized") and "nonce" in replay.json["message"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.mark.parametrize("overrides, reason", [
    ({"domain": "evil.example"}, "evil.example"),
    ({"uri": "http://evil.example/login"}, "URI"),
    ({"chain_id": 1}, "chain 1"),
    ({"expiration_time": _now() - timedelta(seconds=1)}, "expired"),
    ({"issued_at": _now() + timedelta(hours=1)}, "future"),
    ({"not_before": _now() + timedelta(hours=1)}, "Not Before"),
    ({"nonce": "neverissued1"}, "nonce"),
], ids=["wrong-domain", "wrong-uri", "wrong-chain", "expired-message", "issued-in-future", "not-yet-valid",
        "unknown-nonce"])
def test_login_is_refused_for_another_site_chain_or_time(wallet, in_app, overrides, reason):
    with in_app():
        shops.create_merchant(wallet.address, "Shop")
    response = wallet.login(wallet.message(**overrides))
    assert (response.status_code, response.json["error"]) == (401, "unauthorized")
    assert reason in response.json["message"]
    assert wallet.client.get_cookie("cb_auth_token") is None


def test_tampered_signature_or_message_is_refused(wallet, in_app):
    with in_app():
        shops.create_merchant(wallet.address, "Shop")
    text = wallet.message()
    signature = wallet.sign(text)
    flipped = signature[:-4] + ("00" if signature[-4:-2] != "00" else "11") + signature[-2:]
    assert wallet.login(text, flipped).status_code == 401
    other = Wallet(wallet.client)
    assert wallet.login(text, other.sign(text)).status_code == 401, "signed by another key"
    assert wallet.login(text.replace("Sign in to Tillpoint", "Sign in to Tillpoinx"), signature).status_code == 401
    assert wallet.login(text, "0x1234").status_code == 401
    assert wallet.login(text).status_code == 200, "the refused attempts did not use up the nonce"


def test_an_expired_nonce_is_refused(wallet, in_app):
    with in_app() as session:
        shops.create_merchant(wallet.address, "Shop")
    text = wallet.message()
    with in_app() as session:
        session.execute(update(LoginNonce).values(expires_at=_now() - timedelta(seconds=1)))
        session.commit()
    assert wallet.login(text).status_code == 401


def test_a_wallet_that_is_neither_merchant_nor_admin_cannot_sign_in(wallet):
    response = wallet.login()
    assert (response.status_code, response.json["error"]) == (403, "forbidden")


def test_platform_admin_signs_in_from_config_and_needs_a_merchant_for_merchant_routes(app, wallet):
    config = app.config["TILLPOINT"].with_overrides(ADMIN_WALLETS=frozenset({wallet.address.lower()}))
    admin = Wallet(create_app(config).test_client(), wallet.account)
    assert admin.login().json["roles"] == ["platform_admin"]
    response = admin.client.get("/api/receipts")
    assert (response.status_code, response.json["error"]) == (403, "forbidden")


def _token(claims: dict, key: str = TEST_SECRET_KEY, algorithm: str = "HS256") -> str:
    now = datetime.now(timezone.utc)
    base = {"iss": "tillpoint", "aud": "tillpoint-admin", "iat": now, "exp": now + timedelta(minutes=5), "csrf": "x"}
    return jwt.encode({**base, **claims}, key, algorithm=algorithm)


@pytest.mark.parametrize("forge", [
    lambda wallet, token: token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
    lambda wallet, token: _token({"sub": wallet}, key="another-secret-key-of-at-least-32-chars"),
    lambda wallet, token: _token({"sub": wallet, "exp": datetime.now(timezone.utc) - timedelta(seconds=1)}),
    lambda wallet, token: _token({"sub": wallet}, key=None, algorithm="none"),
    lambda wallet, token: _token({"sub": wallet}, algorithm="HS512"),
    lambda wallet, token: _token({"sub": wallet, "aud": "someone-else"}),
    lambda wallet, token: _token({"sub": wallet, "iss": "someone-else"}),
    lambda wallet, token: _token({"sub": wallet, "csrf": None}),
    lambda wallet, token: _token({"sub": wallet}),
    lambda wallet, token: _token({"sub": wallet, "jti": "never-opened"}),
], ids=["tampered-signature", "other-key", "expired", "alg-none", "alg-hs512", "wrong-audience", "wrong-issuer",
        "no-csrf-claim", "no-session-id", "unknown-session-id"])
def test_forged_or_expired_session_tokens_are_refused(merchant_wallet, forge):
    client = merchant_wallet.client
    wallet = merchant_wallet.address.lower()
    assert _token({"sub": wallet}) and client.get("/auth/me").status_code == 200
    client.set_cookie("cb_auth_token", forge(wallet, client.get_cookie("cb_auth_token").value))
    for response in (client.get("/auth/me"), client.get("/api/receipts")):
        assert (response.status_code, response.json["error"]) == (401, "unauthorized")


def test_a_well_formed_token_signed_with_our_key_is_accepted(merchant_wallet):
    """The control for the forgeries above: the same construction with our key and HS256, naming the live
    session (jti), works."""
    client = merchant_wallet.client
    live = jwt.decode(client.get_cookie("cb_auth_token").value, options={"verify_signature": False})["jti"]
    client.set_cookie("cb_auth_token", _token({"sub": merchant_wallet.address.lower(), "csrf": "known", "jti": live}))
    assert client.get("/auth/me").json["csrfToken"] == "known"


@pytest.mark.parametrize("headers, cookie", [
    ({}, None), ({"X-CSRF-Token": "wrong"}, None), ({"X-CSRF-Token": "forged"}, "forged")],
    ids=["missing", "wrong", "cookie-and-header-agree-but-not-the-session"])
def test_cookie_authenticated_changes_need_the_csrf_token(merchant_wallet, in_app, headers, cookie):
    client = merchant_wallet.client
    if cookie:
        client.set_cookie("cb_csrf", cookie)
    response = client.put("/api/shop/config", json={"brandName": "Hijacked"}, headers=headers)
    assert (response.status_code, response.json["error"]) == (403, "csrf_failed")
    with in_app() as session:
        assert session.get(ShopConfig, merchant_wallet.merchant.id).brand_name == "Signed-in Shop"


def test_with_the_csrf_token_a_session_changes_its_own_shop(merchant_wallet, in_app):
    response = merchant_wallet.client.put("/api/shop/config", json={"brandName": "Renamed"},
                                          headers=merchant_wallet.csrf())
    assert response.status_code == 200 and response.json["config"]["brandName"] == "Renamed"


def test_logout_needs_csrf_then_clears_the_session(merchant_wallet):
    client = merchant_wallet.client
    assert client.post("/auth/logout").json["error"] == "csrf_failed"
    assert client.post("/auth/logout", headers=merchant_wallet.csrf()).status_code == 200
    assert client.get_cookie("cb_auth_token") is None and client.get("/auth/me").status_code == 401


def test_after_logout_the_old_cookie_and_csrf_token_are_refused(merchant_wallet):
    """Logout revokes the session on the server: a copy of the cookie kept by a thief is worth nothing."""
    client = merchant_wallet.client
    token, csrf = client.get_cookie("cb_auth_token").value, merchant_wallet.csrf()
    assert client.post("/auth/logout", headers=csrf).status_code == 200
    client.set_cookie("cb_auth_token", token)
    client.set_cookie("cb_csrf", csrf["X-CSRF-Token"])
    for response in (client.get("/auth/me"), client.get("/api/receipts"),
                     client.put("/api/shop/config", json={"brandName": "After logout"}, headers=csrf)):
        assert (response.status_code, response.json["error"]) == (401, "unauthorized")


def test_login_must_be_json(wallet):
    text = wallet.message()
    response = wallet.client.post("/auth/login", data={"message": text, "signature": wallet.sign(text)})
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")


def test_outside_dev_cookies_are_secure_and_the_domain_comes_from_public_url(app, wallet, in_app):
    with in_app():
        shops.create_merchant(wallet.address, "Shop")
    production = app.config["TILLPOINT"].with_overrides(ENV="production")
    refused = create_app(production).test_client().get("/auth/nonce")
    assert (refused.status_code, refused.json["error"]) == (403, "forbidden"), "no PUBLIC_URL: Host is not trusted"
    public = production.with_overrides(PUBLIC_URL="https://pay.example.com")
    client = create_app(public).test_client()
    signer = Wallet(client, wallet.account)
    assert client.get("/auth/nonce").json["domain"] == "pay.example.com"
    response = signer.login()
    cookies = response.headers.getlist("Set-Cookie")
    assert response.status_code == 200 and all("Secure" in c and "SameSite=Lax" in c for c in cookies)
    assert sum("HttpOnly" in c for c in cookies) == 1


def test_a_session_token_holds_no_secret_and_expires_with_the_configured_ttl(app):
    config = app.config["TILLPOINT"].with_overrides(SESSION_TTL_SECONDS=60)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    token, session = sessions.issue("0x" + "ab" * 20, config, now)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60 and jwt.get_unverified_header(token)["alg"] == "HS256"
    assert session.expires_at == now + timedelta(seconds=60)
