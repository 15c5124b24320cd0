"""Shop configuration: public read, validated writes with shop:write."""
from __future__ import annotations

from decimal import Decimal

import pytest

NY = {"code": "US-NY", "name": "New York", "rate": "0.08875",
      "components": [{"code": "state", "name": "State", "rate": 0.04},
                     {"code": "city", "name": "City", "rate": "0.04875"}]}


def test_config_round_trip_keeps_exact_rates(client, shop):
    body = {"brandName": "Corner Cafe", "jurisdictions": [NY], "defaultJurisdictionCode": "US-NY",
            "processingFeeAddOnBps": 25, "acceptedTokens": ["USDC", "ETH"]}
    response = client.put("/api/shop/config", json=body, headers=shop.headers)
    assert response.status_code == 200
    config = client.get("/api/shop/config", headers={"x-wallet": shop.merchant.wallet}).json["config"]
    assert config["brandName"] == "Corner Cafe" and config["processingFeeAddOnBps"] == 25
    assert config["jurisdictions"][0]["rate"] == Decimal("0.08875")
    assert client.get("/api/shop/config", headers={"x-wallet": shop.merchant.wallet}).get_data(as_text=True).count(
        "0.04875") == 1
    assert config["acceptedTokens"] == ["USDC", "ETH"] and config["defaultJurisdictionCode"] == "US-NY"


def test_a_shop_may_narrow_the_chains_it_is_quoted_on(client, shop):
    assert client.get("/api/shop/config", headers=shop.headers).json["config"]["acceptedChains"] is None
    response = client.put("/api/shop/config", json={"acceptedChains": [31337]}, headers=shop.headers)
    assert response.status_code == 200 and response.json["config"]["acceptedChains"] == [31337]
    assert client.put("/api/shop/config", json={"acceptedChains": None},
                      headers=shop.headers).json["config"]["acceptedChains"] is None


@pytest.mark.parametrize("body", [
    {"processingFeeAddOnBps": 1001}, {"processingFeeAddOnBps": -1}, {"processingFeeAddOnBps": 1.5},
    {"jurisdictions": [{**NY, "rate": 1.5}]}, {"jurisdictions": [NY, NY]},
    {"jurisdictions": [{**NY, "components": [{"code": "a", "name": "A", "rate": 0.6},
                                             {"code": "b", "name": "B", "rate": 0.6}]}]},
    {"defaultJurisdictionCode": "XX-00"}, {"acceptedTokens": ["DOGE"]}, {"acceptedTokens": []},
    {"brandName": "x" * 201}, {"acceptedChains": [1]}, {"acceptedChains": [31337, 31337]},
    {"acceptedChains": ["31337"]},
], ids=["add-on-over", "add-on-negative", "add-on-fraction", "rate-over-1", "duplicate-codes",
        "components-over-1", "dangling-default", "unknown-token", "no-tokens", "long-brand", "chain-not-served",
        "chain-repeated", "chain-as-text"])
def test_bad_config_is_rejected_and_changes_nothing(client, shop, body):
    before = client.get("/api/shop/config", headers=shop.headers).json
    response = client.put("/api/shop/config", json=body, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert client.get("/api/shop/config", headers=shop.headers).json == before


def test_config_writes_need_shop_write(client, shop, factory):
    reader = factory.key(shop.merchant, ["shop:read"])
    response = client.put("/api/shop/config", json={"brandName": "x"}, headers={"x-api-key": reader})
    assert (response.status_code, response.json["error"]) == (403, "insufficient_scope")
    assert client.get("/api/shop/config", headers={"x-api-key": reader}).status_code == 200


@pytest.mark.parametrize("method, path, body", [
    ("put", "/api/shop/config", '{"brandName": "caf\\ud800"}'),
    ("post", "/api/inventory", '{"sku": "S-1", "name": "caf\\udfff", "priceUsd": "1.00"}'),
    ("post", "/api/keys", '{"scopes": ["orders:create"], "label": "nul\\u0000"}')],
    ids=["surrogate-in-config", "surrogate-in-item", "nul-in-key-label"])
def test_unstorable_text_is_400_not_500(client, shop, count_rows, method, path, body):
    response = getattr(client, method)(path, data=body, content_type="application/json", headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert response.json["message"] == "The request body is not valid JSON"
    assert client.get("/api/shop/config", headers=shop.headers).json["config"]["brandName"] == "My Coffee Shop"


@pytest.mark.parametrize("jurisdiction", [{}, {"code": "X", "name": "X"},
                                         {"code": "X", "name": "X", "rate": "0.1",
                                          "components": [{"code": "c", "name": "c"}]}],
                         ids=["empty", "no-rate", "component-without-rate"])
def test_a_partial_update_still_needs_whole_jurisdictions(client, shop, jurisdiction):
    response = client.put("/api/shop/config", json={"jurisdictions": [jurisdiction]}, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert client.get("/api/shop/config", headers=shop.headers).json["config"]["jurisdictions"][0]["code"] == "US-CA"
