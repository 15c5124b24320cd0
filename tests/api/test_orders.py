"""POST /api/orders: exact pricing, bad input that writes nothing, idempotency, isolation."""
from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from app import create_app
from app.chain.deposits import deposit_address
from app.chain.eip681 import erc20_uri
from app.chain.settings import parse_tokens
from app.domain.pricing import parse_fee_tiers
from app.models import IdempotencyRecord, Order, OrderStatusChange, utcnow

CA_COFFEE = {"items": [{"sku": "COFFEE-001", "qty": 2}, {"sku": "PASTRY-001", "qty": 1}], "jurisdictionCode": "US-CA"}


def post_order(client, shop, body, **headers):
    return client.post("/api/orders", json=body, headers={**shop.headers, **headers})


def lines(receipt) -> dict:
    return {line["label"]: Decimal(str(line["priceUsd"])) for line in receipt["lineItems"]}


def test_reference_example_100_at_9_5_percent_with_half_percent_fee(client, shop):
    body = {"items": [{"sku": "BIG-100", "qty": 1}], "jurisdictionCode": "US-CA"}
    receipt = post_order(client, shop, body).json["receipt"]
    assert lines(receipt) == {"BIG-100": Decimal("100.00"), "Tax": Decimal("9.50"), "Processing Fee": Decimal("0.55")}
    assert Decimal(str(receipt["totalUsd"])) == Decimal("110.05")


def test_reference_example_with_merchant_add_on_of_1_5_percent(client, shop):
    client.put("/api/shop/config", json={"processingFeeAddOnBps": 150}, headers=shop.headers)
    body = {"items": [{"sku": "BIG-100", "qty": 1}], "jurisdictionCode": "US-CA"}
    receipt = post_order(client, shop, body).json["receipt"]
    assert lines(receipt)["Processing Fee"] == Decimal("2.19")
    assert Decimal(str(receipt["totalUsd"])) == Decimal("111.69")


def test_reference_example_tax_only_on_taxable_items(client, shop):
    body = {"items": [{"sku": "FOOD-001", "qty": 1}, {"sku": "MEDICINE-001", "qty": 1}], "jurisdictionCode": "US-CA"}
    receipt = post_order(client, shop, body).json["receipt"]
    assert lines(receipt)["Tax"] == Decimal("0.95")


def test_receipt_has_the_reference_shape_with_line_totals(client, shop):
    response = post_order(client, shop, CA_COFFEE)
    assert response.status_code == 200
    body = response.json
    assert body["ok"] is True
    receipt = body["receipt"]
    assert receipt["receiptId"].startswith("R-") and len(receipt["receiptId"]) == 14
    espresso = receipt["lineItems"][0]
    assert espresso == {"label": "COFFEE-001", "priceUsd": 7.0, "qty": 2, "itemId": shop.items["COFFEE-001"].id,
                        "sku": "COFFEE-001"}
    assert receipt["status"] == "generated" and receipt["currency"] == "USD"
    assert receipt["taxComponents"] == ["state", "county", "district"]
    assert receipt["paymentUrl"].endswith("/pay/" + receipt["receiptId"])
    assert receipt["expiresAt"] - receipt["createdAt"] == 15 * 60 * 1000
    assert [h["status"] for h in receipt["statusHistory"]] == ["generated"]


def test_money_is_written_as_json_numbers_with_exact_cents(client, shop):
    raw = post_order(client, shop, CA_COFFEE).get_data(as_text=True)
    assert '"totalUsd":12.65' in raw and '"priceUsd":1.09' in raw and '"taxRate":0.095' in raw


@pytest.mark.parametrize("extra, expected_tax, components", [
    ({"jurisdictionCode": "US-CA", "taxComponents": ["state", "county"]}, "0.83", ["state", "county"]),
    ({"jurisdictionCode": "us-ca", "taxComponents": ["STATE"]}, "0.73", ["state"]),
    ({"taxRate": "0.08"}, "0.80", []),
    ({"taxRate": 0, "jurisdictionCode": "US-CA"}, "0", []),
    ({}, "0", []),
], ids=["components", "case-insensitive", "override-string", "override-zero-wins", "no-jurisdiction"])
def test_tax_rate_resolution(client, shop, extra, expected_tax, components):
    receipt = post_order(client, shop, {"items": [{"sku": "FOOD-001", "qty": 1}], **extra}).json["receipt"]
    assert lines(receipt).get("Tax", Decimal(0)) == Decimal(expected_tax)
    assert receipt["taxComponents"] == components


