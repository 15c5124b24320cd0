"""Live status: /status JSON, the Server-Sent Events stream (in-process and Redis notifications),
its bounded lifetime and per-process cap, and the watcher's notification after it commits."""
from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
import redis

from app import create_app
from app.pay import stream
from app.services import live_status as events
from tests.helpers.pay import usdc_units


def frames(response):
    """Yield the SSE frames of a streamed test-client response as they come."""
    buffer = ""
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            yield frame


def status_of(frame: str) -> dict:
    lines = dict(line.split(": ", 1) for line in frame.splitlines())
    assert lines["event"] == "status"
    return json.loads(lines["data"])


@pytest.fixture
def live_app(pay_app):
    """An app whose streams last 5 s at most (a missed notification fails the test instead of hanging)."""
    def make(**overrides):
        return create_app(pay_app.config["TILLPOINT"].with_overrides(**{"PAY_STREAM_SECONDS": 5, **overrides}))
    return make


def test_status_json_has_amounts_confirmations_and_tx_hashes(pay_client, make_order, pay):
    receipt_id = make_order()
    tx = pay(receipt_id, "USDC", usdc_units("5.00"), block=100, head=100)
    response = pay_client.get(f"/pay/{receipt_id}/status")
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Content-Security-Policy"]
    body = response.json
    assert (body["status"], body["exceptionStatus"], body["state"]) == ("pending", "paid_partial", "partial")
    assert (body["totalUsd"], body["paidUsd"], body["dueUsd"]) == (Decimal("12.65"), Decimal("5.00"), Decimal("7.65"))
    assert (body["confirmationsRequired"], body["confirmationsMissing"]) == (2, 1)
    assert body["payments"] == [{"txHash": tx, "chainId": 8453, "token": "USDC", "amount": "5000000",
                                 "amountDisplay": "5",
                                 "usd": Decimal("5.00"), "block": 100, "confirmations": 1, "late": False,
                                 "stray": False}]
    assert "Waiting for 1 more confirmation" in body["message"]


def test_stream_sends_the_status_then_each_change_at_once(live_app, make_order, pay, monkeypatch):
    monkeypatch.setattr(stream, "LOCAL_POLL_SECONDS", 30)  # only a notification can wake the stream in time
    app = live_app()
    receipt_id = make_order()
    response = app.test_client().get(f"/pay/{receipt_id}/events")
    assert response.mimetype == "text/event-stream" and response.headers["Cache-Control"] == "no-store"
    received = frames(response)
    assert next(received) == f"retry: {stream.RETRY_MS}"
    assert status_of(next(received))["state"] == "waiting"
    pay(receipt_id, "USDC", usdc_units("12.65"))
    started = time.monotonic()
    with app.app_context():
        events.publish([receipt_id])
    paid = status_of(next(received))
    assert paid["state"] == "settling" and paid["title"] == "Paid — settling"
    assert time.monotonic() - started < 2
    response.close()


def test_stream_re_reads_the_database_without_a_notification(live_app, make_order, pay, monkeypatch):
    """Without Redis, the watcher (another process) cannot notify: the stream notices on its timer."""
    monkeypatch.setattr(stream, "LOCAL_POLL_SECONDS", 0.2)
    receipt_id = make_order()
    response = live_app().test_client().get(f"/pay/{receipt_id}/events")
    received = frames(response)
    next(received), next(received)
    pay(receipt_id, "USDC", usdc_units("1.00"))
    assert status_of(next(received))["state"] == "partial"
    response.close()


def test_stream_ends_after_its_lifetime(live_app, make_order):
    response = live_app(PAY_STREAM_SECONDS=1).test_client().get(f"/pay/{make_order()}/events")
    started = time.monotonic()
    assert len(list(frames(response))) == 2  # retry and the first status, then the server closes
    assert 0.5 < time.monotonic() - started < 3


def test_each_process_serves_at_most_pay_streams_at_once(live_app, make_order):
    client = live_app(PAY_STREAMS=1).test_client()
    receipt_id = make_order()
    first = client.get(f"/pay/{receipt_id}/events")
    assert first.status_code == 200
    refused = client.get(f"/pay/{receipt_id}/events")
    assert refused.status_code == 204, "the page polls /status instead"
    first.close()
    again = client.get(f"/pay/{receipt_id}/events")
    assert again.status_code == 200
    again.close()


def test_unknown_receipt_has_no_stream(pay_client):
    response = pay_client.get("/pay/R-AAAAAAAAAAAA/events")
    assert response.status_code == 404 and response.json["error"] == "not_found"


def test_redis_notification_from_another_process_wakes_the_stream(live_app, make_order, pay, redis_url, monkeypatch):
    monkeypatch.setattr(stream, "SHARED_POLL_SECONDS", 30)
    app = live_app(REDIS_URL=redis_url)
    receipt_id = make_order()
    response = app.test_client().get(f"/pay/{receipt_id}/events")
    received = frames(response)
    next(received), next(received)
    pay(receipt_id, "USDC", usdc_units("12.65"))
    with app.app_context():
        channel = events.channel(receipt_id)
    started = time.monotonic()
    assert redis.Redis.from_url(redis_url).publish(channel, "changed") == 1, "the stream is subscribed"
    assert status_of(next(received))["state"] == "settling"
    assert time.monotonic() - started < 2
    response.close()


def test_subscription_waits_for_its_own_receipt_only(pay_app, redis_url):
    app = create_app(pay_app.config["TILLPOINT"].with_overrides(REDIS_URL=redis_url))
    with app.app_context(), events.Subscription("R-AAAAAAAAAAAA") as mine:
        assert mine.shared
        events.publish(["R-BBBBBBBBBBBB"])
        assert mine.wait(0.3) is False
        events.publish(["R-AAAAAAAAAAAA"])
        assert mine.wait(2) is True
        mine.wait(0.3)  # the same notification may also arrive through Redis: at most one extra wake
        assert mine.wait(0.3) is False


def test_publish_survives_redis_being_down(pay_app):
    app = create_app(pay_app.config["TILLPOINT"].with_overrides(REDIS_URL="redis://127.0.0.1:1/0"))
    with app.app_context():
        events.publish(["R-AAAAAAAAAAAA"])  # logged, not raised: the change is already committed
        with events.Subscription("R-AAAAAAAAAAAA") as local:
            assert not local.shared
            events.publish(["R-AAAAAAAAAAAA"])
            assert local.wait(1) is True, "in-process notification still works"
