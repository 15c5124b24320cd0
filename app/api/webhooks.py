"""Webhook routes (webhooks:read / webhooks:write): endpoints, their secrets and test events, the delivery log
and redelivery. The services are app/webhooks/endpoints.py and app/webhooks/log.py."""
from __future__ import annotations

from flask import jsonify, request

from app.api import bp
from app.api.webhook_schemas import (
    EventLogSchema,
    RedeliverQuerySchema,
    WebhookDeliveryPageSchema,
    WebhookDeliveryQuerySchema,
    WebhookEndpointCreateSchema,
    WebhookEndpointListSchema,
    WebhookEndpointSchema,
    WebhookEndpointUpdateSchema,
    WebhookEndpointWithSecretSchema,
    WebhookTestSentSchema,
)
from app.auth.keys import current_merchant, requires
from app.fields import json_object, load
from app.openapi import doc
from app.webhooks import endpoints, log


@bp.post("/webhooks")
@requires("webhooks:write")
@doc("Add a webhook endpoint; its signing secret is in this response only", WebhookEndpointWithSecretSchema,
     request=WebhookEndpointCreateSchema, status=201, errors=(409, 413))
def create_webhook():
    data = load(WebhookEndpointCreateSchema(), json_object())
    endpoint, secret = endpoints.create(current_merchant(), data["url"], data["events"], data["description"])
    return jsonify(WebhookEndpointWithSecretSchema().dump((endpoint, secret))), 201


@bp.get("/webhooks")
@requires("webhooks:read")
@doc("List the merchant's webhook endpoints (never their secrets)", WebhookEndpointListSchema)
def list_webhooks():
    return jsonify(WebhookEndpointListSchema().dump({"webhooks": endpoints.list_endpoints(current_merchant())}))


@bp.get("/webhooks/<webhook_id>")
@requires("webhooks:read")
@doc("One webhook endpoint", WebhookEndpointSchema, errors=(404,))
def get_webhook(webhook_id: str):
    return jsonify(WebhookEndpointSchema().dump(endpoints.get(current_merchant(), webhook_id)))


@bp.patch("/webhooks/<webhook_id>")
@requires("webhooks:write")
@doc("Change an endpoint's url, events, description or enabled; disabling ends its pending deliveries",
     WebhookEndpointSchema, request=WebhookEndpointUpdateSchema, errors=(404, 413))
def update_webhook(webhook_id: str):
    changes = load(WebhookEndpointUpdateSchema(), json_object())
    return jsonify(WebhookEndpointSchema().dump(endpoints.update_endpoint(current_merchant(), webhook_id, changes)))


@bp.delete("/webhooks/<webhook_id>")
@requires("webhooks:write")
@doc("Delete an endpoint: nothing more is sent to it; its past deliveries stay in the events' logs",
     WebhookEndpointSchema, errors=(404,))
def delete_webhook(webhook_id: str):
    return jsonify(WebhookEndpointSchema().dump(endpoints.delete(current_merchant(), webhook_id)))


@bp.post("/webhooks/<webhook_id>/rotate-secret")
@requires("webhooks:write")
@doc("Give the endpoint a new secret (in this response only); the old one also signs for 24 hours",
     WebhookEndpointWithSecretSchema, errors=(404,))
def rotate_webhook_secret(webhook_id: str):
    endpoint, secret = endpoints.rotate_secret(current_merchant(), webhook_id)
    return jsonify(WebhookEndpointWithSecretSchema().dump((endpoint, secret)))


@bp.post("/webhooks/<webhook_id>/test")
@requires("webhooks:write")
@doc("Send a webhook.test event to this endpoint only, now", WebhookTestSentSchema, status=202, errors=(404, 409))
def test_webhook(webhook_id: str):
    event = endpoints.send_test(current_merchant(), webhook_id)
    return jsonify(WebhookTestSentSchema().dump({"event_id": event.id})), 202


@bp.get("/webhooks/<webhook_id>/deliveries")
@requires("webhooks:read")
@doc("The endpoint's deliveries with their attempts, newest first", WebhookDeliveryPageSchema,
     query=WebhookDeliveryQuerySchema, errors=(404,))
def list_webhook_deliveries(webhook_id: str):
    query = load(WebhookDeliveryQuerySchema(), request.args.to_dict())
    page, next_cursor = log.deliveries(current_merchant(), webhook_id, **query)
    return jsonify(WebhookDeliveryPageSchema().dump({"deliveries": page, "next_cursor": next_cursor}))


@bp.get("/events/<event_id>")
@requires("webhooks:read")
@doc("One webhook event: its body as sent, and its deliveries with their attempts", EventLogSchema, errors=(404,))
def get_event(event_id: str):
    return jsonify(EventLogSchema().dump(log.event(current_merchant(), event_id)))


@bp.post("/events/<event_id>/redeliver")
@requires("webhooks:write")
@doc("Send the event again: its deliveries (or the one to ?endpoint=) go back to pending, due now",
     EventLogSchema, query=RedeliverQuerySchema, status=202, errors=(404, 409))
def redeliver_event(event_id: str):
    query = load(RedeliverQuerySchema(), request.args.to_dict())
    return jsonify(EventLogSchema().dump(log.redeliver(current_merchant(), event_id, query["endpoint"]))), 202
