"""Webhook endpoints (DESIGN.md §12): a merchant's URLs, the event types each takes, and its signing secret,
sealed at rest (app/webhooks/vault.py) and shown in full only when created or rotated.

Deleting an endpoint keeps its row, disabled and hidden (deleted_at): its deliveries reference it, and the
delivery log of past events (GET /api/events/<id>) stays whole; a hard delete would have to drop that log.
Its pending deliveries are marked dead at once, as they are when the merchant disables it.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from app.config import current_config
from app.domain.ids import new_endpoint_id
from app.domain.statuses import DeliveryState
from app.errors import Conflict, InvalidInput, NotFound
from app.extensions import db
from app.models import Merchant, WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from app.webhooks import events, signing, ssrf, vault

logger = logging.getLogger(__name__)

ROTATION_OVERLAP = timedelta(hours=24)  # the old secret keeps signing this long after a rotation
MAX_ENDPOINTS = 20  # per merchant: every event writes one delivery row per endpoint
TEST_EVENT = "webhook.test"
SUBSCRIBABLE = tuple(t for t in events.EVENT_TYPES if t != TEST_EVENT)


def create(merchant: Merchant, url: str, event_types: list[str] | None,
           description: str) -> tuple[WebhookEndpoint, str]:
    """Return the new endpoint and its secret (shown only now); raises InvalidInput (URL, events), Conflict
    (MAX_ENDPOINTS reached)."""
    count = db.session.scalar(select(func.count()).select_from(WebhookEndpoint).where(
        WebhookEndpoint.merchant_id == merchant.id, WebhookEndpoint.deleted_at.is_(None)))
    if count >= MAX_ENDPOINTS:
        raise Conflict(f"A merchant can have at most {MAX_ENDPOINTS} webhook endpoints; delete one first")
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(id=new_endpoint_id(), merchant_id=merchant.id, url=checked_url(url),
                               events=subscription(event_types), description=description, enabled=True,
                               secret_sealed=vault.seal(current_config().SECRET_KEY, secret))
    db.session.add(endpoint)
    db.session.commit()
    logger.info("webhook endpoint created id=%s merchant=%s events=%s", endpoint.id, merchant.id, endpoint.events)
    return endpoint, secret


def list_endpoints(merchant: Merchant) -> list[WebhookEndpoint]:
    """Return the merchant's endpoints (not deleted ones), oldest first."""
    return list(db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.merchant_id == merchant.id, WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)))


