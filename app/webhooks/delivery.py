"""The delivery worker (`tillpoint deliver`, DESIGN.md §12): claim due deliveries under a lease, send them
outside any transaction, then record each attempt and the delivery's next step in a new transaction.

Claiming: on PostgreSQL `FOR UPDATE SKIP LOCKED`, so any number of workers share the work; on SQLite run ONE
worker (app/workers/runner.py holds a Redis lock for it when REDIS_URL is set). A worker that dies mid-send
leaves its lease to expire, and the delivery is sent again: at-least-once, receivers dedupe by webhook-id.

Outcomes: 2xx succeeded; 410 disables the endpoint and kills its pending deliveries; anything else (network
error, timeout, 3xx, 4xx, 5xx, refused address) is retried on SCHEDULE, then dead. An endpoint failing for
FAILING_DAYS with no success is disabled the same way.
"""
from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from app.config import Config
from app.domain.statuses import DeliveryState
from app.extensions import db
from app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from app.webhooks import sender, signing, vault
from app.webhooks.endpoints import secrets_in_use

logger = logging.getLogger(__name__)

# The wait after the 1st, 2nd, … failed attempt (the first attempt is immediate); after the last, dead.
SCHEDULE = tuple(timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 36000))
JITTER = 0.2
RETRY_AFTER_CAP = timedelta(hours=1)
FAILING_DAYS = 5
BATCH = 16  # sent in parallel, so a batch takes about one timeout at worst
IDLE_SECONDS = 1.0
BUSY_SECONDS = 0.01


@dataclass(frozen=True)
class Job:
    """One claimed delivery, everything its attempt needs read before the transaction ended."""

    delivery_id: int
    lease_until: datetime
    event_id: str
    url: str
    body: bytes
    secrets: tuple[str, ...]
    refused: str | None  # why no request is made (endpoint disabled, secret unreadable)


def lease_seconds(config: Config) -> float:
    """Return how long a claim lasts: three timeouts, so a live worker always records before it expires."""
    return 3 * config.WEBHOOK_TIMEOUT


def limits(config: Config) -> sender.Limits:
    """Return the network limits of config's deliveries."""
    return sender.Limits(total_seconds=config.WEBHOOK_TIMEOUT,
                         connect_seconds=min(sender.CONNECT_SECONDS, config.WEBHOOK_TIMEOUT),
                         allow_private=config.webhooks_may_reach_private(),
                         require_https=config.webhooks_need_https())


def run(config: Config, stop=lambda: False) -> None:
    """Deliver until stop() is true: straight on while there is work, polling every second when idle."""
    while not stop():
        try:
            sent = deliver_due(config)
        except Exception:  # noqa: BLE001 - e.g. a deadlock or a lost connection: the leases expire, nothing is lost
            logger.exception("webhook delivery batch failed; its deliveries are retried after their lease")
            db.session.rollback()
            sent = 0
        pause = BUSY_SECONDS if sent else IDLE_SECONDS
        until = time.monotonic() + pause
        while not stop() and time.monotonic() < until:
            time.sleep(min(0.1, pause))


def deliver_due(config: Config, now: datetime | None = None, limit: int = BATCH) -> int:
    """Claim up to limit due deliveries, send them and record the outcomes; return how many were attempted.
    now (default: the clock) decides what is due and schedules retries, so tests can move time."""
    now = now or utcnow()
    jobs = prepare(claim(now, timedelta(seconds=lease_seconds(config)), limit), now)
    if not jobs:
        return 0
    reach = limits(config)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda job: attempt(job, reach), jobs))
    record_all(jobs, results, now)
    db.session.commit()
    return len(jobs)


def claim(now: datetime, lease: timedelta, limit: int) -> list[int]:
    """Lease up to limit due deliveries (pending, due, no live lease) and commit; return their ids."""
    query = (select(WebhookDelivery).where(
        WebhookDelivery.state == DeliveryState.PENDING, WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    deliveries = db.session.scalars(query).all()
    for delivery in deliveries:
        delivery.lease_until = now + lease
    db.session.commit()
    return [d.id for d in deliveries]


def prepare(ids: list[int], now: datetime) -> list[Job]:
    """Return a Job for each claimed delivery (read in a transaction that ends before anything is sent)."""
    if not ids:
        return []
    deliveries = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids))).all()
    endpoints = {e.id: e for e in db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.id.in_({d.endpoint_id for d in deliveries})))}
    events = _events({d.event_id for d in deliveries})
    jobs = [_job(d, endpoints[d.endpoint_id], events[d.event_id], now) for d in deliveries]
    db.session.rollback()  # end the read transaction: nothing is held while sending
    return jobs


