"""The delivery worker against real receivers on loopback: signatures checked by the standardwebhooks package,
retries on the schedule (time moved through deliver_due(now=…), not slept), Retry-After, timeouts, 410,
redirects, addresses refused at delivery time, and the worker process killed mid-delivery."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from datetime import timedelta
from email.utils import format_datetime

import pytest
import redis
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from app.config import Config
from app.domain.statuses import DeliveryState
from app.extensions import db
from app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from app.webhooks import delivery, events, sender, signing, ssrf, vault
from app.workers import runner
from tests.helpers.config import TEST_SECRET_KEY
from tests.helpers.processes import TILLPOINT, wait_for
from tests.helpers.receiver import Answer, Receiver


class Hooks:
    """Endpoints and events made directly with the models, and the worker run in-process."""

    def __init__(self, in_app, config, merchant):
        self.in_app, self.config, self.merchant = in_app, config, merchant

    def endpoint(self, url: str, **columns) -> tuple[str, str]:
        """Return (endpoint id, its secret) of a new enabled endpoint taking every event."""
        secret = signing.new_secret()
        with self.in_app() as session:
            columns.setdefault("secret_sealed", vault.seal(TEST_SECRET_KEY, secret))
            endpoint = WebhookEndpoint(id="we_" + secrets.token_urlsafe(12), merchant_id=self.merchant.id, url=url,
                                       events=["*"], **columns)
            session.add(endpoint)
            session.commit()
            return endpoint.id, secret

    def event(self, endpoint_id: str, n: int = 0) -> tuple[str, int, bytes]:
        """Return (event id, delivery id, exact body) of a new event for the endpoint."""
        with self.in_app() as session:
            endpoint = session.get(WebhookEndpoint, endpoint_id)
            event = events.record(self.merchant.id, "webhook.test", {"n": n, "note": "café ✓"}, endpoints=[endpoint])
            session.commit()
            return event.id, event.deliveries[0].id, event.body.encode()

    def deliver(self, now=None, **overrides) -> int:
        with self.in_app():
            return delivery.deliver_due(self.config.with_overrides(**overrides), now=now)

    def delivery(self, delivery_id: int) -> WebhookDelivery:
        with self.in_app() as session:
            row = session.get(WebhookDelivery, delivery_id)
            session.expunge(row)
            return row

    def attempts(self, delivery_id: int) -> list[WebhookAttempt]:
        with self.in_app() as session:
            rows = session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                   .order_by(WebhookAttempt.id)).all()
            session.expunge_all()
            return rows

    def endpoint_row(self, endpoint_id: str) -> WebhookEndpoint:
        with self.in_app() as session:
            row = session.get(WebhookEndpoint, endpoint_id)
            session.expunge(row)
            return row


@pytest.fixture
def hooks(in_app, base_config, factory) -> Hooks:
    return Hooks(in_app, base_config.with_overrides(WEBHOOK_TIMEOUT=2.0), factory.merchant())


def verify(secret: str, received) -> dict:
    """Return the payload if the standardwebhooks package accepts the request's signature (else it raises)."""
    return Webhook(secret).verify(received.body, received.headers)


def test_delivery_sends_the_event_body_exactly_signed_for_standard_webhooks(hooks):
    with Receiver() as receiver:
        endpoint_id, secret = hooks.endpoint(receiver.url)
        event_id, delivery_id, body = hooks.event(endpoint_id)
        assert hooks.deliver() == 1
    [got] = receiver.received
    assert got.body == body
    assert verify(secret, got)["id"] == event_id
    assert got.headers["webhook-id"] == event_id
    assert got.headers["user-agent"] == "Tillpoint-Webhooks/0.1"
    assert got.headers["content-type"] == "application/json"
    row = hooks.delivery(delivery_id)
    assert (row.state, row.attempts, row.next_attempt_at, row.lease_until) == (DeliveryState.SUCCEEDED, 1, None, None)
    [attempt] = hooks.attempts(delivery_id)
    assert (attempt.status_code, attempt.error_kind, attempt.response_excerpt) == (200, None, "ok")
    assert hooks.deliver() == 0, "a succeeded delivery is not sent again"