def test_shop_default_jurisdiction_applies_when_none_given(client, shop):
    client.put("/api/shop/config", json={"defaultJurisdictionCode": "US-CA"}, headers=shop.headers)
    receipt = post_order(client, shop, {"items": [{"sku": "FOOD-001", "qty": 1}]}).json["receipt"]
    assert lines(receipt)["Tax"] == Decimal("0.95") and receipt["jurisdictionCode"] == "US-CA"


def test_order_by_item_id_and_zero_lines_omitted(client, shop):
    receipt = post_order(client, shop, {"items": [{"id": shop.items["MEDICINE-001"].id, "qty": 3}]}).json["receipt"]
    assert [line["label"] for line in receipt["lineItems"]] == ["MEDICINE-001", "Processing Fee"]
    assert Decimal(str(receipt["totalUsd"])) == Decimal("45.23")  # 45.00 + round_half_up(22.5 cents)


BAD_BODIES = [
    ({}, 400, "items_required"),
    ({"items": []}, 400, "items_required"),
    ({"items": None}, 400, "items_required"),
    ({"items": "COFFEE-001"}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 0}]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": -1}]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1.5}]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 2.0}]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": "2"}]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": True}]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 10_001}]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001"}]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "id": "inv_x", "qty": 1}]}, 400, "invalid_input"),
    ({"items": [{"qty": 1}]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}] * 101}, 400, "invalid_input"),
    ({"items": [{"sku": "NOPE-404", "qty": 1}]}, 400, "inventory_item_not_found"),
    ({"items": [{"id": "inv_unknown", "qty": 1}]}, 400, "inventory_item_not_found"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}], "taxRate": "1.01"}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}], "taxRate": -0.1}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}], "taxRate": "abc"}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}], "taxRate": "1e-999999999"}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}], "taxRate": "1e999999999"}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}], "jurisdictionCode": "XX-ZZ"}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}], "jurisdictionCode": "US-CA", "taxComponents": ["moon"]}, 400,
     "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}], "taxComponents": ["state"]}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}], "couponCode": "FREE"}, 400, "invalid_input"),
    ({"items": [{"sku": "COFFEE-001", "qty": 1}, {"sku": "NOPE-404", "qty": 1}]}, 400, "inventory_item_not_found"),
]


@pytest.mark.parametrize("body, status, code", BAD_BODIES, ids=[
    "missing-items", "empty-items", "null-items", "items-not-list", "qty-zero", "qty-negative", "qty-fraction",
    "qty-float-whole", "qty-string", "qty-bool", "qty-over-cap", "qty-missing", "both-id-and-sku",
    "neither-id-nor-sku", "over-100-lines", "unknown-sku", "unknown-id", "tax-rate-over-1", "tax-rate-negative",
    "tax-rate-text", "tax-rate-tiny-exponent", "tax-rate-huge-exponent", "unknown-jurisdiction", "unknown-component",
    "components-without-jurisdiction",
    "unknown-field", "second-line-unknown"])
def test_bad_order_input_is_rejected_and_writes_nothing(client, shop, count_rows, body, status, code):
    response = post_order(client, shop, body)
    assert (response.status_code, response.json["error"]) == (status, code)
    assert response.json["message"]
    assert count_rows(Order) == 0 and count_rows(OrderStatusChange) == 0 and count_rows(IdempotencyRecord) == 0


def test_unknown_item_error_names_it(client, shop):
    response = post_order(client, shop, {"items": [{"sku": "NOPE-404", "qty": 1}]})
    assert "NOPE-404" in response.json["message"] and response.json["item"] == {"sku": "NOPE-404"}


def test_invalid_fields_are_listed(client, shop):
    response = post_order(client, shop, {"items": [{"sku": "COFFEE-001", "qty": 0}], "taxRate": 2})
    assert set(response.json["fields"]) == {"items", "taxRate"}


