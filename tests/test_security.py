"""Security headers on every response, SECRET_KEY required outside dev/test, secrets kept out of logs."""
from __future__ import annotations

import logging

import pytest
from flask import Response

from app import create_app
from app.config import Config
from tests.helpers.wallet import Wallet


@pytest.mark.parametrize("method, path", [("get", "/api/receipts"), ("get", "/nowhere"), ("delete", "/api/orders"),
                                          ("get", "/healthz"), ("get", "/auth/nonce")],
                         ids=["api", "unknown-route", "wrong-method", "health", "auth"])
def test_every_response_carries_the_security_headers(client, method, path):
    response = getattr(client, method)(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def test_api_and_auth_answers_are_not_cached(client):
    assert client.get("/api/receipts").headers["Cache-Control"] == "no-store"
    assert client.get("/auth/nonce").headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in client.get("/healthz").headers


def _app_with_pages(config: Config):
    """The app plus two page routes that set their own CSP, as the pay page does."""
    app = create_app(config)

    @app.get("/pay/test-page")
    def _pay():
        return Response("<p>pay</p>", headers={"Content-Security-Policy": "default-src 'self'; img-src 'self' data:"})

    @app.get("/pay/test-own-frame-rule")
    def _pay_own_rule():
        return Response("<p>pay</p>", headers={"Content-Security-Policy": "default-src 'self'; frame-ancestors 'self'"})

    return app.test_client()


def test_a_page_keeps_its_own_csp_and_is_not_framable_by_default(app):
    response = _app_with_pages(app.config["TILLPOINT"]).get("/pay/test-page")
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pay_pages_may_be_framed_only_by_the_configured_origins(app):
    config = app.config["TILLPOINT"].with_overrides(PAY_FRAME_ANCESTORS=("https://shop.example", "https://pos.example"))
    client = _app_with_pages(config)
    page = client.get("/pay/test-page")
    assert page.headers["Content-Security-Policy"].endswith("frame-ancestors https://shop.example https://pos.example")
    assert "X-Frame-Options" not in page.headers
    assert client.get("/pay/test-own-frame-rule").headers["Content-Security-Policy"].endswith("frame-ancestors 'self'")
    api = client.get("/api/receipts")
    assert api.headers["X-Frame-Options"] == "DENY" and api.headers["Content-Security-Policy"].endswith("'none'")


@pytest.mark.parametrize("secret", ["", "short-secret"], ids=["missing", "too-short"])
def test_outside_dev_the_app_refuses_to_start_without_a_strong_secret_key(base_config, secret):
    with pytest.raises(ValueError, match="SECRET_KEY must be set"):
        create_app(base_config.with_overrides(ENV="production", SECRET_KEY=secret))


def test_in_dev_a_missing_secret_key_is_generated_for_the_process(base_config, in_app):
    app = create_app(base_config.with_overrides(ENV="dev", SECRET_KEY=""))
    assert len(app.config["TILLPOINT"].SECRET_KEY) >= 32


def test_config_repr_shows_no_secret():
    config = Config.from_env({"SECRET_KEY": "s3cr3t-key-value-" * 3, "EDGE_SECRET": "edge-value-123",
                              "OPERATOR_PRIVATE_KEY": "0x" + "5e" * 32})
    text = repr(config)
    assert "s3cr3t" not in text and "edge-value-123" not in text and "5e5e5e" not in text


def test_keys_sessions_and_edge_secrets_never_reach_the_logs(app, client, shop, in_app, caplog):
    from app.services import shops

    caplog.set_level(logging.DEBUG)
    edge = "edge-secret-value-" + "7" * 20
    gateway = create_app(app.config["TILLPOINT"].with_overrides(EDGE_SECRET=edge)).test_client()
    created = client.post("/api/keys", json={"scopes": ["receipts:read"], "label": "logged?"}, headers=shop.headers)
    secret = created.json["secret"]
    client.get("/api/receipts", headers={"x-api-key": secret})
    client.get("/api/receipts", headers={"x-api-key": secret + "x"})
    signer = Wallet(app.test_client())
    with in_app():
        shops.create_merchant(signer.address, "Logged Shop")
    signer.login()
    token = signer.client.get_cookie("cb_auth_token").value
    signer.client.set_cookie("cb_auth_token", token[:-2] + "xx")
    signer.client.get("/auth/me")
    gateway.get("/api/receipts", headers={"x-edge-secret": edge[:-1], "x-resolved-wallet": shop.merchant.wallet})
    gateway.get("/api/receipts", headers={"x-edge-secret": edge, "x-resolved-wallet": shop.merchant.wallet})
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert "key created" in logged and "signed in" in logged, "the flow above did log"
    for value in (secret, shop.key, token, token.split(".")[2], edge, app.config["TILLPOINT"].SECRET_KEY):
        assert value not in logged


@pytest.mark.parametrize("url", ["/api/inventory?q=a%00b", "/api/inventory/inv_%00", "/api/receipts/R-%00"],
                         ids=["query", "item-path", "receipt-path"])
def test_a_nul_in_the_url_is_400_not_500(client, shop, url):
    response = client.get(url, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