def _events(ids: set[str]) -> dict[str, str]:
    query = select(WebhookEvent.id, WebhookEvent.body).where(WebhookEvent.id.in_(ids))
    return {row.id: row.body for row in db.session.execute(query)}


def _job(delivery: WebhookDelivery, endpoint: WebhookEndpoint, body: str, now: datetime) -> Job:
    refused, keys = None, ()
    if not endpoint.enabled:
        refused = "endpoint_disabled"
    else:
        try:
            keys = tuple(secrets_in_use(endpoint, now))
        except vault.SecretUnreadable:
            refused = "secret_unreadable"
    return Job(delivery.id, delivery.lease_until, delivery.event_id, endpoint.url, body.encode(), keys, refused)


def attempt(job: Job, reach: sender.Limits) -> sender.Result:
    """Send one job (signed now, with the event id as webhook-id); return what happened."""
    if job.refused:
        return sender.Result(None, job.refused, None, 0)
    headers = signing.headers(list(job.secrets), job.event_id, int(time.time()), job.body)
    return sender.send(job.url, job.body, headers, reach)


def record_all(jobs: list[Job], results: list[sender.Result], now: datetime) -> None:
    """Record each job's result, the batch's delivery rows locked in id order (no deadlock between workers)."""
    deliveries = {d.id: d for d in db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id.in_([job.delivery_id for job in jobs]))
        .order_by(WebhookDelivery.id).with_for_update())}
    endpoints = {e.id: e for e in db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.id.in_({d.endpoint_id for d in deliveries.values()})))}
    for job, result in zip(jobs, results):
        found = deliveries.get(job.delivery_id)
        record(job, result, now, found, endpoints.get(found.endpoint_id) if found else None)


def record(job: Job, result: sender.Result, now: datetime, delivery: WebhookDelivery | None,
           endpoint: WebhookEndpoint | None) -> None:
    """Log the attempt and move the delivery (and its endpoint) on; only the lease holder moves it."""
    db.session.add(WebhookAttempt(delivery_id=job.delivery_id, at=now, duration_ms=result.duration_ms,
                                  status_code=result.status_code, error_kind=result.error_kind,
                                  response_excerpt=result.excerpt))
    if delivery is None or delivery.lease_until != job.lease_until or delivery.state != DeliveryState.PENDING:
        logger.warning("webhook delivery=%s no longer ours to move (lease expired, or endpoint disabled)",
                       job.delivery_id)
        return
    delivery.attempts += 1
    delivery.lease_until = None
    delivery.last_status_code = result.status_code
    delivery.last_error = None if result.ok else _describe(result)[:200]
    if result.ok:
        _finish(delivery, DeliveryState.SUCCEEDED)
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
    elif result.error_kind == "endpoint_disabled":
        _finish(delivery, DeliveryState.DEAD)
    elif result.status_code == 410:
        disable(endpoint, f"the receiver answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC")
    else:
        _retry_or_die(delivery, endpoint, result, now)
    logger.info("webhook delivery=%s event=%s attempt=%d status=%s error=%s state=%s", delivery.id,
                job.event_id, delivery.attempts, result.status_code, result.error_kind, delivery.state)


def _retry_or_die(delivery: WebhookDelivery, endpoint: WebhookEndpoint, result: sender.Result,
                  now: datetime) -> None:
    endpoint.failing_since = endpoint.failing_since or now
    if now - endpoint.failing_since >= timedelta(days=FAILING_DAYS):
        disable(endpoint, f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC "
                          f"({FAILING_DAYS} days without a successful delivery)")
    elif delivery.attempts > len(SCHEDULE):
        _finish(delivery, DeliveryState.DEAD)
    else:
        delivery.next_attempt_at = now + next_delay(delivery.attempts, result.retry_after)


def next_delay(failed_attempts: int, retry_after: float | None = None) -> timedelta:
    """Return the wait before the next attempt after failed_attempts failures: the schedule's step ±20 %,
    or longer when the receiver's Retry-After asks for it (capped at an hour)."""
    delay = SCHEDULE[failed_attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), RETRY_AFTER_CAP))
    return delay


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable endpoint with reason and mark every pending delivery to it dead."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    db.session.flush()
    db.session.execute(update(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.DEAD, next_attempt_at=None, lease_until=None, updated_at=utcnow())
        .execution_options(synchronize_session="fetch"))
    logger.warning("webhook endpoint=%s disabled: %s", endpoint.id, reason)


def _finish(delivery: WebhookDelivery, state: DeliveryState) -> None:
    delivery.state = state
    delivery.next_attempt_at = None


def _describe(result: sender.Result) -> str:
    if result.status_code is not None:
        return f"HTTP {result.status_code}"
    return f"{result.error_kind}: {result.excerpt}" if result.excerpt else str(result.error_kind)