@pytest.mark.parametrize("raw, content_type", [
    (b"{not json", "application/json"), (b"[1, 2]", "application/json"), (b'"items"', "application/json"),
    (b"", "application/json"), (b"\xff\xfe\x00", "application/json"), (b'{"items": NaN}', "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"), (b"items=1", "application/x-www-form-urlencoded"),
], ids=["broken", "array", "string", "empty", "binary", "nan", "deep-nesting", "form"])
def test_body_that_is_not_a_json_object_is_invalid_input(client, shop, count_rows, raw, content_type):
    response = client.post("/api/orders", data=raw, headers={**shop.headers, "Content-Type": content_type})
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert count_rows(Order) == 0


def test_body_over_64_kib_is_413(client, shop, count_rows):
    body = b'{"items": [], "pad": "' + b"x" * (64 * 1024) + b'"}'
    response = client.post("/api/orders", data=body, headers={**shop.headers, "Content-Type": "application/json"})
    assert (response.status_code, response.json["error"]) == (413, "payload_too_large")
    assert count_rows(Order) == 0


def test_quantity_beyond_stock_is_refused(client, shop, factory, count_rows):
    factory.item(shop.merchant, "LIMITED", "1.00", stock=2)
    response = post_order(client, shop, {"items": [{"sku": "LIMITED", "qty": 2}, {"sku": "LIMITED", "qty": 1}]})
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert "LIMITED" in response.json["message"] and count_rows(Order) == 0


def test_merchant_without_split_gets_split_required(client, factory, count_rows):
    merchant = factory.merchant(split=False)
    factory.item(merchant, "A-1", "1.00")
    response = client.post("/api/orders", json={"items": [{"sku": "A-1", "qty": 1}]},
                           headers={"x-api-key": factory.key(merchant)})
    assert (response.status_code, response.json["error"]) == (403, "split_required")
    assert count_rows(Order) == 0


