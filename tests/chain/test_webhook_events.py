"""The events outbox on a real chain: every change of an order writes its event in the same transaction,
in order, each with the receipt as the API returns it at that moment."""
from __future__ import annotations

from sqlalchemy import select

from app import jsoncodec
from app.extensions import db
from app.models import Order, WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.webhooks import signing, vault
from app.workers import watcher as watcher_module
from tests.helpers.chain import mine, pay_token, quote

PAID_ORDER = ["order.created", "order.payment_detected", "payment.received", "order.paid", "order.completed"]


def events_of(app, receipt_id: str) -> list[dict]:
    with app.app_context():
        order_id = db.session.scalar(select(Order.id).where(Order.receipt_id == receipt_id))
        rows = db.session.scalars(select(WebhookEvent).where(WebhookEvent.order_id == order_id)
                                  .order_by(WebhookEvent.sequence)).all()
        return [jsoncodec.loads(row.body) for row in rows]


def subscribe(app, merchant_id: int, events: list[str]) -> str:
    with app.app_context():
        endpoint = WebhookEndpoint(id="we_test", merchant_id=merchant_id, url="http://127.0.0.1:9/hook",
                                   events=events, secret_sealed=vault.seal(app.config["TILLPOINT"].SECRET_KEY,
                                                                           signing.new_secret()))
        db.session.add(endpoint)
        db.session.commit()
        return endpoint.id


def test_a_paid_order_reports_each_step_in_sequence(gateway, contracts, accounts):
    receipt = gateway.order()
    pay_token(gateway.w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    gateway.run()
    events = events_of(gateway.app, receipt["receiptId"])
    assert [e["type"] for e in events] == PAID_ORDER
    assert [e["data"]["sequence"] for e in events] == [1, 2, 3, 4, 5]
    assert [e["data"]["receipt"]["status"] for e in events] == ["generated", "pending", "pending", "paid", "completed"]
    final = gateway.receipt(receipt["receiptId"])
    # The receipt exactly as GET /api/receipts/<id> returns it; without PUBLIC_URL the watcher, outside any
    # request, can only give the pay link's path.
    sent = events[-1]["data"]["receipt"]
    assert sent["paymentUrl"] == f"/pay/{receipt['receiptId']}" and final["paymentUrl"].endswith(sent["paymentUrl"])
    assert {**sent, "paymentUrl": final["paymentUrl"]} == final
    received = events[2]["data"]["payment"]
    assert received["amount"] == str(quote(receipt, "USDC")) and received["late"] is False
    assert received["afterSettlement"] is False and received["txHash"] == final["payments"][0]["txHash"]


def test_only_subscribed_types_get_a_delivery(gateway, contracts, accounts):
    receipt = gateway.order()
    with gateway.app.app_context():
        merchant_id = db.session.scalar(select(Order.merchant_id).where(Order.receipt_id == receipt["receiptId"]))
    endpoint_id = subscribe(gateway.app, merchant_id, ["order.paid", "order.completed"])
    pay_token(gateway.w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    gateway.run()
    with gateway.app.app_context():
        delivered = db.session.scalars(select(WebhookEvent.type).join(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id).order_by(WebhookEvent.sequence)).all()
    assert delivered == ["order.paid", "order.completed"]


def test_a_tick_that_rolls_back_leaves_no_event(gateway, contracts, accounts, monkeypatch):
    receipt = gateway.order()
    pay_token(gateway.w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    mine(gateway.w3)

    def fail_after_the_status_moved(*args, **kwargs):
        raise RuntimeError("database gone after the status change")

    monkeypatch.setattr(watcher_module.reorg, "prune", fail_after_the_status_moved)  # runs after refresh_status
    try:
        gateway.watch()
    except RuntimeError:
        pass
    with gateway.app.app_context():
        db.session.rollback()
    assert [e["type"] for e in events_of(gateway.app, receipt["receiptId"])] == ["order.created"]
    monkeypatch.undo()
    gateway.watch()
    assert [e["type"] for e in events_of(gateway.app, receipt["receiptId"])] == [
        "order.created", "order.payment_detected", "payment.received", "order.paid"]


def test_a_reorg_that_takes_the_payment_back_reports_it(w3, accounts, contracts, new_order, watch, chain_app):
    receipt = new_order()
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    assert watch(receipt["receiptId"])["status"] == "pending"
    w3.provider.make_request("evm_revert", [snapshot])
    mine(w3, 3)
    assert watch(receipt["receiptId"])["status"] == "generated"
    events = events_of(chain_app, receipt["receiptId"])
    assert [e["type"] for e in events] == ["order.created", "order.payment_detected", "payment.received",
                                           "order.payment_reversed"]
    assert events[-1]["data"]["previousStatus"] == "pending" and events[-1]["data"]["receipt"]["status"] == "generated"
