"""Subscription keys: either header, scopes enforced, revoked keys refused, identity headers ignored."""
from __future__ import annotations

import pytest

from app.models import ApiKey, Order
from app.services import keys

BODY = {"items": [{"sku": "FOOD-001", "qty": 1}]}


@pytest.mark.parametrize("header", ["Ocp-Apim-Subscription-Key", "x-api-key"])
def test_key_is_accepted_in_either_header(client, shop, header):
    assert client.post("/api/orders", json=BODY, headers={header: shop.key}).status_code == 200


def test_keys_are_stored_only_as_sha256(shop, in_app):
    with in_app() as session:
        stored = session.query(ApiKey).one()
    assert stored.key_hash == keys.hash_secret(shop.key) and shop.key not in str(vars(stored))


def test_revoked_key_is_unauthorized(client, shop, in_app):
    with in_app() as session:
        key_id = session.query(ApiKey).one().id
        keys.revoke_key(key_id)
    response = client.post("/api/orders", json=BODY, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (401, "unauthorized")


def test_key_without_scope_is_forbidden(client, shop, factory, count_rows):
    key = factory.key(shop.merchant, ["receipts:read"])
    response = client.post("/api/orders", json=BODY, headers={"x-api-key": key})
    assert (response.status_code, response.json["error"]) == (403, "insufficient_scope")
    assert count_rows(Order) == 0


def test_client_sent_wallet_header_does_not_change_whose_order_it_is(client, shop, factory):
    victim = factory.merchant()
    receipt = client.post("/api/orders", json=BODY, headers={**shop.headers, "x-wallet": victim.wallet}).json["receipt"]
    assert client.get(f"/api/receipts/{receipt['receiptId']}", headers=shop.headers).status_code == 200
    victim_key = factory.key(victim)
    assert client.get(f"/api/receipts/{receipt['receiptId']}", headers={"x-api-key": victim_key}).status_code == 404


def test_wallet_alone_cannot_create_orders(client, shop, count_rows):
    response = client.post("/api/orders", json=BODY, headers={"x-wallet": shop.merchant.wallet})
    assert (response.status_code, response.json["error"]) == (401, "unauthorized")
    assert count_rows(Order) == 0
