"""Webhook endpoints, their secrets, test events, the delivery log and redelivery over the API (real database;
secrets checked with the independent standardwebhooks verifier)."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app import create_app
from app.domain.statuses import DeliveryState
from app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from app.webhooks import endpoints, signing, vault

HOOK = "https://127.0.0.1:9/hook"  # private: allowed by the test config's default (WEBHOOK_ALLOW_PRIVATE unset)
PUBLIC_HOOK = "https://93.184.216.34/hook"  # a literal public address: no DNS needed


def create(client, headers, **body):
    """Create an endpoint; return the response."""
    return client.post("/api/webhooks", json={"url": HOOK, **body}, headers=headers)


@pytest.fixture
def hook(client, shop) -> dict:
    """An endpoint of the shop taking every event, as the create response returned it."""
    response = create(client, shop.headers, description="orders")
    assert response.status_code == 201, response.json
    return response.json


def stored(in_app, endpoint_id: str) -> WebhookEndpoint:
    with in_app() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        session.expunge(endpoint)
        return endpoint


def deliveries_of(in_app, endpoint_id: str) -> list[WebhookDelivery]:
    with in_app() as session:
        found = session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
                                .order_by(WebhookDelivery.id)).all()
        session.expunge_all()
        return list(found)


def send_tests(client, shop, endpoint_id: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = client.post(f"/api/webhooks/{endpoint_id}/test", headers=shop.headers)
        assert response.status_code == 202, response.json
        ids.append(response.json["eventId"])
    return ids


# ---- endpoints

def test_create_answers_the_endpoint_with_its_secret(hook):
    assert hook["id"].startswith("we_") and len(hook["id"]) == 19
    assert hook["secret"].startswith("whsec_")
    assert (hook["url"], hook["events"], hook["description"], hook["enabled"]) == (HOOK, ["*"], "orders", True)
    assert isinstance(hook["createdAt"], int)
    assert hook["disabledReason"] is None and hook["rotationEndsAt"] is None


def test_the_secret_never_appears_after_creation(client, shop, hook, in_app):
    secret = hook["secret"]
    answers = [client.get("/api/webhooks", headers=shop.headers),
               client.get(f"/api/webhooks/{hook['id']}", headers=shop.headers),
               client.patch(f"/api/webhooks/{hook['id']}", json={"description": "x"}, headers=shop.headers),
               client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=shop.headers)]
    for response in answers:
        assert response.status_code == 200
        assert secret not in response.get_data(as_text=True) and "secret" not in response.get_data(as_text=True)
    with in_app() as session:
        row = session.execute(select(WebhookEndpoint.__table__).where(WebhookEndpoint.id == hook["id"])).one()
        assert all(secret not in str(value) and secret.removeprefix("whsec_") not in str(value) for value in row)
        assert vault.unseal(client.application.config["TILLPOINT"].SECRET_KEY, row.secret_sealed) == secret


def test_the_secret_is_never_logged(client, shop, caplog):
    caplog.set_level("DEBUG")
    secret = create(client, shop.headers).json["secret"]
    assert secret not in caplog.text


def test_list_shows_only_the_merchants_own_endpoints(client, shop, hook, factory):
    other = factory.merchant("Other")
    create(client, {"x-api-key": factory.key(other)}, description="theirs")
    listed = client.get("/api/webhooks", headers=shop.headers).json["webhooks"]
    assert [e["id"] for e in listed] == [hook["id"]]


@pytest.mark.parametrize("events, stored_as", [
    (None, ["*"]), (["*"], ["*"]), (["order.paid", "*"], ["*"]),
    (["order.paid", "payment.received", "order.paid"], ["order.paid", "payment.received"]),
], ids=["absent", "star", "star-wins", "deduplicated"])
def test_events_absent_or_star_mean_every_event(client, shop, events, stored_as):
    body = {} if events is None else {"events": events}
    assert create(client, shop.headers, **body).json["events"] == stored_as


@pytest.mark.parametrize("events, named", [
    (["order.paid", "order.shipped", "nope"], "['order.shipped', 'nope']"),
    (["webhook.test"], "webhook.test cannot be subscribed to"),
    ([], "Length must be between 1"),
], ids=["unknown", "test-event", "empty"])
def test_unknown_event_types_are_refused_by_name(client, shop, events, named):
    response = create(client, shop.headers, events=events)
    assert response.status_code == 400 and response.json["error"] == "invalid_input"
    assert named in json.dumps(response.json["fields"]["events"])


def test_patch_changes_each_field(client, shop, hook):
    response = client.patch(f"/api/webhooks/{hook['id']}", headers=shop.headers, json={
        "url": "https://127.0.0.1:9/other", "events": ["order.paid"], "description": "paid only", "enabled": False})
    assert response.status_code == 200, response.json
    assert {k: response.json[k] for k in ("url", "events", "description", "enabled", "disabledReason")} == {
        "url": "https://127.0.0.1:9/other", "events": ["order.paid"], "description": "paid only",
        "enabled": False, "disabledReason": "disabled by the merchant"}
    again = client.get(f"/api/webhooks/{hook['id']}", headers=shop.headers).json
    assert again == response.json


def test_enabling_clears_the_disabled_reason_and_the_failure_clock(client, shop, hook, in_app):
    with in_app() as session:
        endpoint = session.get(WebhookEndpoint, hook["id"])
        endpoint.enabled, endpoint.disabled_reason = False, "410 Gone from the receiver"
        endpoint.failing_since = utcnow() - timedelta(days=5)
        session.commit()
    before = client.get(f"/api/webhooks/{hook['id']}", headers=shop.headers).json
    assert before["disabledReason"] == "410 Gone from the receiver" and before["failingSince"] is not None
    after = client.patch(f"/api/webhooks/{hook['id']}", json={"enabled": True}, headers=shop.headers).json
    assert (after["enabled"], after["disabledReason"], after["failingSince"]) == (True, None, None)


def test_disabling_ends_the_pending_deliveries(client, shop, hook, in_app):
    send_tests(client, shop, hook["id"], 2)
    client.patch(f"/api/webhooks/{hook['id']}", json={"enabled": False}, headers=shop.headers)
    found = deliveries_of(in_app, hook["id"])
    assert [(d.state, d.next_attempt_at, d.last_error) for d in found] == [
        (DeliveryState.DEAD, None, "endpoint disabled")] * 2


def test_delete_hides_the_endpoint_and_keeps_the_event_log(client, shop, hook, in_app):
    other = create(client, shop.headers).json
    event_id = send_tests(client, shop, hook["id"], 1)[0]
    response = client.delete(f"/api/webhooks/{hook['id']}", headers=shop.headers)
    assert response.status_code == 200 and response.json["enabled"] is False
    assert [e["id"] for e in client.get("/api/webhooks", headers=shop.headers).json["webhooks"]] == [other["id"]]
    for method, path in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/rotate-secret"),
                         ("POST", "/test"), ("GET", "/deliveries")]:
        again = client.open(f"/api/webhooks/{hook['id']}{path}", method=method, json={}, headers=shop.headers)
        assert again.status_code == 404, (method, path, again.json)
    logged = client.get(f"/api/events/{event_id}", headers=shop.headers).json["deliveries"]
    assert [(d["endpointId"], d["state"], d["lastError"]) for d in logged] == [(hook["id"], "dead", "endpoint deleted")]
    assert create(client, shop.headers).status_code == 201  # a deleted endpoint counts no more


def test_a_merchant_has_at_most_max_endpoints(client, shop, monkeypatch):
    monkeypatch.setattr(endpoints, "MAX_ENDPOINTS", 2)
    assert [create(client, shop.headers).status_code for _ in range(3)] == [201, 201, 409]


# ---- secrets and rotation

def test_rotation_signs_with_both_secrets_for_24_hours_then_only_the_new_one(client, shop, hook, in_app):
    old = hook["secret"]
    rotated = client.post(f"/api/webhooks/{hook['id']}/rotate-secret", headers=shop.headers)
    assert rotated.status_code == 200, rotated.json
    new = rotated.json["secret"]
    assert new.startswith("whsec_") and new != old
    ends = rotated.json["rotationEndsAt"] / 1000
    assert abs(ends - (time.time() + 24 * 3600)) < 60
    assert client.get(f"/api/webhooks/{hook['id']}", headers=shop.headers).json["rotationEndsAt"] == \
        rotated.json["rotationEndsAt"]
    body, msg_id, timestamp = b'{"type":"order.paid"}', "evt_rotation", int(time.time())
    with in_app():
        endpoint = stored(in_app, hook["id"])
        during = endpoints.secrets_in_use(endpoint, utcnow())
        after = endpoints.secrets_in_use(endpoint, endpoint.previous_until + timedelta(seconds=1))
    assert during == [new, old] and after == [new]
    signed_during = signing.headers(during, msg_id, timestamp, body)
    assert Webhook(old).verify(body, signed_during) and Webhook(new).verify(body, signed_during)
    signed_after = signing.headers(after, msg_id, timestamp, body)
    assert Webhook(new).verify(body, signed_after)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, signed_after)


def test_a_second_rotation_retires_the_oldest_secret_at_once(client, shop, hook, in_app):
    first = client.post(f"/api/webhooks/{hook['id']}/rotate-secret", headers=shop.headers).json["secret"]
    second = client.post(f"/api/webhooks/{hook['id']}/rotate-secret", headers=shop.headers).json["secret"]
    with in_app():
        assert endpoints.secrets_in_use(stored(in_app, hook["id"]), utcnow()) == [second, first]


# ---- URL checks

@pytest.fixture
def strict_client(app):
    """A client of an app that refuses private webhook addresses (as production does)."""
    return create_app(app.config["TILLPOINT"].with_overrides(WEBHOOK_ALLOW_PRIVATE=False)).test_client()


@pytest.mark.parametrize("url, reason", [
    ("https://127.0.0.1/", "127.0.0.1 resolves to an address that is not public"),
    ("https://10.0.0.1/", "10.0.0.1 resolves to an address that is not public"),
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254 resolves to an address that is not public"),
    ("https://[::1]/", "::1 resolves to an address that is not public"),
    ("https://localhost:8443/hook", "localhost resolves to an address that is not public"),
    ("https://[::ffff:10.0.0.1]/", "an address that is not public"),
    ("https://[64:ff9b::a9fe:a9fe]/", "an address that is not public"),
    ("https://[2002:7f00:1::]/", "an address that is not public"),
    ("https://user:pw@93.184.216.34/", "must not carry credentials"),
    ("ftp://93.184.216.34/", "the URL must start with"),
    ("https://no-such-host.invalid/", "does not resolve"),
    ("https://93.184.216.34/caf\u00e9", "non-ASCII"),
], ids=["loopback", "private", "metadata", "ipv6-loopback", "localhost", "mapped-private", "nat64-metadata",
        "6to4-loopback", "credentials", "ftp", "unresolvable", "non-ascii"])
def test_unsafe_urls_are_refused_with_the_reason(strict_client, shop, hook, url, reason):
    for response in (create(strict_client, shop.headers, url=url),
                     strict_client.patch(f"/api/webhooks/{hook['id']}", json={"url": url}, headers=shop.headers)):
        assert response.status_code == 400 and response.json["error"] == "invalid_input"
        assert reason in response.json["fields"]["url"][0], response.json


def test_a_public_address_is_accepted_when_private_ones_are_not(strict_client, shop):
    response = create(strict_client, shop.headers, url=PUBLIC_HOOK)
    assert response.status_code == 201 and response.json["url"] == PUBLIC_HOOK


def test_plain_http_is_refused_outside_dev(app, client, shop):
    production = create_app(app.config["TILLPOINT"].with_overrides(ENV="production")).test_client()
    response = create(production, shop.headers, url="http://93.184.216.34/hook")
    assert response.status_code == 400 and response.json["fields"]["url"] == ["the URL must start with https://"]
    assert create(client, shop.headers, url="http://127.0.0.1:9/hook").status_code == 201  # dev/test allows it


# ---- scopes and tenancy

def test_webhooks_need_their_scopes(client, shop, hook, factory):
    read_only = {"x-api-key": factory.key(shop.merchant, ["webhooks:read"])}
    assert client.get("/api/webhooks", headers=read_only).status_code == 200
    refused = create(client, read_only)
    assert (refused.status_code, refused.json["error"]) == (403, "insufficient_scope")
    no_webhooks = {"x-api-key": factory.key(shop.merchant, ["receipts:read"])}
    assert client.get(f"/api/webhooks/{hook['id']}", headers=no_webhooks).status_code == 403
    assert client.get("/api/webhooks").status_code == 401


def test_a_signed_in_merchant_manages_its_webhooks(merchant_wallet):
    response = merchant_wallet.client.post("/api/webhooks", json={"url": HOOK}, headers=merchant_wallet.csrf())
    assert response.status_code == 201, response.json
    assert merchant_wallet.client.get("/api/webhooks").json["webhooks"][0]["id"] == response.json["id"]


def test_another_merchants_endpoint_and_event_are_404(client, shop, hook, factory, in_app):
    event_id = send_tests(client, shop, hook["id"], 1)[0]
    intruder = {"x-api-key": factory.key(factory.merchant("Intruder"))}
    requests = [("GET", f"/api/webhooks/{hook['id']}"), ("PATCH", f"/api/webhooks/{hook['id']}"),
                ("DELETE", f"/api/webhooks/{hook['id']}"), ("POST", f"/api/webhooks/{hook['id']}/rotate-secret"),
                ("POST", f"/api/webhooks/{hook['id']}/test"), ("GET", f"/api/webhooks/{hook['id']}/deliveries"),
                ("GET", f"/api/events/{event_id}"), ("POST", f"/api/events/{event_id}/redeliver"),
                ("POST", f"/api/events/{event_id}/redeliver?endpoint={hook['id']}")]
    for method, path in requests:
        response = client.open(path, method=method, json={"description": "mine"}, headers=intruder)
        assert (response.status_code, response.json["error"]) == (404, "not_found"), (method, path)
    mine = client.get(f"/api/webhooks/{hook['id']}", headers=shop.headers).json
    assert (mine["description"], mine["enabled"], mine["rotationEndsAt"]) == ("orders", True, None)
    with in_app():
        assert endpoints.secrets_in_use(stored(in_app, hook["id"]), utcnow()) == [hook["secret"]]


MALFORMED = [
    ("POST", "/api/webhooks", "not json", "invalid_input"),
    ("POST", "/api/webhooks", [HOOK], "invalid_input"),
    ("POST", "/api/webhooks", {}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": 42}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": HOOK, "events": "order.paid"}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": HOOK, "events": [1, None]}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": HOOK, "description": "x" * 501}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": HOOK, "secret": "whsec_mine"}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": "https://" + "a" * 2050}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": "https://"}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": "https://[::1"}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": "https://127.0.0.1:99999/"}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": "https://\u2603\u2603.\u2603/"}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": "https://a\x00b/"}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": "https://127.0.0.1/a\r\nHost: evil"}, "invalid_input"),
    ("POST", "/api/webhooks", {"url": "https://127.0.0.1/a b"}, "invalid_input"),
    ("PATCH", "/api/webhooks/{id}", {"enabled": "yes"}, "invalid_input"),
    ("PATCH", "/api/webhooks/{id}", {"url": None}, "invalid_input"),
    ("PATCH", "/api/webhooks/{id}", {"id": "we_other"}, "invalid_input"),
    ("GET", "/api/webhooks/{id}/deliveries?limit=0", None, "invalid_input"),
    ("GET", "/api/webhooks/{id}/deliveries?limit=abc", None, "invalid_input"),
    ("GET", "/api/webhooks/{id}/deliveries?state=lost", None, "invalid_input"),
    ("GET", "/api/webhooks/{id}/deliveries?cursor=not-a-cursor", None, "invalid_input"),
    ("GET", "/api/webhooks/{id}/deliveries?cursor=eyJ2IjoxLCJiZWZvcmUiOjFlOTl9", None, "invalid_input"),
    ("GET", "/api/webhooks/{id}/deliveries?cursor=WzFd", None, "invalid_input"),
    ("GET", "/api/webhooks/we_" + "x" * 300, None, "not_found"),
    ("GET", "/api/events/evt_" + "x" * 300, None, "not_found"),
    ("POST", "/api/events/evt_nothing/redeliver?endpoint=" + "x" * 100, None, "invalid_input"),
]


@pytest.mark.parametrize("method, path, body, error", MALFORMED, ids=[f"{m} {p[:40]} {str(b)[:30]}"
                                                                      for m, p, b, _ in MALFORMED])
def test_malformed_input_is_refused_never_500(client, shop, hook, method, path, body, error):
    url = path.replace("{id}", hook["id"])
    if isinstance(body, str):
        response = client.open(url, method=method, data=body, content_type="application/json", headers=shop.headers)
    else:
        response = client.open(url, method=method, json=body, headers=shop.headers)
    assert response.status_code in (400, 404) and response.json["error"] == error, response.json


# ---- test events and the delivery log

def test_the_test_route_creates_exactly_one_delivery_to_that_endpoint(client, shop, hook, in_app):
    other = create(client, shop.headers).json
    event_id = send_tests(client, shop, hook["id"], 1)[0]
    assert event_id.startswith("evt_")
    with in_app() as session:
        event = session.get(WebhookEvent, event_id)
        assert event.type == "webhook.test"
        assert [(d.endpoint_id, d.state) for d in event.deliveries] == [(hook["id"], DeliveryState.PENDING)]
        assert json.loads(event.body)["data"]["endpointId"] == hook["id"]
    assert deliveries_of(in_app, other["id"]) == []


def test_a_disabled_endpoint_cannot_be_tested(client, shop, hook):
    client.patch(f"/api/webhooks/{hook['id']}", json={"enabled": False}, headers=shop.headers)
    response = client.post(f"/api/webhooks/{hook['id']}/test", headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (409, "conflict")
    assert "disabled by the merchant" in response.json["message"]


def test_deliveries_page_newest_first_with_an_opaque_cursor(client, shop, hook):
    sent = send_tests(client, shop, hook["id"], 5)
    seen, cursor, pages = [], None, 0
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = client.get(f"/api/webhooks/{hook['id']}/deliveries{query}", headers=shop.headers).json
        seen += [d["eventId"] for d in page["deliveries"]]
        pages, cursor = pages + 1, page["nextCursor"]
        if cursor is None:
            break
        assert not cursor.isdigit()
    assert seen == sent[::-1] and pages == 3


def test_deliveries_filter_by_state_and_show_their_attempts(client, shop, hook, in_app):
    sent = send_tests(client, shop, hook["id"], 3)
    at = utcnow()
    with in_app() as session:
        delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.event_id == sent[1]))
        delivery.state, delivery.attempts, delivery.next_attempt_at = DeliveryState.DEAD, 2, None
        session.add_all([
            WebhookAttempt(delivery_id=delivery.id, at=at, duration_ms=12, status_code=500, error_kind="status",
                           response_excerpt="boom"),
            WebhookAttempt(delivery_id=delivery.id, at=at + timedelta(seconds=5), duration_ms=10_000,
                           status_code=None, error_kind="timeout", response_excerpt=None)])
        session.commit()
    dead = client.get(f"/api/webhooks/{hook['id']}/deliveries?state=dead", headers=shop.headers).json["deliveries"]
    assert [(d["eventId"], d["eventType"], d["state"], d["attemptCount"]) for d in dead] == [
        (sent[1], "webhook.test", "dead", 2)]
    assert dead[0]["attempts"] == [
        {"at": int(at.timestamp() * 1000), "durationMs": 12, "statusCode": 500, "errorKind": "status",
         "responseExcerpt": "boom"},
        {"at": int(at.timestamp() * 1000) + 5000, "durationMs": 10_000, "statusCode": None, "errorKind": "timeout",
         "responseExcerpt": None}]
    pending = client.get(f"/api/webhooks/{hook['id']}/deliveries?state=pending", headers=shop.headers).json
    assert [d["eventId"] for d in pending["deliveries"]] == [sent[2], sent[0]]


def test_an_event_shows_its_body_and_deliveries(client, shop, hook, in_app):
    event_id = send_tests(client, shop, hook["id"], 1)[0]
    response = client.get(f"/api/events/{event_id}", headers=shop.headers)
    assert response.status_code == 200
    with in_app() as session:
        body = json.loads(session.get(WebhookEvent, event_id).body)
    assert response.json["body"] == body and body["id"] == event_id and body["merchantId"] == shop.merchant.wallet
    assert (response.json["id"], response.json["type"], response.json["sequence"]) == (event_id, "webhook.test", None)
    assert [d["endpointId"] for d in response.json["deliveries"]] == [hook["id"]]


def test_an_order_event_reaches_each_subscribed_endpoint(client, shop, hook):
    paid_only = create(client, shop.headers, events=["order.paid"]).json
    order = client.post("/api/orders", json={"items": [{"sku": "COFFEE-001", "qty": 1}]}, headers=shop.headers)
    assert order.status_code in (200, 201), order.json
    every = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=shop.headers).json["deliveries"]
    assert [d["eventType"] for d in every] == ["order.created"]
    assert client.get(f"/api/webhooks/{paid_only['id']}/deliveries", headers=shop.headers).json["deliveries"] == []
    event = client.get(f"/api/events/{every[0]['eventId']}", headers=shop.headers).json
    assert event["sequence"] == 1 and event["body"]["data"]["receipt"]["receiptId"] == \
        order.json["receipt"]["receiptId"]


# ---- redelivery

def kill(in_app, event_id: str) -> None:
    """Mark the event's deliveries dead after a full retry schedule, as the worker does."""
    with in_app() as session:
        for delivery in session.get(WebhookEvent, event_id).deliveries:
            delivery.state, delivery.attempts, delivery.next_attempt_at = DeliveryState.DEAD, 8, None
            delivery.last_error = "retries exhausted"
        session.commit()


