"""The Server-Sent Events stream of one pay page: the status now, then again whenever it changes.

Each stream holds a server thread, so it is bounded (PAY_STREAM_SECONDS; the browser reconnects after
`retry`) and holds no database connection while it waits. It waits in short slices so that it also ends
at once when the shopper closes the tab (its slot is free for the next page) or the server shuts down
(so Ctrl-C or a deploy never waits for open pages).
"""
from __future__ import annotations

import logging
import socket
import threading
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
# How often a waiting stream looks at its client socket and at shutdown: the delay before a closed tab's slot
# is free again, and the most a stream adds to a server's shutdown.
SLICE_SECONDS = 0.2

_closing = threading.Event()


def close_all() -> None:
    """End every stream of this process within SLICE_SECONDS (called when the server process stops)."""
    _closing.set()


def status_events(app: Flask, receipt_id: str, read_status: Callable[[str], dict],
                  clock: Callable[[], float] = time.monotonic, client: socket.socket | None = None) -> Iterator[str]:
    """Yield SSE frames: `retry`, then an event `status` each time read_status(receipt_id) changes; stop at the
    stream's deadline, when client (the shopper's socket, if the server gives it) is closed, or at shutdown."""
    deadline = clock() + app.config["TILLPOINT"].PAY_STREAM_SECONDS
    yield f"retry: {RETRY_MS}\n\n"
    with app.app_context(), live_status.Subscription(receipt_id) as subscription:
        db.session.remove()  # the view's session: this stream reads with its own, short-lived ones
        last, last_sent = None, clock()
        while not _closing.is_set():
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
            poll = SHARED_POLL_SECONDS if subscription.shared else LOCAL_POLL_SECONDS
            if not _wait(subscription, min(remaining, poll), client, clock):
                return


def _wait(subscription: live_status.Subscription, seconds: float, client: socket.socket | None,
          clock: Callable[[], float]) -> bool:
    """Wait up to seconds for a notification, in slices; return False when the stream should end now."""
    until = clock() + seconds
    while (left := until - clock()) > 0:
        if _closing.is_set() or client_gone(client):
            return False
        if subscription.wait(min(left, SLICE_SECONDS)):
            return True
    return True


def client_gone(client: socket.socket | None) -> bool:
    """Return True when the shopper closed the connection (an orderly EOF or a reset), without reading data."""
    if client is None:
        return False
    try:
        return client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False  # still open, nothing sent: the usual case
    except OSError:
        return True


def _read(read_status: Callable[[str], dict], receipt_id: str) -> dict:
    """Return the status from a fresh session, released at once so a waiting stream holds no connection."""
    try:
        return read_status(receipt_id)
    finally:
        db.session.remove()
