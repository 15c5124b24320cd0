"""Webhooks end to end: an endpoint made through the API, an order paid on anvil, settled, and a real receiver
on loopback that verifies every delivery with the standardwebhooks package (the independent verifier)."""
from __future__ import annotations

import json

from standardwebhooks import Webhook

from app.webhooks import delivery
from tests.helpers.chain import mine, pay_token, quote
from tests.helpers.receiver import Receiver

PAID_ORDER = ["order.created", "order.payment_detected", "payment.received", "order.paid", "order.completed"]


def test_a_receiver_verifies_every_event_of_a_paid_order_in_sequence(gateway, merchant_key, contracts, accounts):
    client, headers = gateway.app.test_client(), {"x-api-key": merchant_key}
    with Receiver() as receiver:
        created = client.post("/api/webhooks", json={"url": receiver.url, "description": "shop backend"},
                              headers=headers)
        assert created.status_code == 201, created.json
        receipt = gateway.order()
        pay_token(gateway.w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
        for _ in range(5):  # as tillpoint watch and tillpoint deliver do, one step at a time
            gateway.watch()
            gateway.settle()
            mine(gateway.w3)
            with gateway.app.app_context():
                delivery.deliver_due(gateway.app.config["TILLPOINT"])
        gateway.watch()
        with gateway.app.app_context():
            delivery.deliver_due(gateway.app.config["TILLPOINT"])
    verifier = Webhook(created.json["secret"])
    events = [verifier.verify(request.body, request.headers) for request in receiver.received]
    assert all(request.headers["webhook-id"] == json.loads(request.body)["id"] for request in receiver.received)
    ours = sorted((e for e in events if e["data"]["receipt"]["receiptId"] == receipt["receiptId"]),
                   key=lambda e: e["data"]["sequence"])
    assert [e["type"] for e in ours] == PAID_ORDER
    assert [e["data"]["sequence"] for e in ours] == [1, 2, 3, 4, 5]
    assert ours[-1]["data"]["receipt"]["status"] == "completed"
    assert len({r.headers["webhook-id"] for r in receiver.received}) == len(receiver.received)  # each sent once
