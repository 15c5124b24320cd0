"""The webhook event bodies (DESIGN.md §12) as marshmallow schemas: the source of the OpenAPI document's
`webhooks` section. events.py writes the bodies; tests check real ones against the published document."""
from __future__ import annotations

from marshmallow import Schema, fields

from app.domain.statuses import OrderStatus
from app.services.receipt_schemas import ReceiptSchema, RefundSchema
from app.webhooks.events import EVENT_TYPES


class EventSchema(Schema):
    """What every event carries; `data` depends on its type."""

    id = fields.String(required=True, metadata={
        "pattern": "^evt_", "description": "the event id, also the webhook-id header of every attempt"})
    # No enum here: each type's own schema narrows it to a const, and generators cannot combine the two.
    type = fields.String(required=True, metadata={"description": "one of the types in the webhooks section"})
    createdAt = fields.Integer(required=True, metadata={"description": "when the event was recorded, ms"})
    merchantId = fields.String(required=True, metadata={"description": "the merchant's wallet"})
    data = fields.Dict(required=True)


class OrderEventDataSchema(Schema):
    receipt = fields.Nested(ReceiptSchema, required=True,
                            metadata={"description": "the receipt exactly as GET /api/receipts/{receipt_id} answers"})
    sequence = fields.Integer(required=True, metadata={
        "description": "the order's event counter: drop an event older than one already handled for the order"})


class StatusEventDataSchema(OrderEventDataSchema):
    previousStatus = fields.String(required=True, metadata={"enum": [s.value for s in OrderStatus]})
    cause = fields.Dict(required=True, metadata={"description": "what moved the order, as in its statusHistory"})


class EventPaymentSchema(Schema):
    txHash = fields.String(required=True)
    logIndex = fields.Integer(required=True)
    block = fields.Integer(required=True)
    token = fields.String(required=True)
    tokenAddress = fields.String(required=True, allow_none=True, metadata={"description": "null for the native coin"})
    from_ = fields.String(required=True, data_key="from")
    amount = fields.String(required=True, metadata={"description": "base units, as a decimal string"})
    usd = fields.Decimal(required=True, as_string=False)
    late = fields.Boolean(required=True)
    afterSettlement = fields.Boolean(required=True)


class PaymentEventDataSchema(OrderEventDataSchema):
    payment = fields.Nested(EventPaymentSchema, required=True)


class RefundEventDataSchema(OrderEventDataSchema):
    refund = fields.Nested(RefundSchema, required=True)


class TestEventDataSchema(Schema):
    endpointId = fields.String(metadata={"description": "the endpoint the test was sent to"})
    message = fields.String()


SUMMARIES = {
    "order.created": "An order was created (status generated)",
    "order.payment_detected": "A payment for the order was seen (status pending)",
    "order.paid": "The order's total was received (status paid)",
    "order.completed": "The settle transaction moved the payment into the split (status completed)",
    "order.expired": "The order's quotes expired unpaid",
    "order.cancelled": "The order was cancelled before anything was received",
    "order.refunded": "The order was refunded in full",
    "order.payment_reversed": "A chain reorganisation took back a payment: the order moved back",
    "order.requoted": "An expired order got new quotes",
    "payment.received": "A payment was credited to the order (carries its exceptionStatus in the receipt)",
    "refund.confirmed": "A refund's transaction was confirmed on chain",
    "refund.rejected": "A refund's linked transaction failed the check on chain: the refund is requested again",
    "webhook.test": "A test event sent by POST /api/webhooks/{id}/test",
}
SPECIAL_DATA = {"order.created": OrderEventDataSchema, "payment.received": PaymentEventDataSchema,
                "refund.confirmed": RefundEventDataSchema, "refund.rejected": RefundEventDataSchema,
                "webhook.test": TestEventDataSchema}


def data_schema(type_: str) -> type[Schema] | None:
    """Return the schema of the `data` of events of type_: a status step for any other order.* type, None
    (any object) for a type with no schema yet."""
    if type_ in SPECIAL_DATA:
        return SPECIAL_DATA[type_]
    return StatusEventDataSchema if type_.startswith("order.") else None


def event_payloads() -> dict[str, tuple[str, type[Schema] | None]]:
    """Return each event type's summary and data schema, for the OpenAPI document."""
    return {type_: (SUMMARIES.get(type_, type_), data_schema(type_)) for type_ in EVENT_TYPES}
