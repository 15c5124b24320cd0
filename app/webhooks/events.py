"""The events outbox (DESIGN.md §12): an event row and one delivery row per subscribed, enabled endpoint,
written in the caller's transaction, so an event exists exactly when the change that caused it committed.
The delivery worker (app/webhooks/delivery.py) sends them after commit.

Order events carry the receipt exactly as GET /api/receipts/<id> returns it, and the order's own sequence
number: a receiver that sees a lower sequence than one it already processed for that order drops it.
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime

from sqlalchemy import select

from app import jsoncodec
from app.domain.money import cents_to_usd
from app.domain.statuses import OrderStatus
from app.extensions import db
from app.models import Merchant, Order, Payment, Refund, WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from app.services import receipts

logger = logging.getLogger(__name__)

ALL = "*"
EVENT_TYPES = (
    "order.created", "order.payment_detected", "order.paid", "order.completed", "order.expired",
    "order.cancelled", "order.refunded", "order.payment_reversed", "order.requoted",
    "payment.received", "refund.confirmed", "refund.rejected", "webhook.test",
)
S = OrderStatus
FORWARD = {S.PENDING: "order.payment_detected", S.PAID: "order.paid", S.COMPLETED: "order.completed",
           S.EXPIRED: "order.expired", S.CANCELLED: "order.cancelled", S.REFUNDED: "order.refunded"}
REVERSED = {(S.PENDING, S.GENERATED), (S.PAID, S.PENDING), (S.COMPLETED, S.PAID)}  # a reorg took a payment back


def new_event_id() -> str:
    """Return an event id: "evt_" + 26 URL-safe characters (the webhook-id of every attempt)."""
    return "evt_" + secrets.token_urlsafe(20)


def status_event_type(previous: OrderStatus, status: OrderStatus) -> str:
    """Return the event type of one status step."""
    if (previous, status) in REVERSED:
        return "order.payment_reversed"
    if (previous, status) == (S.EXPIRED, S.GENERATED):
        return "order.requoted"
    return FORWARD[status]


def order_created(order: Order) -> WebhookEvent:
    """Record order.created for a new order."""
    return record_for_order(order, "order.created")


def status_changed(order: Order, previous: OrderStatus, cause: dict) -> WebhookEvent:
    """Record the event of the order's step from previous to its current status."""
    extra = {"previousStatus": previous, "cause": cause}
    return record_for_order(order, status_event_type(previous, OrderStatus(order.status)), extra)


def payment_received(order: Order, payment: Payment, after_settlement: bool) -> WebhookEvent:
    """Record payment.received for a credited payment (after the order's status was refreshed)."""
    return record_for_order(order, "payment.received", {"payment": {
        "txHash": payment.tx_hash, "logIndex": payment.log_index, "block": payment.block_number,
        "token": payment.symbol, "tokenAddress": payment.token_address, "from": payment.from_address,
        "amount": str(payment.amount_base_units), "usd": cents_to_usd(payment.usd_cents), "late": payment.late,
        "afterSettlement": after_settlement}})


def refund_event(order: Order, refund: Refund, type_: str) -> WebhookEvent:
    """Record refund.confirmed or refund.rejected."""
    return record_for_order(order, type_, {"refund": receipts.refund_json(refund)})


def record_for_order(order: Order, type_: str, extra: dict | None = None) -> WebhookEvent:
    """Record an event about order (the caller holds its row lock, or created it): the receipt as the API
    returns it, and the order's next sequence number."""
    order.event_sequence = (order.event_sequence or 0) + 1
    data = {"receipt": receipts.receipt_json(order), "sequence": order.event_sequence, **(extra or {})}
    return record(order.merchant_id, type_, data, order)


def record(merchant_id: int, type_: str, data: dict, order: Order | None = None,
           endpoints: list[WebhookEndpoint] | None = None) -> WebhookEvent:
    """Add an event and a pending delivery to each enabled endpoint of the merchant subscribed to type_ (or
    to the given endpoints), in the caller's transaction; return the event."""
    now = utcnow()
    event = WebhookEvent(id=new_event_id(), merchant_id=merchant_id, order=order,
                         sequence=order.event_sequence if order else None, type=type_, created_at=now)
    event.body = jsoncodec.dumps({"id": event.id, "type": type_, "createdAt": _ms(now),
                                  "merchantId": _wallet(merchant_id), "data": data})
    db.session.add(event)
    targets = subscribed(merchant_id, type_) if endpoints is None else endpoints
    event.deliveries = [WebhookDelivery(endpoint_id=endpoint.id, next_attempt_at=now) for endpoint in targets]
    logger.debug("webhook event id=%s type=%s deliveries=%d", event.id, type_, len(targets))
    return event


def subscribed(merchant_id: int, type_: str) -> list[WebhookEndpoint]:
    """Return the merchant's enabled endpoints that take events of type_."""
    endpoints = db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.enabled.is_(True))).all()
    return [e for e in endpoints if ALL in e.events or type_ in e.events]


def _wallet(merchant_id: int) -> str:
    return db.session.get(Merchant, merchant_id).wallet


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
