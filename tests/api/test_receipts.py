"""Receipts: stored orders read back with history, newest first, never another merchant's."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import Order

ONE_FOOD = {"items": [{"sku": "FOOD-001", "qty": 1}]}


def create(client, shop, qty=1) -> dict:
    response = client.post("/api/orders", json={"items": [{"sku": "FOOD-001", "qty": qty}]}, headers=shop.headers)
    return response.json["receipt"]


def test_receipt_read_back_equals_what_was_created(client, shop):
    created = create(client, shop)
    read = client.get(f"/api/receipts/{created['receiptId']}", headers=shop.headers).json["receipt"]
    assert read == created


def test_list_is_newest_first_with_limit_and_time_window(client, shop, in_app):
    ids = [create(client, shop, qty)["receiptId"] for qty in (1, 2, 3)]
    with in_app() as session:  # spread creation times one hour apart, oldest first
        for hours, receipt_id in zip((3, 2, 1), ids):
            order = session.query(Order).filter_by(receipt_id=receipt_id).one()
            order.created_at = order.created_at - timedelta(hours=hours)
        session.commit()
        middle_ms = int(session.query(Order).filter_by(receipt_id=ids[1]).one().created_at.timestamp() * 1000)
    listed = client.get("/api/receipts", headers=shop.headers).json["receipts"]
    assert [r["receiptId"] for r in listed] == ids[::-1]
    newest = client.get("/api/receipts?limit=1", headers=shop.headers).json["receipts"]
    assert [r["receiptId"] for r in newest] == [ids[2]]
    window = client.get(f"/api/receipts?start={middle_ms}&end={middle_ms}", headers=shop.headers).json["receipts"]
    assert [r["receiptId"] for r in window] == [ids[1]]
    in_seconds = client.get(f"/api/receipts?start={middle_ms // 1000 + 1}", headers=shop.headers).json["receipts"]
    assert [r["receiptId"] for r in in_seconds] == [ids[2]]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "start=abc", "end=-5"],
                         ids=["limit-zero", "limit-over", "start-text", "end-negative"])
def test_bad_list_query_is_invalid_input(client, shop, query):
    response = client.get(f"/api/receipts?{query}", headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")


def test_another_merchants_receipt_is_not_found(client, shop, factory):
    mine = create(client, shop)["receiptId"]
    intruder = factory.key(factory.merchant())
    response = client.get(f"/api/receipts/{mine}", headers={"x-api-key": intruder})
    assert (response.status_code, response.json["error"]) == (404, "not_found")
    assert client.get("/api/receipts", headers={"x-api-key": intruder}).json["receipts"] == []


@pytest.mark.parametrize("receipt_id", ["R-123456", "R-AAAAAAAAAAAA", "nope", "R-" + "A" * 500],
                         ids=["reference-style", "well-formed-unknown", "garbage", "long"])
def test_unknown_or_malformed_receipt_is_not_found(client, shop, receipt_id):
    response = client.get(f"/api/receipts/{receipt_id}", headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (404, "not_found")


@pytest.mark.parametrize("scopes, status, code", [
    (["orders:create"], 403, "insufficient_scope"), (None, 401, "unauthorized")],
    ids=["wrong-scope", "no-key"])
def test_receipts_need_receipts_read(client, shop, factory, scopes, status, code):
    headers = {"x-api-key": factory.key(shop.merchant, scopes)} if scopes else {}
    response = client.get("/api/receipts", headers=headers)
    assert (response.status_code, response.json["error"]) == (status, code)


@pytest.mark.parametrize("path", ["/api/receipts", "/api/ledger/summary"])
@pytest.mark.parametrize("query", ["start=999999999999999", "end=253402300800000"], ids=["start", "end"])
def test_a_time_bound_beyond_year_9999_is_400_not_500(client, shop, path, query):
    response = client.get(f"{path}?{query}", headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")


@pytest.mark.parametrize("path", ["/api/receipts", "/api/ledger/summary"])
def test_the_latest_representable_end_is_accepted(client, shop, path):
    assert client.get(f"{path}?end=253402300799000", headers=shop.headers).status_code == 200
