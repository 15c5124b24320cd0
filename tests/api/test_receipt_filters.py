"""GET /api/receipts: filters by status and metadata, and pages with an opaque, signed cursor."""
from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from app.models import Order
from tests.api.test_receipts import counting_statements, settled_receipts  # noqa: F401 (a fixture)


def create(client, shop, metadata=None) -> str:
    body = {"items": [{"sku": "FOOD-001", "qty": 1}], **({"metadata": metadata} if metadata is not None else {})}
    response = client.post("/api/orders", json=body, headers=shop.headers)
    assert response.status_code == 200, response.json
    return response.json["receipt"]["receiptId"]


def listed(client, shop, query: str = "") -> list[str]:
    response = client.get(f"/api/receipts?{query}", headers=shop.headers)
    assert response.status_code == 200, response.json
    return [r["receiptId"] for r in response.json["receipts"]]


def test_metadata_filter_is_an_exact_string_match(client, shop):
    a = create(client, shop, {"orderId": "123", "channel": "web"})
    b = create(client, shop, {"orderId": "1234", "channel": "web"})
    c = create(client, shop, {"orderId": "123", "channel": "pos"})
    create(client, shop)
    assert listed(client, shop, "metadata.orderId=123") == [c, a]
    assert listed(client, shop, "metadata.orderId=123&metadata.channel=web") == [a]
    assert listed(client, shop, "metadata.channel=web") == [b, a]
    assert listed(client, shop, "metadata.orderId=12") == []
    assert listed(client, shop, "metadata.missing=123") == []


def test_metadata_filter_matches_keys_and_values_with_odd_characters(client, shop):
    odd = create(client, shop, {"a.b c/[0]'": "x=1&y 'zé' % _"})
    create(client, shop, {"a.b c/[0]'": "x=1&y 'zé' % "})
    assert listed(client, shop, "metadata.a.b%20c/[0]%27=x%3D1%26y+%27z%C3%A9%27+%25+_") == [odd]


def test_metadata_filter_never_shows_another_merchants_orders(client, shop, factory):
    create(client, shop, {"orderId": "1"})
    other = factory.merchant("Other")
    factory.item(other, "FOOD-001", "1.00")
    headers = {"x-api-key": factory.key(other)}
    response = client.get("/api/receipts?metadata.orderId=1", headers=headers)
    assert response.json["receipts"] == []


def test_status_filter(client, shop):
    generated = create(client, shop)
    cancelled = create(client, shop)
    assert client.post(f"/api/receipts/{cancelled}/cancel", headers=shop.headers).status_code == 200
    assert listed(client, shop, "status=cancelled") == [cancelled]
    assert listed(client, shop, "status=generated") == [generated]
    assert listed(client, shop, "status=paid") == []


def spread(in_app, receipt_ids, same_instant=False) -> None:
    """Give the orders creation times one minute apart, oldest first (or all the same instant)."""
    with in_app() as session:
        orders = [session.query(Order).filter_by(receipt_id=r).one() for r in receipt_ids]
        base = orders[0].created_at - timedelta(hours=1)
        for n, order in enumerate(orders):
            order.created_at = base if same_instant else base + timedelta(minutes=n)
        session.commit()


@pytest.mark.parametrize("same_instant", [False, True], ids=["distinct-times", "one-instant"])
def test_cursor_walks_every_receipt_once_newest_first(client, shop, in_app, same_instant):
    ids = [create(client, shop) for _ in range(7)]
    spread(in_app, ids, same_instant)
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/receipts?{query}", headers=shop.headers).json
        seen += [r["receiptId"] for r in page["receipts"]]
        pages += 1
        cursor = page.get("nextCursor")
        if cursor is None:
            break
    assert pages == 3 and seen == ids[::-1]


def test_no_next_cursor_when_the_page_holds_the_last_receipt(client, shop):
    create(client, shop)
    create(client, shop)
    page = client.get("/api/receipts?limit=2", headers=shop.headers).json
    assert len(page["receipts"]) == 2 and "nextCursor" not in page


def test_cursor_keeps_filters_and_time_window(client, shop, in_app):
    ids = [create(client, shop, {"batch": "x" if n % 2 else "y"}) for n in range(6)]
    spread(in_app, ids)
    first = client.get("/api/receipts?limit=2&metadata.batch=x", headers=shop.headers).json
    assert [r["receiptId"] for r in first["receipts"]] == [ids[5], ids[3]]
    rest = listed(client, shop, f"limit=2&metadata.batch=x&cursor={first['nextCursor']}")
    assert rest == [ids[1]]


def tampered(cursor: str) -> str:
    payload, signature = cursor.split(".")
    position = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    edited = position.replace("[", "[1", 1).encode()
    return base64.urlsafe_b64encode(edited).rstrip(b"=").decode() + "." + signature


@pytest.mark.parametrize("make_cursor", [
    lambda good: "garbage", lambda good: good + "x", lambda good: good.split(".")[0], lambda good: "." + good,
    tampered, lambda good: "é" * 10, lambda good: "%%%.%%%",
    lambda good: base64.urlsafe_b64encode(b'"text"').decode() + "." + good.split(".")[1],
], ids=["garbage", "suffix", "unsigned", "shifted", "tampered", "non-ascii", "symbols", "other-payload"])
def test_a_malformed_or_edited_cursor_is_400_never_500(client, shop, make_cursor):
    for _ in range(3):
        create(client, shop)
    good = client.get("/api/receipts?limit=1", headers=shop.headers).json["nextCursor"]
    response = client.get("/api/receipts", query_string={"cursor": make_cursor(good)}, headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert "cursor" in response.json["fields"]


@pytest.mark.parametrize("query, field", [
    ("status=lost", "status"), ("metadata.=1", "metadata."), ("metadata." + "k" * 41 + "=1", "metadata." + "k" * 41),
    ("metadata.orderId=" + "v" * 501, "metadata.orderId"), ("metadata.a%22b=1", 'metadata.a"b'),
    ("&".join(f"metadata.k{n}=1" for n in range(11)), "metadata"), ("cursor=", "cursor"),
], ids=["unknown-status", "empty-key", "long-key", "long-value", "quote-in-key", "11-filters", "empty-cursor"])
def test_bad_filters_are_400_naming_the_parameter(client, shop, query, field):
    response = client.get(f"/api/receipts?{query}", headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert field in response.json["fields"]


def test_a_filtered_page_with_a_cursor_costs_the_same_statements_for_1_or_50(client, shop, in_app,
                                                                              settled_receipts):  # noqa: F811
    with in_app() as session:
        for order in session.query(Order):
            order.order_metadata = {"batch": "s"}
        session.commit()
    client.get("/api/receipts?limit=1", headers=shop.headers)  # the key's last use is stored once a minute
    cursor = client.get("/api/receipts?limit=1&status=paid", headers=shop.headers).json["nextCursor"]
    query = f"status=paid&metadata.batch=s&cursor={cursor}"
    with counting_statements() as one:
        first = client.get(f"/api/receipts?limit=1&{query}", headers=shop.headers).json
    with counting_statements() as fifty:
        page = client.get(f"/api/receipts?limit=50&{query}", headers=shop.headers).json
    assert len(first["receipts"]) == 1 and len(page["receipts"]) == 50 and "nextCursor" not in page
    assert page["receipts"][0]["receiptId"] == first["receipts"][0]["receiptId"] == settled_receipts[-2]
    assert len(fifty) == len(one), "\n".join(fifty)