def test_two_500s_then_200_retries_on_the_schedule_with_the_same_webhook_id(hooks):
    with Receiver([Answer(500, body=b"boom"), Answer(503)]) as receiver:
        endpoint_id, secret = hooks.endpoint(receiver.url)
        event_id, delivery_id, _ = hooks.event(endpoint_id)
        start = utcnow()
        assert hooks.deliver(now=start) == 1
        first_retry = hooks.delivery(delivery_id).next_attempt_at
        assert timedelta(seconds=4) <= first_retry - start <= timedelta(seconds=6), "about 5 s, ±20 %"
        assert hooks.deliver(now=first_retry - timedelta(milliseconds=100)) == 0, "not due yet"
        assert hooks.deliver(now=first_retry) == 1
        second_retry = hooks.delivery(delivery_id).next_attempt_at
        assert timedelta(minutes=4) <= second_retry - first_retry <= timedelta(minutes=6), "about 5 min"
        assert hooks.endpoint_row(endpoint_id).failing_since == start
        time.sleep(1.1)  # the third attempt is signed with a later timestamp
        assert hooks.deliver(now=second_retry) == 1
    assert receiver.ids() == [event_id] * 3
    assert len({r.headers["webhook-timestamp"] for r in receiver.received}) >= 2
    for got in receiver.received:
        verify(secret, got)
    assert hooks.delivery(delivery_id).state == DeliveryState.SUCCEEDED
    assert [(a.status_code, a.error_kind) for a in hooks.attempts(delivery_id)] == [
        (500, "status"), (503, "status"), (200, None)]
    assert hooks.attempts(delivery_id)[0].response_excerpt == "boom"
    assert hooks.endpoint_row(endpoint_id).failing_since is None, "a success clears the failing clock"


@pytest.mark.parametrize("header, at_least, at_most", [
    ("2", 2, 6), ("600", 600, 600.5), ("86400", 3600, 3600.5), ("date+900", 898, 900.5)],
    ids=["seconds-below-schedule", "seconds", "capped-at-an-hour", "http-date"])
def test_429_retry_after_sets_the_earliest_next_attempt(hooks, header, at_least, at_most):
    if header.startswith("date+"):
        header = format_datetime(utcnow() + timedelta(seconds=int(header[5:])), usegmt=True)
    with Receiver([Answer(429, {"Retry-After": header})]) as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url)
        _, delivery_id, _ = hooks.event(endpoint_id)
        start = utcnow()
        hooks.deliver(now=start)
        wait = (hooks.delivery(delivery_id).next_attempt_at - start).total_seconds()
        assert at_least <= wait <= at_most
        assert hooks.deliver(now=start + timedelta(seconds=at_least - 0.1)) == 0
        assert hooks.deliver(now=start + timedelta(seconds=wait)) == 1
    assert len(receiver.received) == 2
    assert hooks.delivery(delivery_id).state == DeliveryState.SUCCEEDED


def test_receiver_slower_than_the_timeout_is_a_timeout_and_retried(hooks):
    release = threading.Event()
    with Receiver([Answer(200, block=release)]) as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url)
        _, delivery_id, _ = hooks.event(endpoint_id)
        started = time.monotonic()
        hooks.deliver(WEBHOOK_TIMEOUT=0.5)
        took = time.monotonic() - started
        release.set()
    assert took < 2
    [attempt] = hooks.attempts(delivery_id)
    assert (attempt.status_code, attempt.error_kind) == (None, "timeout")
    row = hooks.delivery(delivery_id)
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.PENDING, 1, "timeout")


def test_trickling_receiver_is_cut_at_the_total_timeout(hooks):
    with Receiver([Answer(200, body=b"x" * 10, delay=0.3)] * 1) as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url)
        _, delivery_id, _ = hooks.event(endpoint_id)
        hooks.deliver(WEBHOOK_TIMEOUT=0.2)
    assert hooks.attempts(delivery_id)[0].error_kind == "timeout"


