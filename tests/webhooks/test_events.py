"""The events outbox: written with the change that causes it, one delivery per subscribed enabled endpoint."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app import jsoncodec
from app.models import Order, WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from app.services import payments
from app.webhooks import signing, vault

CART = {"items": [{"sku": "COFFEE-001", "qty": 2}], "jurisdictionCode": "US-CA"}


def endpoint(in_app, app, merchant_id: int, events: list[str], enabled: bool = True, id_: str = "we_a") -> str:
    with in_app() as session:
        session.add(WebhookEndpoint(id=id_, merchant_id=merchant_id, url="http://127.0.0.1:9/hook", events=events,
                                    enabled=enabled,
                                    secret_sealed=vault.seal(app.config["TILLPOINT"].SECRET_KEY, signing.new_secret())))
        session.commit()
    return id_


def stored_events(in_app) -> list[tuple[WebhookEvent, list[str]]]:
    with in_app() as session:
        rows = session.scalars(select(WebhookEvent).order_by(WebhookEvent.created_at, WebhookEvent.sequence)).all()
        return [(row, [d.endpoint_id for d in row.deliveries]) for row in rows]


def test_order_created_carries_the_receipt_the_api_answered(client, shop, in_app):
    receipt = client.post("/api/orders", json=CART, headers=shop.headers).json["receipt"]
    [(event, deliveries)] = stored_events(in_app)
    body = jsoncodec.loads(event.body)
    assert (event.type, event.sequence, deliveries) == ("order.created", 1, [])
    assert body["id"] == event.id and body["type"] == "order.created"
    assert body["merchantId"] == shop.merchant.wallet
    assert body["data"] == {"receipt": receipt, "sequence": 1}


def test_each_enabled_endpoint_taking_the_type_gets_one_delivery(client, shop, in_app, app):
    endpoint(in_app, app, shop.merchant.id, ["*"], id_="we_all")
    endpoint(in_app, app, shop.merchant.id, ["order.created"], id_="we_created")
    endpoint(in_app, app, shop.merchant.id, ["order.paid"], id_="we_paid")
    endpoint(in_app, app, shop.merchant.id, ["*"], enabled=False, id_="we_off")
    client.post("/api/orders", json=CART, headers=shop.headers)
    [(_, deliveries)] = stored_events(in_app)
    assert sorted(deliveries) == ["we_all", "we_created"]


def test_another_merchants_endpoint_hears_nothing(client, shop, factory, in_app, app):
    other = factory.merchant("Other")
    endpoint(in_app, app, other.id, ["*"])
    client.post("/api/orders", json=CART, headers=shop.headers)
    assert stored_events(in_app)[0][1] == []


def test_an_order_that_fails_validation_writes_no_event(client, shop, in_app, count_rows):
    response = client.post("/api/orders", json={"items": [{"sku": "NOPE", "qty": 1}]}, headers=shop.headers)
    assert response.status_code == 400
    assert count_rows(WebhookEvent) == 0 and count_rows(WebhookDelivery) == 0


def test_expiry_is_an_event_with_the_next_sequence(client, shop, in_app, app):
    endpoint(in_app, app, shop.merchant.id, ["order.expired"])
    receipt = client.post("/api/orders", json=CART, headers=shop.headers).json["receipt"]
    with in_app() as session:
        order = session.scalar(select(Order).where(Order.receipt_id == receipt["receiptId"]))
        order.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
        assert payments.expire_overdue(utcnow()) == 1
        session.commit()
    (_, none), (expired, deliveries) = stored_events(in_app)
    body = jsoncodec.loads(expired.body)
    assert (expired.type, expired.sequence, deliveries, none) == ("order.expired", 2, ["we_a"], [])
    assert body["data"]["previousStatus"] == "generated" and body["data"]["receipt"]["status"] == "expired"
