"""The OpenAPI document as a client generator reads it: valid 3.1, ids, tags, security, the 429, servers,
upload bodies, and webhook payload schemas that real event bodies match."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app import create_app
from app.auth.keys import requires
from app.domain.statuses import OrderStatus, RefundStatus
from app.models import Order, Payment, Refund, WebhookEvent
from app.openapi import build_spec, doc
from app.api.schemas import ReceiptEnvelopeSchema
from app.services import lifecycle
from app.webhooks import events
from app.webhooks.events import EVENT_TYPES
from app.webhooks.payloads import EventSchema, event_payloads

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
BODY = {"items": [{"sku": "FOOD-001", "qty": 1}]}


@pytest.fixture
def spec(client) -> dict:
    return client.get("/api/openapi.json").json


def operations(spec: dict):
    """Yield (path or webhook name, method, operation) for every operation of the document."""
    for section in ("paths", "webhooks"):
        for name, item in spec.get(section, {}).items():
            for method, operation in item.items():
                if method in HTTP_METHODS:
                    yield name, method, operation


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_every_operation_has_a_unique_operation_id_and_a_tag(spec):
    ids = [op.get("operationId") for _, _, op in operations(spec)]
    assert all(ids) and len(ids) == len(set(ids))
    assert all(op.get("tags") for _, _, op in operations(spec))
    used = {tag for _, _, op in operations(spec) for tag in op["tags"]}
    assert used == {tag["name"] for tag in spec["tags"]}
    assert {"orders", "receipts", "refunds", "inventory", "shop", "split", "keys", "ledger", "auth", "pay", "meta",
            "webhooks", "events"} <= used
    create = spec["paths"]["/api/orders"]["post"]
    assert (create["operationId"], create["tags"]) == ("createOrder", ["orders"])
    event = spec["paths"]["/api/events/{event_id}"]["get"]  # kept in app/api/webhooks.py
    assert (event["operationId"], event["tags"]) == ("getEvent", ["events"])


def test_every_api_operation_declares_the_429_and_the_rate_limit_headers(spec):
    api = [(path, op) for path, _, op in operations(spec) if path.startswith("/api/")]
    assert len(api) >= 19
    for path, op in api:
        assert op["responses"]["429"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/RateLimited"}, path
        for response in op["responses"].values():
            assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response["headers"])
        assert "Retry-After" in op["responses"]["429"]["headers"]
    assert "resetAt" in spec["components"]["schemas"]["RateLimited"]["required"]
    assert "429" not in spec["paths"]["/healthz"]["get"]["responses"], "health checks are never limited"


def test_key_headers_and_the_session_are_security_schemes_each_operation_names(spec):
    schemes = spec["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {
        ("header", "Ocp-Apim-Subscription-Key"), ("header", "x-api-key"), ("cookie", "cb_auth_token"),
        ("header", "x-wallet")}
    assert spec["paths"]["/api/inventory"]["get"]["security"] == [
        {"subscriptionKey": ["inventory:read"]}, {"apiKey": ["inventory:read"]}, {"session": []}, {"wallet": []}]
    assert spec["paths"]["/auth/me"]["get"]["security"] == [{"session": []}]
    assert spec["paths"]["/pay/{receipt_id}"]["get"]["security"] == []
    assert all("security" in op for item in spec["paths"].values() for op in item.values())


@pytest.mark.parametrize("public_url, server", [("", "/"), ("https://pay.example.com", "https://pay.example.com")],
                         ids=["relative", "public-url"])
def test_servers_name_the_public_url_when_set(app, public_url, server):
    configured = create_app(app.config["TILLPOINT"].with_overrides(PUBLIC_URL=public_url))
    assert configured.test_client().get("/api/openapi.json").json["servers"] == [{"url": server}]


def test_idempotency_key_and_image_upload_bodies_are_documented(spec):
    [header] = [p for p in spec["paths"]["/api/orders"]["post"]["parameters"] if p["in"] == "header"]
    assert (header["name"], header["required"], header["schema"]["maxLength"]) == ("Idempotency-Key", False, 255)
    for path in ("/api/shop/logo", "/api/inventory/{item_id}/image"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        assert {"image/png", "image/jpeg", "image/webp", "multipart/form-data"} <= set(content)
        assert content["multipart/form-data"]["schema"]["required"] == ["image"]


def test_routes_added_later_get_ids_tags_security_and_the_429_without_edits(app):
    """Routes shaped like the webhooks ones: one view for several methods, a resource kept in another's module."""
    fresh = create_app(app.config["TILLPOINT"])

    def one_view(hook_id):
        return ""

    def get_notice(notice_id):
        return ""

    def rotate_hook_secret(hook_id):
        return ""

    for view in (one_view, get_notice, rotate_hook_secret):
        view.__module__ = "app.api.webhooks"
    fresh.add_url_rule("/api/hooks/<hook_id>", "api.hook",
                       requires("webhooks:write")(doc("One endpoint", ReceiptEnvelopeSchema)(one_view)),
                       methods=["GET", "PATCH", "DELETE"])
    rotate = requires("webhooks:write")(doc("Rotate", ReceiptEnvelopeSchema)(rotate_hook_secret))
    for method in ("POST", "PUT"):  # one view on two rules, as stacked @bp.post and @bp.put make it
        fresh.add_url_rule("/api/hooks/<hook_id>/rotate-secret", "api.rotate_hook_secret", rotate, methods=[method])
    fresh.add_url_rule("/api/notices/<notice_id>", "api.get_notice",
                       requires("webhooks:read")(doc("One notice", ReceiptEnvelopeSchema)(get_notice)))
    paths = build_spec(fresh)["paths"]
    assert {m: op["operationId"] for m, op in paths["/api/hooks/{hook_id}"].items()} == {
        "get": "getHook", "patch": "patchHook", "delete": "deleteHook"}
    assert {m: op["operationId"] for m, op in paths["/api/hooks/{hook_id}/rotate-secret"].items()} == {
        "post": "postRotateHookSecret", "put": "putRotateHookSecret"}
    notice = paths["/api/notices/{notice_id}"]["get"]
    assert (notice["operationId"], notice["tags"]) == ("getNotice", ["notices"])
    assert paths["/api/hooks/{hook_id}"]["get"]["tags"] == ["hooks"], "a segment naming no module is the tag"
    assert paths["/api/receipts/{receipt_id}/refund"]["post"]["tags"] == ["refunds"], "else the module is"
    assert notice["security"][0] == {"subscriptionKey": ["webhooks:read"]} and "429" in notice["responses"]