def test_410_disables_the_endpoint_and_kills_its_pending_deliveries(hooks):
    with Receiver([Answer(410)]) as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url)
        _, first_id, _ = hooks.event(endpoint_id, 1)
        _, later_id, _ = hooks.event(endpoint_id, 2)
        start = utcnow()
        with hooks.in_app():
            assert delivery.deliver_due(hooks.config, now=start, limit=1) == 1
        assert hooks.deliver(now=start + timedelta(days=1)) == 0
    assert len(receiver.received) == 1
    endpoint = hooks.endpoint_row(endpoint_id)
    assert endpoint.enabled is False
    assert "410 Gone" in endpoint.disabled_reason
    assert [hooks.delivery(i).state for i in (first_id, later_id)] == [DeliveryState.DEAD] * 2
    assert hooks.delivery(later_id).next_attempt_at is None


def test_delivery_to_a_disabled_endpoint_is_logged_and_dead_without_a_request(hooks):
    with Receiver() as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url)
        _, delivery_id, _ = hooks.event(endpoint_id)
        with hooks.in_app() as session:
            session.get(WebhookEndpoint, endpoint_id).enabled = False
            session.commit()
        assert hooks.deliver() == 1
    assert receiver.received == []
    assert [a.error_kind for a in hooks.attempts(delivery_id)] == ["endpoint_disabled"]
    assert hooks.delivery(delivery_id).state == DeliveryState.DEAD


def test_redirect_is_not_followed_to_a_private_address(hooks, monkeypatch):
    public = ssrf.is_public
    monkeypatch.setattr(ssrf, "is_public", lambda address: address == "127.0.0.2" or public(address))
    with Receiver() as inside, Receiver([Answer(302, {"Location": inside.url})], host="127.0.0.2") as outside:
        endpoint_id, _ = hooks.endpoint(outside.url)  # 127.0.0.2 stands in for a public host
        _, delivery_id, _ = hooks.event(endpoint_id)
        hooks.deliver(WEBHOOK_ALLOW_PRIVATE=False)
    assert len(outside.received) == 1
    assert inside.received == [], "the redirect to 127.0.0.1 was not followed"
    [attempt] = hooks.attempts(delivery_id)
    assert (attempt.status_code, attempt.error_kind) == (302, "redirect")
    assert hooks.delivery(delivery_id).state == DeliveryState.PENDING, "a 3xx is a failure, retried"


def test_host_resolving_to_a_private_address_at_delivery_time_is_refused_then(hooks):
    with Receiver() as receiver:
        # created while private addresses were allowed (dev), delivered after they were not
        endpoint_id, _ = hooks.endpoint(receiver.url.replace("127.0.0.1", "localhost"))
        _, delivery_id, _ = hooks.event(endpoint_id)
        assert hooks.deliver(WEBHOOK_ALLOW_PRIVATE=False) == 1
        assert receiver.received == []
        [attempt] = hooks.attempts(delivery_id)
        assert (attempt.status_code, attempt.error_kind) == (None, "refused_address")
        assert "not public" in attempt.response_excerpt
        row = hooks.delivery(delivery_id)
        assert (row.state, row.attempts) == (DeliveryState.PENDING, 1), "retried: every attempt checks again"
        hooks.deliver(now=row.next_attempt_at, WEBHOOK_ALLOW_PRIVATE=True)
    assert len(receiver.received) == 1


def test_after_the_last_scheduled_retry_the_delivery_is_dead(hooks):
    with Receiver(default=Answer(500)) as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url)
        _, delivery_id, _ = hooks.event(endpoint_id)
        now = utcnow()
        for _ in range(len(delivery.SCHEDULE) + 1):
            assert hooks.deliver(now=now) == 1
            now = hooks.delivery(delivery_id).next_attempt_at or now
        row = hooks.delivery(delivery_id)
    assert len(receiver.received) == 8
    assert (row.state, row.attempts, row.next_attempt_at) == (DeliveryState.DEAD, 8, None)
    assert hooks.endpoint_row(endpoint_id).enabled, "about 27 h of failures is not 5 days"


