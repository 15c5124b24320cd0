"""Live order status: the notifications that open pay pages wait for, published by whatever changed the order.

With REDIS_URL set, a change is published on a Redis channel per receipt, so whichever worker holds a
shopper's stream hears it, whichever process (watcher, another worker) made the change. Without Redis,
only the process that made the change can notify; streams also re-read the database on a short timer,
so a change made elsewhere (the watcher is its own process) still arrives, a little later.
A notification carries nothing but "changed": the stream reads the status from the database.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import redis

from app.config import current_config

logger = logging.getLogger(__name__)

_local_lock = threading.Lock()
_local: dict[str, set[threading.Event]] = {}
_clients: dict[str, redis.Redis] = {}


def channel(receipt_id: str) -> str:
    """Return the Redis channel of a receipt's notifications."""
    return f"{current_config().RATE_LIMIT_KEY_PREFIX}:pay:{receipt_id}"


def publish(receipt_ids: Iterable[str]) -> None:
    """Tell every open pay page of these receipts that the order changed. Never raises: the change is
    already committed, and a page that misses a notification still reads the status on its timer."""
    receipt_ids = list(receipt_ids)
    with _local_lock:
        for receipt_id in receipt_ids:
            for event in _local.get(receipt_id, ()):
                event.set()
    url = current_config().REDIS_URL
    if not url or not receipt_ids:
        return
    try:
        with _client(url).pipeline(transaction=False) as pipe:
            for receipt_id in receipt_ids:
                pipe.publish(channel(receipt_id), "changed")
            pipe.execute()
    except redis.RedisError:
        logger.warning("live status not published (redis unavailable) receipts=%d", len(receipt_ids), exc_info=True)


class Subscription:
    """One stream's subscription to a receipt: wait() returns True when notified, False on timeout."""

    def __init__(self, receipt_id: str) -> None:
        self.receipt_id = receipt_id
        self.event = threading.Event()
        self.pubsub = None
        url = current_config().REDIS_URL
        if url:
            try:
                self.pubsub = _client(url).pubsub(ignore_subscribe_messages=True)
                self.pubsub.subscribe(channel(receipt_id))
            except redis.RedisError:
                logger.warning("live status: redis unavailable, stream falls back to reading the database")
                self.pubsub = None

    @property
    def shared(self) -> bool:
        """Return True when notifications from every process arrive (Redis), so the timer can be slow."""
        return self.pubsub is not None

    def __enter__(self) -> Subscription:
        with _local_lock:
            _local.setdefault(self.receipt_id, set()).add(self.event)
        return self

    def __exit__(self, *exc) -> None:
        with _local_lock:
            listeners = _local.get(self.receipt_id, set())
            listeners.discard(self.event)
            if not listeners:
                _local.pop(self.receipt_id, None)
        if self.pubsub is not None:
            self.pubsub.close()

    def wait(self, timeout: float) -> bool:
        """Block up to timeout seconds for a notification; return whether one came."""
        if self.pubsub is None:
            notified = self.event.wait(timeout)
        else:
            notified = self.event.is_set() or self._redis_message(timeout)
        self.event.clear()
        return notified

    def _redis_message(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        try:
            # get_message also returns None for the (ignored) subscribe confirmation: keep waiting.
            while (left := deadline - time.monotonic()) > 0:
                if self.pubsub.get_message(timeout=left) is not None:
                    return True
            return False
        except redis.RedisError:
            logger.warning("live status: redis lost, stream falls back to reading the database")
            self.pubsub = None
            return self.event.wait(max(0.0, deadline - time.monotonic()))


def _client(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        client = _clients.setdefault(url, redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1))
    return client
