"""Key lifecycle over the API: the secret once, label, scopes, created and last-used times, revocation."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app import create_app
from app.models import ApiKey, utcnow


def test_a_created_key_is_shown_once_then_listed_without_its_secret(client, shop):
    created = client.post("/api/keys", json={"scopes": ["orders:create"], "label": "till 1"}, headers=shop.headers)
    assert created.status_code == 201 and created.json["secret"].startswith("tp_live_")
    key = created.json["key"]
    assert key["label"] == "till 1" and key["scopes"] == ["orders:create"] and key["lastUsedAt"] is None
    listed = client.get("/api/keys", headers=shop.headers)
    assert key in listed.json["keys"] and created.json["secret"] not in listed.get_data(as_text=True)


def test_using_a_key_records_when_to_the_minute(client, shop, in_app):
    created = client.post("/api/keys", json={"scopes": ["receipts:read"]}, headers=shop.headers).json
    key_id, use = created["key"]["id"], {"x-api-key": created["secret"]}
    client.get("/api/receipts", headers=use)
    first = _last_used(client, shop, key_id)
    client.get("/api/receipts", headers=use)
    assert first and _last_used(client, shop, key_id) == first, "one write a minute, not one per request"
    with in_app() as session:
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow() - timedelta(minutes=2)))
        session.commit()
    client.get("/api/receipts", headers=use)
    assert _last_used(client, shop, key_id) >= first


def _last_used(client, shop, key_id) -> int | None:
    listed = client.get("/api/keys", headers=shop.headers).json["keys"]
    return next(k["lastUsedAt"] for k in listed if k["id"] == key_id)


def test_a_revoked_key_stops_working_at_once(client, shop):
    created = client.post("/api/keys", json={"scopes": ["receipts:read"]}, headers=shop.headers).json
    revoked = client.delete(f"/api/keys/{created['key']['id']}", headers=shop.headers)
    assert revoked.status_code == 200 and revoked.json["key"]["revokedAt"]
    assert client.get("/api/receipts", headers={"x-api-key": created["secret"]}).status_code == 401


def test_a_key_cannot_grant_scopes_it_does_not_hold(client, factory, shop):
    limited = factory.key(shop.merchant, ["keys:write", "receipts:read"])
    escalate = client.post("/api/keys", json={"scopes": ["orders:create"]}, headers={"x-api-key": limited})
    assert (escalate.status_code, escalate.json["error"]) == (403, "insufficient_scope")
    narrower = client.post("/api/keys", json={"scopes": ["receipts:read"]}, headers={"x-api-key": limited})
    assert narrower.status_code == 201


@pytest.mark.parametrize("body", [{"scopes": []}, {"scopes": ["root"]},
                                  {"scopes": ["orders:create"], "label": "x" * 201},
                                  {"label": "no scopes"}, {"scopes": ["orders:create"], "plan": "enterprise"}],
                         ids=["no-scopes", "unknown-scope", "long-label", "missing-scopes", "unknown-field"])
def test_bad_key_requests_are_400_and_create_nothing(client, shop, count_rows, body):
    response = client.post("/api/keys", json=body, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input") and count_rows(ApiKey) == 1


def test_a_signed_in_merchant_manages_its_keys_with_csrf(merchant_wallet):
    client = merchant_wallet.client
    assert client.post("/api/keys", json={"scopes": ["orders:create"]}).json["error"] == "csrf_failed"
    created = client.post("/api/keys", json={"scopes": ["orders:create"]}, headers=merchant_wallet.csrf())
    assert created.status_code == 201
    assert [k["id"] for k in client.get("/api/keys").json["keys"]] == [created.json["key"]["id"]]
    assert client.delete(f"/api/keys/{created.json['key']['id']}", headers=merchant_wallet.csrf()).status_code == 200


def test_orders_read_is_not_a_scope_receipts_read_reads_orders(client, shop, factory):
    response = client.post("/api/keys", json={"scopes": ["orders:read"]}, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert "scopes" in response.json["fields"]
    reader = {"x-api-key": factory.key(shop.merchant, ["receipts:read"])}
    assert client.get("/api/receipts", headers=reader).status_code == 200


def test_a_merchant_cannot_hold_more_active_keys_than_the_limit(app, shop):
    client = create_app(app.config["TILLPOINT"].with_overrides(MAX_ACTIVE_KEYS=3)).test_client()
    made = [client.post("/api/keys", json={"scopes": ["orders:create"]}, headers=shop.headers) for _ in range(2)]
    assert [r.status_code for r in made] == [201, 201], "the shop's own key is the first of three"

    refused = client.post("/api/keys", json={"scopes": ["orders:create"]}, headers=shop.headers)

    assert refused.status_code == 409 and refused.json["error"] == "conflict"
    assert "3 active keys" in refused.json["message"] and "MAX_ACTIVE_KEYS" in refused.json["message"]
    client.delete(f"/api/keys/{made[0].json['key']['id']}", headers=shop.headers)
    assert client.post("/api/keys", json={"scopes": ["orders:create"]}, headers=shop.headers).status_code == 201