def test_endpoint_failing_for_five_days_is_disabled_and_its_deliveries_dead(hooks):
    with Receiver(default=Answer(503)) as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url, failing_since=utcnow() - timedelta(days=5, minutes=1))
        _, first_id, _ = hooks.event(endpoint_id, 1)
        _, second_id, _ = hooks.event(endpoint_id, 2)
        with hooks.in_app():
            assert delivery.deliver_due(hooks.config, limit=1) == 1
    endpoint = hooks.endpoint_row(endpoint_id)
    assert endpoint.enabled is False
    assert "5 days without a successful delivery" in endpoint.disabled_reason
    assert [hooks.delivery(i).state for i in (first_id, second_id)] == [DeliveryState.DEAD] * 2


def test_during_a_rotation_both_secrets_sign_until_previous_until(hooks):
    old = signing.new_secret()
    with Receiver() as receiver:
        endpoint_id, new = hooks.endpoint(receiver.url, previous_secret_sealed=vault.seal(TEST_SECRET_KEY, old),
                                          previous_until=utcnow() + timedelta(hours=24))
        hooks.event(endpoint_id, 1)
        hooks.deliver()
        hooks.event(endpoint_id, 2)
        hooks.deliver(now=utcnow() + timedelta(hours=25))
    during, after = receiver.received
    assert len(during.headers["webhook-signature"].split()) == 2
    verify(old, during), verify(new, during)
    verify(new, after)
    with pytest.raises(Exception, match="No matching signature"):
        verify(old, after)


def test_secret_sealed_under_another_secret_key_is_logged_and_retried_without_a_request(hooks):
    with Receiver() as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url, secret_sealed=vault.seal("another" * 8, signing.new_secret()))
        _, delivery_id, _ = hooks.event(endpoint_id)
        assert hooks.deliver() == 1
    assert receiver.received == []
    assert [a.error_kind for a in hooks.attempts(delivery_id)] == ["secret_unreadable"]
    assert hooks.delivery(delivery_id).state == DeliveryState.PENDING


def test_only_64_kib_of_a_reply_is_read_and_1_kib_kept(hooks):
    with Receiver([Answer(200, body=b"a" * (1024 * 1024))]) as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url)
        _, delivery_id, _ = hooks.event(endpoint_id)
        hooks.deliver()
    [attempt] = hooks.attempts(delivery_id)
    assert (attempt.status_code, attempt.response_excerpt) == (200, "a" * 1024)


def test_unreachable_receiver_is_a_connect_error_and_retried(hooks):
    with Receiver() as receiver:
        url = receiver.url
    endpoint_id, _ = hooks.endpoint(url)
    _, delivery_id, _ = hooks.event(endpoint_id)
    hooks.deliver()
    assert hooks.attempts(delivery_id)[0].error_kind == "connect"
    assert hooks.delivery(delivery_id).state == DeliveryState.PENDING


def test_retry_after_parses_seconds_and_http_dates():
    assert sender.retry_after("120") == 120
    assert sender.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10
    assert sender.retry_after("soon") is None
    assert sender.retry_after(None) is None


def test_retry_delays_follow_the_schedule_within_the_jitter():
    for failed, step in enumerate(delivery.SCHEDULE, start=1):
        for _ in range(50):
            assert step * 0.8 <= delivery.next_delay(failed) <= step * 1.2


def test_on_sqlite_only_the_holder_of_the_redis_lock_delivers(hooks, app, redis_url):
    config = hooks.config.with_overrides(REDIS_URL=redis_url)
    held = redis.Redis.from_url(redis_url).lock(f"{config.RATE_LIMIT_KEY_PREFIX}:deliver", timeout=30)
    assert held.acquire(blocking=False)
    stopping = threading.Event()

    def work():
        with app.app_context():
            runner.run_deliverer(config, stop=stopping.is_set, standby_seconds=0.05)

    with Receiver() as receiver:
        endpoint_id, _ = hooks.endpoint(receiver.url)
        hooks.event(endpoint_id)
        worker = threading.Thread(target=work)
        worker.start()
        try:
            with app.app_context():
                on_sqlite = db.engine.dialect.name == "sqlite"
            time.sleep(1)
            assert len(receiver.received) == (0 if on_sqlite else 1), "PostgreSQL workers need no lock"
            held.release()
            wait_for(lambda: receiver.received, 10)
        finally:
            stopping.set()
            worker.join(10)
    assert not worker.is_alive()