def test_same_idempotency_key_and_body_returns_the_same_receipt(client, shop, count_rows):
    first = post_order(client, shop, CA_COFFEE, **{"Idempotency-Key": "cart-42"})
    second = post_order(client, shop, CA_COFFEE, **{"Idempotency-Key": "cart-42"})
    assert first.json["receipt"]["receiptId"] == second.json["receipt"]["receiptId"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count_rows(Order) == 1


def test_same_idempotency_key_with_another_body_is_a_conflict(client, shop, count_rows):
    post_order(client, shop, CA_COFFEE, **{"Idempotency-Key": "cart-42"})
    response = post_order(client, shop, {**CA_COFFEE, "jurisdictionCode": None}, **{"Idempotency-Key": "cart-42"})
    assert (response.status_code, response.json["error"]) == (409, "conflict")
    assert count_rows(Order) == 1


def test_idempotency_keys_are_per_merchant(client, shop, factory):
    other = factory.merchant()
    factory.item(other, "COFFEE-001", "3.50")
    a = post_order(client, shop, {"items": [{"sku": "COFFEE-001", "qty": 1}]}, **{"Idempotency-Key": "k"})
    b = client.post("/api/orders", json={"items": [{"sku": "COFFEE-001", "qty": 1}]},
                    headers={"x-api-key": factory.key(other), "Idempotency-Key": "k"})
    assert a.status_code == b.status_code == 200
    assert a.json["receipt"]["receiptId"] != b.json["receipt"]["receiptId"]


def test_concurrent_requests_with_one_idempotency_key_make_one_order(app, shop, count_rows):
    results, barrier = [], threading.Barrier(8)

    def send():
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/orders", json=CA_COFFEE, headers={**shop.headers, "Idempotency-Key": "race"})
        results.append((response.status_code, response.json["receipt"]["receiptId"]))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and {status for status, _ in results} == {200}
    assert len({receipt for _, receipt in results}) == 1
    assert count_rows(Order) == 1 and count_rows(IdempotencyRecord) == 1


def test_platform_fee_tier_follows_trailing_30_day_settled_volume(app, factory, in_app):
    tiered = create_app(app.config["TILLPOINT"].with_overrides(FEE_TIERS=parse_fee_tiers("0:50,1000:30")))
    merchant = factory.merchant()
    factory.item(merchant, "BIG-100", "100.00")
    key = factory.key(merchant)
    client = tiered.test_client()

    def fee_for_new_order() -> Decimal:
        receipt = client.post("/api/orders", json={"items": [{"sku": "BIG-100", "qty": 1}]},
                              headers={"x-api-key": key}).json["receipt"]
        return lines(receipt)["Processing Fee"]

    assert fee_for_new_order() == Decimal("0.50")
    with in_app() as session:
        old = session.query(Order).one()
        old.settled_at = utcnow() - timedelta(days=31)
        old.total_cents = 200_000
        session.commit()
    assert fee_for_new_order() == Decimal("0.50"), "volume settled 31 days ago does not count"
    with in_app() as session:
        recent = session.query(Order).order_by(Order.id.desc()).first()
        recent.settled_at = utcnow() - timedelta(days=1)
        recent.total_cents = 100_000
        session.commit()
    assert fee_for_new_order() == Decimal("0.30")


def test_order_gets_a_deposit_address_and_stable_quotes_while_the_rpc_is_down(app, shop):
    chain = app.config["TILLPOINT"].CHAIN.__class__(
        rpc_url="http://127.0.0.1:1", factory="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        eth_usd_feed="0x" + "55" * 20, tokens=parse_tokens(f"USDC:{'0x' + '11' * 20}:6,USDT:{'0x' + '22' * 20}:6"))
    client = create_app(app.config["TILLPOINT"].with_overrides(CHAIN=chain)).test_client()
    receipt = client.post("/api/orders", json=CA_COFFEE, headers=shop.headers).json["receipt"]
    assert [q["token"] for q in receipt["quotes"]] == ["USDC", "USDT"], "ETH is not offered without a price"
    usdc = receipt["quotes"][0]
    assert usdc["amount"] == "12650000" and usdc["amountDisplay"] == "12.65"
    expected = deposit_address(chain.factory, shop.merchant.split_address, receipt["receiptId"])
    assert receipt["depositAddress"] == expected
    assert usdc["uri"] == erc20_uri("0x" + "11" * 20, 31337, receipt["depositAddress"], 12650000)
    assert usdc["expiresAt"] == receipt["expiresAt"] and receipt["chainId"] == 31337


def test_unknown_item_error_names_every_unknown_line_in_fields(client, shop, count_rows):
    body = {"items": [{"sku": "NOPE-1", "qty": 1}, {"sku": "FOOD-001", "qty": 1}, {"id": "inv_missing", "qty": 2},
                      {"sku": "NOPE-3", "qty": 1}]}
    response = post_order(client, shop, body)
    assert (response.status_code, response.json["error"]) == (400, "inventory_item_not_found")
    assert response.json["fields"] == {"items": {"0": {"sku": ["No inventory item with this value."]},
                                                 "2": {"id": ["No inventory item with this value."]},
                                                 "3": {"sku": ["No inventory item with this value."]}}}
    assert all(name in response.json["message"] for name in ("NOPE-1", "inv_missing", "NOPE-3"))
    assert (response.json["item"], response.json["line"]) == ({"sku": "NOPE-1"}, 0)
    assert count_rows(Order) == 0


def test_a_merchant_cannot_hold_more_open_unpaid_orders_than_the_limit(app, shop, factory, in_app):
    client = create_app(app.config["TILLPOINT"].with_overrides(MAX_OPEN_ORDERS=2)).test_client()
    first, _ = (post_order(client, shop, CA_COFFEE).json["receipt"] for _ in range(2))
    other = factory.merchant("Other Shop")
    factory.item(other, "TEA", "1.00")
    other_key = {"x-api-key": factory.key(other)}

    refused = post_order(client, shop, CA_COFFEE)

    assert refused.status_code == 409 and refused.json["error"] == "conflict"
    assert "2 open unpaid orders" in refused.json["message"] and "MAX_OPEN_ORDERS" in refused.json["message"]
    assert client.post("/api/orders", json={"items": [{"sku": "TEA", "qty": 1}]}, headers=other_key).status_code == 200
    with in_app() as session:  # an order expired beyond the monitor window is no longer watched, nor counted
        order = session.query(Order).filter_by(receipt_id=first["receiptId"]).one()
        order.expires_at = utcnow() - timedelta(days=2)
        session.commit()
    assert post_order(client, shop, CA_COFFEE).status_code == 200
