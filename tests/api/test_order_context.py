"""POST /api/orders with the integrator's context: metadata and redirectUrl, stored, returned, validated."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from app.models import IdempotencyRecord, Order, OrderStatusChange, WebhookEvent
from app.jsoncodec import loads

ONE_FOOD = [{"sku": "FOOD-001", "qty": 1}]


def post_order(client, shop, **extra):
    return client.post("/api/orders", json={"items": ONE_FOOD, **extra}, headers=shop.headers)


def test_metadata_and_redirect_url_are_stored_and_returned(client, shop):
    metadata = {"orderId": "123", "customer": "ada@example.com", "note": ""}
    created = post_order(client, shop, metadata=metadata, redirectUrl="https://shop.example/thanks?x=1").json
    receipt = created["receipt"]
    assert receipt["metadata"] == metadata and receipt["redirectUrl"] == "https://shop.example/thanks?x=1"
    read = client.get(f"/api/receipts/{receipt['receiptId']}", headers=shop.headers).json["receipt"]
    assert (read["metadata"], read["redirectUrl"]) == (metadata, "https://shop.example/thanks?x=1")


def test_without_them_the_receipt_has_empty_metadata_and_no_redirect(client, shop):
    receipt = post_order(client, shop).json["receipt"]
    assert (receipt["metadata"], receipt["redirectUrl"]) == ({}, None)


def test_the_order_created_event_carries_the_metadata(client, shop, in_app):
    receipt_id = post_order(client, shop, metadata={"orderId": "A-7"}).json["receipt"]["receiptId"]
    with in_app() as session:
        event = session.scalar(select(WebhookEvent).where(WebhookEvent.type == "order.created"))
        body = loads(event.body)
    assert body["data"]["receipt"]["receiptId"] == receipt_id
    assert body["data"]["receipt"]["metadata"] == {"orderId": "A-7"}


def big_but_allowed() -> dict:
    """50 keys of 40 characters with values that keep the JSON just under 8 KiB."""
    return {f"k{n:039d}": "v" * 110 for n in range(50)}


def test_metadata_at_every_limit_is_accepted(client, shop):
    metadata = big_but_allowed()
    assert len(str(metadata)) < 8 * 1024
    response = post_order(client, shop, metadata=metadata)
    assert response.status_code == 200, response.json
    assert response.json["receipt"]["metadata"] == metadata


BAD_METADATA = [
    ([1, 2], "array"),
    ("orderId=1", "string"),
    ({f"k{n}": "v" for n in range(51)}, "51-keys"),
    ({"k" * 41: "v"}, "key-41-chars"),
    ({"": "v"}, "empty-key"),
    ({"a\"b": "v"}, "key-with-quote"),
    ({"a\\b": "v"}, "key-with-backslash"),
    ({"a\tb": "v"}, "key-with-tab"),
    ({"café": "v"}, "key-not-ascii"),
    ({"orderId": 123}, "number-value"),
    ({"orderId": None}, "null-value"),
    ({"orderId": {"nested": "x"}}, "object-value"),
    ({"orderId": "v" * 501}, "value-501-chars"),
    ({f"k{n:02d}": "é" * 90 for n in range(50)}, "over-8-kib-in-utf8"),
    (None, "null"),
]


@pytest.mark.parametrize("metadata", [m for m, _ in BAD_METADATA], ids=[i for _, i in BAD_METADATA])
def test_bad_metadata_is_400_naming_it_and_writes_nothing(client, shop, count_rows, metadata):
    response = post_order(client, shop, metadata=metadata)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert "metadata" in response.json["fields"]
    assert count_rows(Order) == 0 and count_rows(OrderStatusChange) == 0


BAD_URLS = [
    ("javascript:alert(1)", "javascript"),
    ("ftp://shop.example/", "ftp"),
    ("//shop.example/thanks", "scheme-relative"),
    ("/thanks", "path-only"),
    ("https://", "no-host"),
    ("https://user:pass@shop.example/", "credentials"),
    ("https://shop.example:99999/", "bad-port"),
    ("https://shop.example/a b", "space"),
    ("https://shop.example/\nx", "newline"),
    ("https://shop.example/" + "a" * 2048, "over-2048"),
    ("", "empty"),
    (42, "number"),
]


@pytest.mark.parametrize("url", [u for u, _ in BAD_URLS], ids=[i for _, i in BAD_URLS])
def test_bad_redirect_url_is_400_naming_it(client, shop, count_rows, url):
    response = post_order(client, shop, redirectUrl=url)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert "redirectUrl" in response.json["fields"]
    assert count_rows(Order) == 0


def test_plain_http_redirect_is_allowed_in_dev_and_test_only(app, client, shop):
    assert post_order(client, shop, redirectUrl="http://127.0.0.1:3000/done").status_code == 200
    production = create_app(app.config["TILLPOINT"].with_overrides(ENV="production")).test_client()
    refused = post_order(production, shop, redirectUrl="http://shop.example/done")
    assert refused.status_code == 400 and "https://" in refused.json["fields"]["redirectUrl"][0]
    assert post_order(production, shop, redirectUrl="https://shop.example/done").status_code == 200


def test_metadata_and_redirect_url_are_part_of_the_idempotency_hash(client, shop, count_rows):
    headers = {**shop.headers, "Idempotency-Key": "ctx-1"}
    first = client.post("/api/orders", json={"items": ONE_FOOD, "metadata": {"orderId": "1"}}, headers=headers)
    replay = client.post("/api/orders", json={"items": ONE_FOOD, "metadata": {"orderId": "1"}}, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json["receipt"]["receiptId"] == first.json["receipt"]["receiptId"]
    for changed in ({"metadata": {"orderId": "2"}}, {"metadata": {"orderId": "1"}, "redirectUrl": "https://a.example/"}):
        response = client.post("/api/orders", json={"items": ONE_FOOD, **changed}, headers=headers)
        assert (response.status_code, response.json["error"]) == (409, "conflict")
    assert count_rows(Order) == 1 and count_rows(IdempotencyRecord) == 1