def test_two_operations_with_one_id_are_refused(app):
    fresh = create_app(app.config["TILLPOINT"])
    twin = doc("Twin", ReceiptEnvelopeSchema)(lambda: "")
    fresh.add_url_rule("/api/one", "api.twin", twin)
    fresh.add_url_rule("/api/two", "api.twin", twin)
    with pytest.raises(ValueError, match="operationId twin"):
        build_spec(fresh)


def test_every_event_type_is_a_webhook_with_its_payload_schema(spec):
    assert set(spec["webhooks"]) == set(EVENT_TYPES)
    paid = spec["webhooks"]["order.paid"]["post"]
    assert {p["name"] for p in paid["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    schema = spec["components"]["schemas"]["OrderPaidEvent"]
    assert schema["properties"]["type"]["const"] == "order.paid"
    assert schema["properties"]["data"] == {"$ref": "#/components/schemas/StatusEventData"}
    assert spec["components"]["schemas"]["PaymentReceivedEvent"]["properties"]["data"] == {
        "$ref": "#/components/schemas/PaymentEventData"}


def event_validator(spec: dict, type_: str) -> OAS31Validator:
    """Return a validator of the document's schema for events of type_."""
    name = "".join(part.capitalize() for part in type_.replace("_", ".").split(".")) + "Event"
    registry = Registry().with_resource("urn:tillpoint", Resource.from_contents(spec, DRAFT202012))
    return OAS31Validator({"$ref": f"urn:tillpoint#/components/schemas/{name}"}, registry=registry)


def test_real_event_bodies_match_the_published_schemas(spec, client, shop, in_app):
    receipt_id = client.post("/api/orders", json=BODY, headers=shop.headers).json["receipt"]["receiptId"]
    at = datetime(2026, 1, 2, tzinfo=timezone.utc)
    with in_app() as session:
        order = session.query(Order).filter_by(receipt_id=receipt_id).one()
        payment = Payment(chain_id=31337, tx_hash="0x" + "a" * 64, log_index=0, block_number=7,
                          block_hash="0x" + "b" * 64, block_time=at, symbol="USDC", token_address="0x" + "c" * 40,
                          from_address="0x" + "d" * 40, amount_base_units=10_830_000, usd_cents=1083, late=False)
        order.payments.append(payment)
        session.flush()
        events.payment_received(order, payment, after_settlement=False)
        lifecycle.move(order, OrderStatus.EXPIRED, "test", {"reason": "quote expired"})
        refund = Refund(id="rf_test", status=RefundStatus.CONFIRMED, chain_id=8453, symbol="USDC", token_address=None,
                        amount_base_units=1_000_000, usd_cents=100, to_address="0x" + "d" * 40, to_source="payer",
                        items=[],
                        tx_hash="0x" + "e" * 64, block_number=9, paid_base_units=1_000_000, created_at=at,
                        confirmed_at=at)
        order.refunds.append(refund)
        session.flush()
        events.refund_event(order, refund, "refund.confirmed")
        session.commit()
        bodies = [json.loads(e.body) for e in session.query(WebhookEvent).order_by(WebhookEvent.sequence)]
    assert [b["type"] for b in bodies] == ["order.created", "payment.received", "order.expired", "refund.confirmed"]
    for body in bodies:
        errors = [(list(e.absolute_path), e.message) for e in event_validator(spec, body["type"]).iter_errors(body)]
        assert not errors, (body["type"], errors)
    assert not event_validator(spec, "order.paid").is_valid(bodies[2]), "the type is pinned per schema"
    broken = {**bodies[1], "data": {**bodies[1]["data"], "payment": {"txHash": "0x"}}}
    assert not event_validator(spec, "payment.received").is_valid(broken)


def test_the_envelope_schema_names_every_field_events_write():
    assert set(EventSchema().fields) == {"id", "type", "createdAt", "merchantId", "data"}
    assert set(event_payloads()) == set(EVENT_TYPES)
