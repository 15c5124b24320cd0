"""Receipts: stored orders read back with history, newest first, never another merchant's."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.chain.settings import ChainSettings, parse_tokens
from app.domain.pricing import parse_fee_tiers
from app.domain.settlement import ChainView
from app.domain.statuses import RefundStatus
from app.models import Order, Payment, Refund, Sweep, utcnow
from app.services import orders, payments

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


OFFLINE_CHAIN = ChainSettings(chain_id=8453, factory="0x5FbDB2315678afecb367f032d93F642f64180aa3",
                              tokens=parse_tokens(f"USDC:0x{'11' * 20}:6"))


@contextmanager
def counting_statements():
    """Yield a list that collects every SQL statement sent to a database inside the block."""
    sent: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


@pytest.fixture
def settled_receipts(in_app, shop) -> list[str]:
    """51 orders, each with a quote, a payment, a sweep, a refund and a history of three statuses."""
    settings = orders.OrderSettings(fee_tiers=parse_fee_tiers("0:50"), quote_ttl=timedelta(minutes=15),
                                    chains=(OFFLINE_CHAIN,))
    request = orders.OrderRequest(items=[{"sku": "FOOD-001", "qty": 1}], jurisdiction_code=None, tax_rate=None,
                                  tax_components=None)
    made = []
    with in_app() as session:
        for n in range(51):
            order, _ = orders.create_order(shop.merchant, request, settings, actor="test")
            units = order.quotes[0].amount_base_units
            tx = f"0x{n:064x}"
            session.add_all([
                Payment(order_id=order.id, chain_id=8453, tx_hash=tx, log_index=0, block_number=100,
                        block_hash="0x" + "ab" * 32, block_time=utcnow(), symbol="USDC", from_address="0x" + "77" * 20,
                        amount_base_units=units, usd_cents=order.total_cents),
                Sweep(order_id=order.id, chain_id=8453, tx_hash=tx, log_index=1, block_number=101,
                      block_hash="0x" + "cd" * 32, block_time=utcnow(), symbol="USDC", amount_base_units=units,
                      merchant_base_units=units - 1, platform_base_units=1, verified=False),
                Refund(id=f"rf_{n}", order_id=order.id, status=RefundStatus.REQUESTED, chain_id=8453, symbol="USDC",
                       amount_base_units=1, usd_cents=0, to_address="0x" + "77" * 20)])
            session.flush()
            payments.refresh_status(order, {8453: ChainView(110, 2)})
            session.commit()
            made.append(order.receipt_id)
    return made


def test_listing_receipts_costs_the_same_statements_for_1_or_50(client, shop, settled_receipts):
    client.get("/api/receipts?limit=1", headers=shop.headers)  # the key's last use is stored once a minute
    with counting_statements() as one:
        first = client.get("/api/receipts?limit=1", headers=shop.headers).json["receipts"]
    with counting_statements() as fifty:
        listed = client.get("/api/receipts?limit=50", headers=shop.headers).json["receipts"]
    assert len(first) == 1 and len(listed) == 50
    assert all(len(r["payments"]) == len(r["sweeps"]) == len(r["refunds"]) == 1 for r in listed)
    assert all([h["status"] for h in r["statusHistory"]] == ["generated", "pending", "paid"] for r in listed)
    assert len(fifty) == len(one), "\n".join(fifty)


def test_one_receipt_loads_its_relations_in_a_fixed_number_of_statements(client, shop, settled_receipts, in_app):
    receipt_id = settled_receipts[0]
    client.get(f"/api/receipts/{receipt_id}", headers=shop.headers)
    with counting_statements() as before:
        client.get(f"/api/receipts/{receipt_id}", headers=shop.headers)
    with in_app() as session:  # more of every relation: the count must not follow them
        order = session.query(Order).filter_by(receipt_id=receipt_id).one()
        for n in range(5):
            session.add_all([Payment(order_id=order.id, chain_id=8453, tx_hash=f"0x{n:02x}" + "ee" * 31, log_index=0,
                                     block_number=100, block_hash="0x" + "ab" * 32, block_time=utcnow(),
                                     symbol="USDC", from_address="0x" + "77" * 20, amount_base_units=1, usd_cents=0),
                             Refund(id=f"rf_more_{n}", order_id=order.id, status=RefundStatus.REQUESTED, chain_id=8453,
                                    symbol="USDC",
                                    amount_base_units=1, usd_cents=0, to_address="0x" + "77" * 20)])
        session.commit()
    with counting_statements() as after:
        receipt = client.get(f"/api/receipts/{receipt_id}", headers=shop.headers).json["receipt"]
    assert len(receipt["payments"]) == 6 and len(receipt["refunds"]) == 6
    assert len(after) == len(before), "\n".join(after)