def test_redeliver_puts_a_dead_delivery_back_to_pending_due_now(client, shop, hook, in_app):
    event_id = send_tests(client, shop, hook["id"], 1)[0]
    kill(in_app, event_id)
    before = utcnow()
    response = client.post(f"/api/events/{event_id}/redeliver", headers=shop.headers)
    assert response.status_code == 202, response.json
    assert [(d["state"], d["attemptCount"]) for d in response.json["deliveries"]] == [("pending", 0)]
    [delivery] = deliveries_of(in_app, hook["id"])
    assert delivery.state == DeliveryState.PENDING and before <= delivery.next_attempt_at <= utcnow()


def test_redeliver_to_one_endpoint_leaves_the_others(client, shop, hook, in_app):
    other = create(client, shop.headers).json
    client.post("/api/orders", json={"items": [{"sku": "COFFEE-001", "qty": 1}]}, headers=shop.headers)
    event_id = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=shop.headers).json["deliveries"][0][
        "eventId"]
    kill(in_app, event_id)
    response = client.post(f"/api/events/{event_id}/redeliver?endpoint={other['id']}", headers=shop.headers)
    states = {d["endpointId"]: d["state"] for d in response.json["deliveries"]}
    assert states == {hook["id"]: "dead", other["id"]: "pending"}


def test_redeliver_to_an_endpoint_added_after_the_event_sends_it_there(client, shop, hook, in_app):
    event_id = send_tests(client, shop, hook["id"], 1)[0]
    later = create(client, shop.headers).json
    response = client.post(f"/api/events/{event_id}/redeliver?endpoint={later['id']}", headers=shop.headers)
    assert sorted((d["endpointId"], d["state"]) for d in response.json["deliveries"]) == sorted(
        [(hook["id"], "pending"), (later["id"], "pending")])
    assert len(deliveries_of(in_app, later["id"])) == 1


def test_redeliver_skips_disabled_endpoints_and_refuses_to_name_one(client, shop, hook, in_app):
    event_id = send_tests(client, shop, hook["id"], 1)[0]
    client.patch(f"/api/webhooks/{hook['id']}", json={"enabled": False}, headers=shop.headers)
    response = client.post(f"/api/events/{event_id}/redeliver", headers=shop.headers)
    assert response.status_code == 202 and [d["state"] for d in response.json["deliveries"]] == ["dead"]
    named = client.post(f"/api/events/{event_id}/redeliver?endpoint={hook['id']}", headers=shop.headers)
    assert (named.status_code, named.json["error"]) == (409, "conflict")