def get(merchant: Merchant, endpoint_id: str) -> WebhookEndpoint:
    """Return the merchant's endpoint; raises NotFound (also for another merchant's or a deleted one)."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id) if isinstance(endpoint_id, str) else None
    if endpoint is None or endpoint.merchant_id != merchant.id or endpoint.deleted_at is not None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


def update_endpoint(merchant: Merchant, endpoint_id: str, changes: dict) -> WebhookEndpoint:
    """Return the endpoint after applying changes (url, events, description, enabled); raises NotFound,
    InvalidInput. Enabling clears the disabled reason and the failure clock; disabling ends pending deliveries."""
    endpoint = get(merchant, endpoint_id)
    if "url" in changes:
        endpoint.url = checked_url(changes["url"])
    if "events" in changes:
        endpoint.events = subscription(changes["events"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if changes.get("enabled") is True and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since = True, None, None
    elif changes.get("enabled") is False and endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason = False, "disabled by the merchant"
        end_pending(endpoint, "endpoint disabled")
    db.session.commit()
    logger.info("webhook endpoint updated id=%s fields=%s", endpoint.id, sorted(changes))
    return endpoint


def delete(merchant: Merchant, endpoint_id: str) -> WebhookEndpoint:
    """Return the endpoint after deleting it (kept disabled and hidden, see the module docstring); raises
    NotFound."""
    endpoint = get(merchant, endpoint_id)
    endpoint.enabled, endpoint.disabled_reason, endpoint.deleted_at = False, "deleted", utcnow()
    end_pending(endpoint, "endpoint deleted")
    db.session.commit()
    logger.info("webhook endpoint deleted id=%s merchant=%s", endpoint.id, merchant.id)
    return endpoint


def rotate_secret(merchant: Merchant, endpoint_id: str, now: datetime | None = None) -> tuple[WebhookEndpoint, str]:
    """Return the endpoint and its new secret; the current one keeps signing for ROTATION_OVERLAP (a rotation
    during an overlap ends the older one at once). Raises NotFound."""
    endpoint = get(merchant, endpoint_id)
    key = current_config().SECRET_KEY
    secret = signing.new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_until = (now or utcnow()) + ROTATION_OVERLAP
    endpoint.secret_sealed = vault.seal(key, secret)
    db.session.commit()
    logger.info("webhook secret rotated id=%s previous_until=%s", endpoint.id, endpoint.previous_until.isoformat())
    return endpoint, secret


def secrets_in_use(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """Return the secrets that sign a delivery at now: the current one, then the previous one while its
    overlap lasts. Raises vault.SecretUnreadable if SECRET_KEY changed since they were sealed."""
    key = current_config().SECRET_KEY
    found = [vault.unseal(key, endpoint.secret_sealed)]
    if endpoint.previous_secret_sealed and endpoint.previous_until and endpoint.previous_until > now:
        found.append(vault.unseal(key, endpoint.previous_secret_sealed))
    return found


def rotation_ends_at(endpoint: WebhookEndpoint, now: datetime | None = None) -> datetime | None:
    """Return when the previous secret stops signing, or None outside a rotation."""
    until = endpoint.previous_until
    return until if endpoint.previous_secret_sealed and until and until > (now or utcnow()) else None


def send_test(merchant: Merchant, endpoint_id: str) -> WebhookEvent:
    """Return a webhook.test event recorded for this endpoint only (one delivery, due now); raises NotFound,
    Conflict for a disabled endpoint (nothing would be sent)."""
    endpoint = get(merchant, endpoint_id)
    if not endpoint.enabled:
        raise Conflict(f"Webhook endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first")
    data = {"endpointId": endpoint.id, "message": "A test event from Tillpoint: your endpoint receives webhooks."}
    event = events.record(merchant.id, TEST_EVENT, data, endpoints=[endpoint])
    db.session.commit()
    logger.info("webhook test event id=%s endpoint=%s", event.id, endpoint.id)
    return event


def checked_url(url: str) -> str:
    """Return url if deliveries may be sent to it now; raises InvalidInput naming the reason in fields.url."""
    config = current_config()
    # urlsplit silently drops tabs and newlines: the stored URL must be exactly the one called.
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidInput("This URL cannot receive webhooks: it contains spaces or control characters",
                           fields={"url": ["the URL must not contain spaces or control characters"]})
    if not url.isascii():  # HTTP sends the path as ASCII: percent-encode it (an IDN host as punycode)
        raise InvalidInput("This URL cannot receive webhooks: it has non-ASCII characters",
                           fields={"url": ["percent-encode non-ASCII characters (hosts in punycode)"]})
    try:
        ssrf.check(url, allow_private=config.webhooks_may_reach_private(), require_https=config.webhooks_need_https())
    except ssrf.UnsafeUrl as exc:
        raise InvalidInput(f"This URL cannot receive webhooks: {exc}", fields={"url": [str(exc)]}) from None
    return url


def subscription(event_types: list[str] | None) -> list[str]:
    """Return the stored event list: ["*"] for none or "*", else the types deduplicated in order; raises
    InvalidInput naming unknown types (webhook.test included: the test route sends it to any endpoint)."""
    if event_types is None or events.ALL in event_types:
        return [events.ALL]
    unknown = [t for t in dict.fromkeys(event_types) if t not in SUBSCRIBABLE]
    if unknown or not event_types:
        why = (f"unknown event types {unknown}" if unknown else "no event types") + \
              f"; use [\"*\"] for all, or some of {list(SUBSCRIBABLE)}"
        if TEST_EVENT in unknown:
            why += f" ({TEST_EVENT} cannot be subscribed to: POST /api/webhooks/<id>/test sends it)"
        raise InvalidInput(f"Invalid events: {why}", fields={"events": [why]})
    return list(dict.fromkeys(event_types))


def end_pending(endpoint: WebhookEndpoint, reason: str) -> None:
    """Mark the endpoint's pending deliveries dead (no attempt is made), in the caller's transaction."""
    db.session.execute(update(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.DEAD, next_attempt_at=None, last_error=reason, updated_at=utcnow()))
