"""Rate limits (DESIGN.md §9): one bucket per caller across every route, and the 429 in the error model."""
from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter, RateLimitExceeded

from app.auth import edge, sessions
from app.auth.keys import active_key
from app.config import current_config
from app.errors import RateLimited, render


def rate_limit_key() -> str:
    """Return who a request counts against: the gateway-stamped wallet, its subscription key (by hash) if
    that key exists, its signed-in wallet, else its client address (so made-up keys share one bucket)."""
    if stamped := edge.stamped_wallet():
        return "wallet:" + stamped.lower()
    key = request.headers.get("Ocp-Apim-Subscription-Key") or request.headers.get("x-api-key")
    if key and active_key(key) is not None:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    if wallet := sessions.subject_or_none():
        return "session:" + wallet
    return "ip:" + client_address()


def client_address() -> str:
    """Return the caller's address: behind the gateway, the last X-Forwarded-For hop (the one it appended)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and edge.came_through_edge():
        return forwarded.split(",")[-1].strip()
    return request.remote_addr or "unknown"


def configured_rate_limit() -> str:
    """Return the RATE_LIMIT setting of the current app."""
    return current_config().RATE_LIMIT


# Redis-backed when REDIS_URL is set, so all workers share each bucket.
limiter = Limiter(key_func=rate_limit_key, application_limits=[configured_rate_limit], headers_enabled=True,
                  strategy="fixed-window", in_memory_fallback_enabled=True)


def init_app(app: Flask) -> None:
    """Bind the limiter to app and answer its 429 through the one error renderer, with resetAt in ms."""
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _rate_limited)


def _rate_limited(error: RateLimitExceeded):
    limit = limiter.current_limit
    reset_ms = int(limit.reset_at * 1000) if limit else None
    return render(RateLimited(f"Rate limit exceeded: {error.description}", resetAt=reset_ms))
