"""Marshmallow schemas of the webhook routes (endpoints, delivery log, events): what each accepts and returns."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.domain.statuses import DeliveryState
from app.fields import Millis, strict_boolean
from app.webhooks import endpoints
from app.webhooks.endpoints import SUBSCRIBABLE
from app.webhooks.events import ALL

EVENT_NAME = fields.String(validate=validate.Length(1, 64), metadata={"enum": [ALL, *SUBSCRIBABLE]})
EVENTS_HELP = ('event types to send; ["*"] (the default) for all. webhook.test is sent only by '
               "POST /api/webhooks/{webhook_id}/test.")


class WebhookEndpointCreateSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(1, 2048),
                        metadata={"description": "https:// outside dev/test; must resolve to public addresses"})
    events = fields.List(EVENT_NAME, load_default=None, validate=validate.Length(1, 64),
                         metadata={"description": EVENTS_HELP})
    description = fields.String(load_default="", validate=validate.Length(max=500))


class WebhookEndpointUpdateSchema(Schema):
    url = fields.String(validate=validate.Length(1, 2048))
    events = fields.List(EVENT_NAME, validate=validate.Length(1, 64), metadata={"description": EVENTS_HELP})
    description = fields.String(validate=validate.Length(max=500))
    enabled = strict_boolean(metadata={"description": "true also clears disabledReason and failingSince"})


class WebhookEndpointSchema(Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String()
    enabled = fields.Boolean()
    disabled_reason = fields.String(data_key="disabledReason", allow_none=True)
    failing_since = Millis(data_key="failingSince", allow_none=True,
                           metadata={"description": "first failed attempt since the last success, ms"})
    rotation_ends_at = Millis(data_key="rotationEndsAt", allow_none=True,
                              metadata={"description": "while the previous secret still signs: until when, ms"})
    created_at = Millis(data_key="createdAt")
    updated_at = Millis(data_key="updatedAt")

    def get_attribute(self, obj, attr, default):
        """Return rotation_ends_at from the endpoint's rotation, the rest from its columns."""
        if attr == "rotation_ends_at":
            return endpoints.rotation_ends_at(obj)
        return super().get_attribute(obj, attr, default)


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    """Dumps (endpoint, secret)."""

    secret = fields.String(metadata={"description": "whsec_…: shown only in this response"})

    def get_attribute(self, obj, attr, default):
        """Return the secret of the pair, or the endpoint's attribute."""
        endpoint, secret = obj
        return secret if attr == "secret" else super().get_attribute(endpoint, attr, default)


class WebhookEndpointListSchema(Schema):
    webhooks = fields.List(fields.Nested(WebhookEndpointSchema))


class WebhookTestSentSchema(Schema):
    event_id = fields.String(data_key="eventId", metadata={"description": "the webhook.test event (evt_…)"})


class WebhookAttemptSchema(Schema):
    at = Millis()
    duration_ms = fields.Integer(data_key="durationMs")
    status_code = fields.Integer(data_key="statusCode", allow_none=True)
    error_kind = fields.String(data_key="errorKind", allow_none=True)
    response_excerpt = fields.String(data_key="responseExcerpt", allow_none=True,
                                     metadata={"description": "the first 1 KiB of the reply"})


class WebhookDeliverySchema(Schema):
    id = fields.Integer(attribute="delivery.id")
    event_id = fields.String(attribute="delivery.event_id", data_key="eventId")
    event_type = fields.String(attribute="event.type", data_key="eventType")
    endpoint_id = fields.String(attribute="delivery.endpoint_id", data_key="endpointId")
    state = fields.String(attribute="delivery.state", metadata={"enum": [s.value for s in DeliveryState]})
    attempt_count = fields.Integer(attribute="delivery.attempts", data_key="attemptCount",
                                   metadata={"description": "attempts in the current retry schedule"})
    next_attempt_at = Millis(attribute="delivery.next_attempt_at", data_key="nextAttemptAt", allow_none=True)
    last_status_code = fields.Integer(attribute="delivery.last_status_code", data_key="lastStatusCode",
                                      allow_none=True)
    last_error = fields.String(attribute="delivery.last_error", data_key="lastError", allow_none=True)
    created_at = Millis(attribute="delivery.created_at", data_key="createdAt")
    attempts = fields.List(fields.Nested(WebhookAttemptSchema), metadata={"description": "every attempt, oldest first"})


class WebhookDeliveryQuerySchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    cursor = fields.String(load_default=None, validate=validate.Length(1, 200))
    state = fields.Enum(DeliveryState, by_value=True, load_default=None)


class WebhookDeliveryPageSchema(Schema):
    deliveries = fields.List(fields.Nested(WebhookDeliverySchema))
    next_cursor = fields.String(data_key="nextCursor", allow_none=True,
                                metadata={"description": "pass as cursor for the next page; null on the last"})


class EventLogSchema(Schema):
    id = fields.String(attribute="event.id")
    type = fields.String(attribute="event.type")
    created_at = Millis(attribute="event.created_at", data_key="createdAt")
    sequence = fields.Integer(attribute="event.sequence", allow_none=True,
                              metadata={"description": "per order; null for events about no order"})
    body = fields.Dict(metadata={"description": "the JSON every delivery sends, exactly as signed"})
    deliveries = fields.List(fields.Nested(WebhookDeliverySchema))


class RedeliverQuerySchema(Schema):
    endpoint = fields.String(load_default=None, validate=validate.Length(1, 64),
                             metadata={"description": "only the delivery to this endpoint (we_…)"})