def test_webhook_timeout_is_read_from_the_environment():
    assert Config.from_env({"WEBHOOK_TIMEOUT": "2.5"}).WEBHOOK_TIMEOUT == 2.5
    assert Config.from_env({}).WEBHOOK_TIMEOUT == 10
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(ValueError, match="WEBHOOK_TIMEOUT"):
            Config.from_env({"WEBHOOK_TIMEOUT": bad})


@pytest.mark.slow
def test_worker_killed_mid_delivery_sends_again_after_its_lease(hooks, database_url):
    release = threading.Event()
    with Receiver([Answer(200, block=release)]) as receiver:
        endpoint_id, secret = hooks.endpoint(receiver.url)
        event_id, delivery_id, _ = hooks.event(endpoint_id)
        env = {"DATABASE_URL": database_url, "TILLPOINT_ENV": "test", "SECRET_KEY": TEST_SECRET_KEY,
               "REDIS_URL": "", "WEBHOOK_TIMEOUT": "2"}  # lease: 3 timeouts = 6 s
        first = subprocess.Popen([str(TILLPOINT), "deliver"], env=_env(env), stderr=subprocess.DEVNULL)
        wait_for(lambda: receiver.received, 30)
        first.send_signal(signal.SIGKILL)
        first.wait()
        release.set()
        killed_at = utcnow()
        assert hooks.delivery(delivery_id).lease_until > killed_at, "killed while it held the lease"
        second = subprocess.Popen([str(TILLPOINT), "deliver"], env=_env(env), stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: hooks.delivery(delivery_id).state == DeliveryState.SUCCEEDED, 30, every=0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(10) == 0, "SIGTERM stops the worker cleanly"
    assert receiver.ids() == [event_id, event_id], "sent again, at least once"
    assert receiver.received[1].at - receiver.received[0].at >= 3, "not before the lease expired"
    verify(secret, receiver.received[1])
    assert [a.status_code for a in hooks.attempts(delivery_id)] == [200]


@pytest.mark.slow
@pytest.mark.postgresql
def test_two_workers_deliver_2000_events_each_exactly_once(hooks, database_url):
    with Receiver() as receiver:
        endpoint_id, secret = hooks.endpoint(receiver.url)
        with hooks.in_app() as session:
            endpoint = session.get(WebhookEndpoint, endpoint_id)
            ids = [events.record(hooks.merchant.id, "webhook.test", {"n": n}, endpoints=[endpoint]).id
                   for n in range(2000)]
            session.commit()
        env = _env({"DATABASE_URL": database_url, "TILLPOINT_ENV": "test", "SECRET_KEY": TEST_SECRET_KEY})
        workers = [subprocess.Popen([str(TILLPOINT), "deliver"], env=env, stderr=subprocess.DEVNULL)
                   for _ in range(2)]
        try:
            wait_for(lambda: _count_succeeded(hooks) == 2000, 120, every=0.2)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(15)
    got = receiver.ids()
    assert len(got) == 2000 and set(got) == set(ids), "each event delivered exactly once"
    for received in receiver.received[:20]:
        verify(secret, received)


def _count_succeeded(hooks) -> int:
    with hooks.in_app() as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.state == DeliveryState.SUCCEEDED))


def _env(extra: dict) -> dict:
    return {**os.environ, **extra}


def test_an_endpoint_url_http_cannot_send_fails_alone_and_the_batch_is_recorded(hooks):
    with Receiver() as receiver:
        good_id, _ = hooks.endpoint(receiver.url)
        bad_id, _ = hooks.endpoint(receiver.url + "/caf\u00e9")  # stored before non-ASCII URLs were refused
        _, good_delivery, _ = hooks.event(good_id)
        _, bad_delivery, _ = hooks.event(bad_id)
        assert hooks.deliver() == 2
    assert hooks.delivery(good_delivery).state == DeliveryState.SUCCEEDED
    assert [a.error_kind for a in hooks.attempts(bad_delivery)] == ["invalid_request"]
    assert hooks.delivery(bad_delivery).state == DeliveryState.PENDING  # retried, like any failure
