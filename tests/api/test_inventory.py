"""Inventory API: CRUD with inventory:write, public reads by x-wallet, filters, isolation."""
from __future__ import annotations

import pytest

from app.models import InventoryItem

ESPRESSO = {"sku": "COFFEE-001", "name": "Espresso", "priceUsd": 3.5, "taxable": True}


def test_create_read_update_delete_item(client, shop):
    created = client.post("/api/inventory", json={**ESPRESSO, "sku": "NEW-1", "priceUsd": "3.50"}, headers=shop.headers)
    assert created.status_code == 201
    item = created.json["item"]
    assert item["id"].startswith("inv_") and item["priceUsd"] == 3.5 and item["stockQty"] == -1
    updated = client.put(f"/api/inventory/{item['id']}", json={"priceUsd": 4, "stockQty": 12}, headers=shop.headers)
    assert updated.json["item"]["priceUsd"] == 4 and updated.json["item"]["name"] == "Espresso"
    assert client.delete(f"/api/inventory/{item['id']}", headers=shop.headers).json == {"ok": True}
    assert client.put(f"/api/inventory/{item['id']}", json={"priceUsd": 1}, headers=shop.headers).status_code == 404


def test_public_read_by_wallet_and_filters(client, shop):
    wallet = {"x-wallet": shop.merchant.wallet.upper().replace("0X", "0x")}
    everything = client.get("/api/inventory", headers=wallet).json
    assert everything["total"] == 5 and everything["pageSize"] == 100
    untaxed = client.get("/api/inventory?taxable=false", headers=wallet).json["items"]
    assert [i["sku"] for i in untaxed] == ["MEDICINE-001"]
    assert [i["sku"] for i in client.get("/api/inventory?q=past", headers=wallet).json["items"]] == ["PASTRY-001"]
    page = client.get("/api/inventory?limit=2&page=1", headers=wallet).json
    assert [i["sku"] for i in page["items"]] == ["FOOD-001", "MEDICINE-001"] and page["total"] == 5


def test_search_treats_like_wildcards_literally(client, shop, factory):
    factory.item(shop.merchant, "PCT-50", "1.00", name="50% off")
    skus = [i["sku"] for i in client.get("/api/inventory?q=50%25", headers=shop.headers).json["items"]]
    assert skus == ["PCT-50"]
    assert client.get("/api/inventory?q=_", headers=shop.headers).json["total"] == 0


@pytest.mark.parametrize("headers, status, code", [
    ({}, 401, "unauthorized"),
    ({"x-wallet": "0x1234"}, 401, "unauthorized"),
    ({"x-wallet": "0x" + "ab" * 20}, 404, "not_found"),
    ({"x-api-key": "tp_live_wrong"}, 401, "unauthorized"),
], ids=["nothing", "malformed-wallet", "unknown-wallet", "bad-key-with-no-fallback"])
def test_public_read_needs_a_known_wallet_or_key(client, shop, headers, status, code):
    response = client.get("/api/inventory", headers=headers)
    assert (response.status_code, response.json["error"]) == (status, code)


def test_bad_key_is_refused_even_with_a_valid_wallet(client, shop):
    response = client.get("/api/inventory", headers={"x-api-key": "nope", "x-wallet": shop.merchant.wallet})
    assert response.status_code == 401


@pytest.mark.parametrize("query", ["limit=201", "limit=0", "page=-1", "taxable=maybe", "limit=x"],
                         ids=["limit-over", "limit-zero", "page-negative", "taxable-bad", "limit-text"])
