"""POST /api/receipts/<id>/cancel: an order that received nothing becomes cancelled; anything else is a 409."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.jsoncodec import loads
from app.models import Order, Payment, WebhookEvent, utcnow
from app.domain.settlement import ChainView
from app.services import payments


def create(client, shop) -> str:
    response = client.post("/api/orders", json={"items": [{"sku": "FOOD-001", "qty": 1}],
                                                "metadata": {"orderId": "77"}}, headers=shop.headers)
    return response.json["receipt"]["receiptId"]


def cancel(client, shop, receipt_id, **kwargs):
    return client.post(f"/api/receipts/{receipt_id}/cancel", headers=shop.headers, **kwargs)


def test_cancelling_a_new_order_answers_the_cancelled_receipt(client, shop):
    receipt_id = create(client, shop)
    response = cancel(client, shop, receipt_id, json={"reason": "shopper left"})
    assert response.status_code == 200, response.json
    receipt = response.json["receipt"]
    assert receipt["status"] == "cancelled"
    assert [h["status"] for h in receipt["statusHistory"]] == ["generated", "cancelled"]
    assert receipt["statusHistory"][-1]["cause"] == {"reason": "shopper left"}
    assert receipt["statusHistory"][-1]["actor"].startswith("key_")
    read = client.get(f"/api/receipts/{receipt_id}", headers=shop.headers).json["receipt"]
    assert read["status"] == "cancelled"


def test_cancel_takes_no_body_or_an_empty_object(client, shop):
    assert cancel(client, shop, create(client, shop)).status_code == 200
    assert cancel(client, shop, create(client, shop), json={}).status_code == 200


def test_cancel_writes_the_order_cancelled_event_with_the_receipt(client, shop, in_app):
    receipt_id = create(client, shop)
    cancel(client, shop, receipt_id)
    with in_app() as session:
        event = session.scalar(select(WebhookEvent).where(WebhookEvent.type == "order.cancelled"))
        body = loads(event.body)
    assert body["data"]["receipt"]["status"] == "cancelled" and body["data"]["receipt"]["metadata"] == {"orderId": "77"}
    assert body["data"]["sequence"] == 2


def test_an_expired_order_can_be_cancelled(client, shop, in_app):
    receipt_id = create(client, shop)
    with in_app() as session:
        session.query(Order).filter_by(receipt_id=receipt_id).one().expires_at = utcnow() - timedelta(minutes=1)
        session.commit()
        assert payments.expire_overdue(utcnow()) == 1
        session.commit()
    response = cancel(client, shop, receipt_id)
    assert response.status_code == 200
    assert [h["status"] for h in response.json["receipt"]["statusHistory"]] == ["generated", "expired", "cancelled"]


def add_payment(in_app, receipt_id: str) -> None:
    with in_app() as session:
        order = session.query(Order).filter_by(receipt_id=receipt_id).one()
        session.add(Payment(order_id=order.id, chain_id=8453, tx_hash="0x" + "12" * 32, log_index=0, block_number=100,
                            block_hash="0x" + "ab" * 32, block_time=utcnow(), symbol="USDC",
                            from_address="0x" + "77" * 20, amount_base_units=1, usd_cents=0))
        session.commit()


@pytest.mark.parametrize("how", ["status-paid", "payment-recorded", "already-cancelled"])
def test_an_order_that_received_anything_or_left_unpaid_is_409_and_unchanged(client, shop, in_app, how):
    receipt_id = create(client, shop)
    if how == "status-paid":
        with in_app() as session:
            session.query(Order).filter_by(receipt_id=receipt_id).one().status = "paid"
            session.commit()
    elif how == "payment-recorded":  # recorded but not yet applied to the status
        add_payment(in_app, receipt_id)
    else:
        assert cancel(client, shop, receipt_id).status_code == 200
    before = client.get(f"/api/receipts/{receipt_id}", headers=shop.headers).json["receipt"]
    response = cancel(client, shop, receipt_id)
    assert (response.status_code, response.json["error"]) == (409, "conflict")
    assert client.get(f"/api/receipts/{receipt_id}", headers=shop.headers).json["receipt"] == before


def test_another_merchants_or_an_unknown_order_is_404(client, shop, factory):
    receipt_id = create(client, shop)
    intruder = {"x-api-key": factory.key(factory.merchant("Intruder"))}
    assert client.post(f"/api/receipts/{receipt_id}/cancel", headers=intruder).status_code == 404
    assert cancel(client, shop, "R-AAAAAAAAAAAA").status_code == 404
    assert client.get(f"/api/receipts/{receipt_id}", headers=shop.headers).json["receipt"]["status"] == "generated"


@pytest.mark.parametrize("body", [{"reason": "x" * 501}, {"why": "no"}, [1]], ids=["long-reason", "unknown", "array"])
def test_a_bad_body_is_400_and_cancels_nothing(client, shop, body):
    receipt_id = create(client, shop)
    response = cancel(client, shop, receipt_id, json=body)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert client.get(f"/api/receipts/{receipt_id}", headers=shop.headers).json["receipt"]["status"] == "generated"


@pytest.mark.parametrize("scopes, status", [(["orders:create"], 200), (["receipts:read", "receipts:refund"], 403)],
                         ids=["orders-create", "receipt-scopes"])
def test_cancel_needs_orders_create(client, shop, factory, scopes, status):
    receipt_id = create(client, shop)
    headers = {"x-api-key": factory.key(shop.merchant, scopes)}
    response = client.post(f"/api/receipts/{receipt_id}/cancel", headers=headers)
    assert response.status_code == status


def test_a_payment_the_watcher_read_just_before_the_cancel_is_kept_and_announced(client, shop, in_app):
    receipt_id = create(client, shop)
    cancel(client, shop, receipt_id)
    add_payment(in_app, receipt_id)  # the watcher's tick that read the address before the cancel committed
    with in_app() as session:
        order = session.query(Order).filter_by(receipt_id=receipt_id).one()
        payments.refresh_status(order, {8453: ChainView(110, 2)}, new=list(order.payments))
        session.commit()
        types = session.scalars(select(WebhookEvent.type).order_by(WebhookEvent.sequence)).all()
    receipt = client.get(f"/api/receipts/{receipt_id}", headers=shop.headers).json["receipt"]
    assert receipt["status"] == "cancelled" and len(receipt["payments"]) == 1
    assert types == ["order.created", "order.cancelled", "payment.received"]
