"""The delivery log, read side (DESIGN.md §12): an endpoint's deliveries with their attempts, an event with
its deliveries, and redelivery (the delivery worker, app/webhooks/delivery.py, does the sending)."""
from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import jsoncodec
from app.domain.statuses import DeliveryState
from app.errors import Conflict, InvalidInput, NotFound
from app.extensions import db
from app.models import Merchant, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from app.webhooks import endpoints

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class DeliveryLog:
    """One delivery with its event and its attempts, oldest attempt first."""

    delivery: WebhookDelivery
    event: WebhookEvent
    attempts: list[WebhookAttempt]


@dataclass(frozen=True)
class EventLog:
    """One event, its parsed body and its deliveries."""

    event: WebhookEvent
    body: dict
    deliveries: list[DeliveryLog]


def deliveries(merchant: Merchant, endpoint_id: str, limit: int, cursor: str | None = None,
               state: DeliveryState | None = None) -> tuple[list[DeliveryLog], str | None]:
    """Return a page of the endpoint's deliveries, newest first, and the cursor of the next page (None at the
    end); raises NotFound, InvalidInput for a cursor this API did not hand out."""
    endpoint = endpoints.get(merchant, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if cursor is not None:
        query = query.where(WebhookDelivery.id < decode_cursor(cursor))
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    found = list(db.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    page = found[:limit]
    more = encode_cursor(page[-1].id) if len(found) > limit else None
    return with_attempts(page), more


def event(merchant: Merchant, event_id: str) -> EventLog:
    """Return the merchant's event with its deliveries; raises NotFound (also for another merchant's)."""
    found = db.session.get(WebhookEvent, event_id) if isinstance(event_id, str) else None
    if found is None or found.merchant_id != merchant.id:
        raise NotFound(f"no event {event_id}")
    return EventLog(found, jsoncodec.loads(found.body), with_attempts(list(found.deliveries)))


def redeliver(merchant: Merchant, event_id: str, endpoint_id: str | None = None) -> EventLog:
    """Return the event after putting its deliveries (or only the one to endpoint_id, made if the event never
    had one) back to pending, due now, with a fresh retry schedule, whatever their state. Deliveries to
    disabled or deleted endpoints are left as they are. Raises NotFound, Conflict (a disabled endpoint named)."""
    log = event(merchant, event_id)
    if endpoint_id is not None:
        endpoint = endpoints.get(merchant, endpoint_id)
        if not endpoint.enabled:
            raise Conflict(f"Webhook endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first")
        chosen = [d for d in log.event.deliveries if d.endpoint_id == endpoint.id]
        if not chosen:
            chosen = [WebhookDelivery(endpoint_id=endpoint.id)]
            log.event.deliveries.append(chosen[0])
    else:
        chosen = [d for d in log.event.deliveries if live_endpoint(d)]
    now = utcnow()
    for delivery in chosen:
        # attempts restarts the retry schedule; lease_until stays, so a delivery being sent is not sent twice at once.
        delivery.state, delivery.next_attempt_at, delivery.attempts = DeliveryState.PENDING, now, 0
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent redelivery made the same endpoint's delivery first
        db.session.rollback()
        raise Conflict("This event is being redelivered to that endpoint already; try again") from None
    logger.info("webhook redeliver event=%s deliveries=%d", log.event.id, len(chosen))
    return event(merchant, event_id)


def live_endpoint(delivery: WebhookDelivery) -> bool:
    """Return True if the delivery's endpoint is enabled (so a redelivery can be sent)."""
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    return endpoint is not None and endpoint.enabled and endpoint.deleted_at is None


def with_attempts(page: list[WebhookDelivery]) -> list[DeliveryLog]:
    """Return the deliveries with their events and attempts, loaded in two statements."""
    ids = [d.id for d in page]
    attempts = db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids))
                                  .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)).all() if ids else []
    by_delivery = {key: list(group) for key, group in groupby(attempts, key=lambda a: a.delivery_id)}
    event_ids = {d.event_id for d in page}
    events = {e.id: e for e in db.session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(event_ids)))} \
        if event_ids else {}
    return [DeliveryLog(d, events[d.event_id], by_delivery.get(d.id, [])) for d in page]


def encode_cursor(last_id: int) -> str:
    """Return the opaque cursor of the page after the delivery last_id."""
    raw = json.dumps({"v": CURSOR_VERSION, "before": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Return the delivery id a cursor continues before; raises InvalidInput if encode_cursor did not make it."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        before = raw["before"] if raw["v"] == CURSOR_VERSION else None
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        before = None
    if isinstance(before, bool) or not isinstance(before, int) or not 0 <= before <= MAX_ID:
        raise InvalidInput("Invalid cursor: pass the nextCursor of a previous page", fields={"cursor": ["invalid"]})
    return before