def test_bad_inventory_query_is_invalid_input(client, shop, query):
    response = client.get(f"/api/inventory?{query}", headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")


@pytest.mark.parametrize("change", [
    {"priceUsd": "3.505"}, {"priceUsd": -1}, {"priceUsd": True}, {"priceUsd": "abc"}, {"priceUsd": "NaN"},
    {"priceUsd": "1e999999999"}, {"priceUsd": "1e-999999999"}, {"priceUsd": None}, {"taxable": "yes"},
    {"stockQty": -2}, {"stockQty": 1.5},
    {"sku": ""}, {"sku": "has space"}, {"name": ""}, {"extra": 1},
], ids=["three-decimals", "negative", "bool", "text", "nan", "huge-exponent", "tiny-exponent", "null", "taxable-text",
        "stock-below-minus-one", "stock-fraction", "empty-sku", "sku-space", "empty-name", "unknown-field"])
def test_bad_item_is_rejected_and_writes_nothing(client, shop, count_rows, change):
    response = client.post("/api/inventory", json={**ESPRESSO, "sku": "NEW-1", **change}, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert response.json["fields"]
    assert count_rows(InventoryItem) == 5


def test_duplicate_sku_is_a_conflict(client, shop, count_rows):
    response = client.post("/api/inventory", json=ESPRESSO, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (409, "conflict")
    other = shop.items["FOOD-001"].id
    response = client.put(f"/api/inventory/{other}", json={"sku": "COFFEE-001"}, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (409, "conflict")
    assert count_rows(InventoryItem) == 5


def test_another_merchants_item_is_not_found(client, shop, factory):
    other = factory.merchant()
    theirs = factory.item(other, "THEIRS", "1.00")
    for method in (client.put, client.delete):
        response = method(f"/api/inventory/{theirs.id}", json={"priceUsd": 0}, headers=shop.headers)
        assert (response.status_code, response.json["error"]) == (404, "not_found")
    assert "THEIRS" not in str(client.get("/api/inventory", headers=shop.headers).json)


def test_writes_need_the_inventory_write_scope(client, shop, factory):
    reader = factory.key(shop.merchant, ["inventory:read"])
    response = client.post("/api/inventory", json={**ESPRESSO, "sku": "X-1"}, headers={"x-api-key": reader})
    assert (response.status_code, response.json["error"]) == (403, "insufficient_scope")
    response = client.post("/api/inventory", json={**ESPRESSO, "sku": "X-1"},
                           headers={"x-wallet": shop.merchant.wallet})
    assert (response.status_code, response.json["error"]) == (401, "unauthorized")


def test_one_item_by_id_with_a_key_or_publicly_by_wallet(client, shop):
    item = shop.items["FOOD-001"]
    by_key = client.get(f"/api/inventory/{item.id}", headers=shop.headers)
    assert by_key.status_code == 200
    assert by_key.json["item"] | {"createdAt": 0, "updatedAt": 0} == {
        "id": item.id, "sku": "FOOD-001", "name": "FOOD-001", "priceUsd": 10.0, "taxable": True, "stockQty": -1,
        "description": None, "createdAt": 0, "updatedAt": 0}
    assert by_key.json["ok"] is True
    by_wallet = client.get(f"/api/inventory/{item.id}", headers={"x-wallet": shop.merchant.wallet})
    assert by_wallet.json == by_key.json


def test_one_item_of_another_merchant_or_unknown_is_404(client, shop, factory):
    other = factory.merchant("Other")
    theirs = factory.item(other, "THEIRS", "1.00")
    assert client.get(f"/api/inventory/{theirs.id}", headers=shop.headers).status_code == 404
    assert client.get("/api/inventory/inv_nope", headers={"x-wallet": shop.merchant.wallet}).status_code == 404
    mine = shop.items["FOOD-001"].id
    assert client.get(f"/api/inventory/{mine}", headers={"x-wallet": other.wallet}).status_code == 404


@pytest.mark.parametrize("scopes, status", [(["inventory:read"], 200), (["inventory:write"], 403)],
                         ids=["read-scope", "write-only"])
def test_one_item_by_key_needs_inventory_read(client, shop, factory, scopes, status):
    headers = {"x-api-key": factory.key(shop.merchant, scopes)}
    assert client.get(f"/api/inventory/{shop.items['FOOD-001'].id}", headers=headers).status_code == status
