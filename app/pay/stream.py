"""The Server-Sent Events stream of one pay page: the status now, then again whenever it changes.

Each stream holds a server thread, so it is bounded (PAY_STREAM_SECONDS; the browser reconnects after
`retry`) and holds no database connection while it waits.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from flask import Flask

from app.extensions import db
from app.services import live_status

logger = logging.getLogger(__name__)

RETRY_MS = 3000
KEEPALIVE_SECONDS = 15
# Without Redis, a change made by another process (the watcher) is noticed by re-reading this often.
LOCAL_POLL_SECONDS = 1.0
SHARED_POLL_SECONDS = 10.0


def status_events(app: Flask, receipt_id: str, read_status: Callable[[str], dict],
                  clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """Yield SSE frames: `retry`, then an event `status` each time read_status(receipt_id) changes."""
    deadline = clock() + app.config["TILLPOINT"].PAY_STREAM_SECONDS
    yield f"retry: {RETRY_MS}\n\n"
    with app.app_context(), live_status.Subscription(receipt_id) as subscription:
        db.session.remove()  # the view's session: this stream reads with its own, short-lived ones
        last, last_sent = None, clock()
        while True:
            body = _read(read_status, receipt_id)
            if body != last:
                yield f"event: status\ndata: {app.json.dumps(body)}\n\n"
                last, last_sent = body, clock()
            elif clock() - last_sent >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = clock()
            remaining = deadline - clock()
            if remaining <= 0:
                return
            subscription.wait(min(remaining, SHARED_POLL_SECONDS if subscription.shared else LOCAL_POLL_SECONDS))


def _read(read_status: Callable[[str], dict], receipt_id: str) -> dict:
    """Return the status from a fresh session, released at once so a waiting stream holds no connection."""
    try:
        return read_status(receipt_id)
    finally:
        db.session.remove()
