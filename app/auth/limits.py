"""Rate limits (DESIGN.md §9): a bucket per route family and caller, and the 429 in the error model.

Families, each with its own setting: the keyed API per key (RATE_LIMIT), public reads named by `x-wallet`
per client address (RATE_LIMIT_PUBLIC), sign-in before there is a session per client address
(RATE_LIMIT_AUTH; once signed in, /auth counts against the session's bucket), and the shopper's
pages (page, status, events, QR, receipt, requote) per receipt and client address (RATE_LIMIT_PAY), so a
shopper polling a page, or thirty shoppers behind one proxy, never lock anyone else out.
"""
from __future__ import annotations

import hashlib

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded

from app.auth import edge, sessions
from app.auth.keys import active_key
from app.config import Config, current_config
from app.errors import PAGE_PREFIXES, RateLimited, render

PAY, AUTH, PUBLIC, API = "pay", "auth", "public", "api"


def rate_limit_key() -> str:
    """Return the bucket a request counts against: its route family, then who is asking (see caller_key)."""
    family = route_family()
    if family == PAY:
        receipt_id = (request.view_args or {}).get("receipt_id", "-")
        return f"pay:{receipt_id}:{client_address()}"
    caller = caller_key()
    if caller.startswith(("wallet:", "key:", "session:")):
        return caller  # a known caller (a signed-in admin's /auth/me and logout included) has its own bucket
    return ("auth:" if family == AUTH else "public:") + caller


def caller_key() -> str:
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


def route_family() -> str:
    """Return the request's route family: pay (shopper pages), auth (sign-in), else the API (keyed or public)."""
    if request.path.startswith(PAGE_PREFIXES):
        return PAY
    if request.path.startswith("/auth/"):
        return AUTH
    return API


def client_address() -> str:
    """Return the caller's address: behind the gateway or our own proxy (BEHIND_PROXY), the last X-Forwarded-For
    hop (the one it appended; earlier hops are whatever the client sent)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and (current_config().BEHIND_PROXY or edge.came_through_edge()):
        return forwarded.split(",")[-1].strip()
    return request.remote_addr or "unknown"


def configured_rate_limit() -> str:
    """Return the limit of the request's bucket: RATE_LIMIT_PAY, _AUTH or _PUBLIC, else RATE_LIMIT."""
    return family_limit(current_config(), rate_limit_key().split(":", 1)[0])


def family_limit(config: Config, bucket_kind: str) -> str:
    """Return the configured limit for a bucket kind (pay, auth, public; a caller's own bucket otherwise)."""
    return {PAY: config.RATE_LIMIT_PAY, AUTH: config.RATE_LIMIT_AUTH,
            PUBLIC: config.RATE_LIMIT_PUBLIC}.get(bucket_kind, config.RATE_LIMIT)


EXTENSION = "tillpoint_limiter"


def init_app(app: Flask) -> Limiter:
    """Bind a limiter of this app's own (Redis-backed when REDIS_URL is set, so all workers share each bucket)
    and answer its 429 through the one error renderer, with resetAt in ms; return it."""
    # One per app, not one per process: flask-limiter keeps the first app's key prefix and a dead-storage flag
    # on the instance, which a second app (tests, or two apps in one process) must not inherit.
    limiter = Limiter(key_func=rate_limit_key, application_limits=[configured_rate_limit], headers_enabled=True,
                      strategy="fixed-window", in_memory_fallback_enabled=True)
    # Registered before the limiter's own hook so that it runs after it (Flask runs them in reverse).
    app.after_request(_retry_after_only_on_429)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    return limiter


def _retry_after_only_on_429(response: Response) -> Response:
    """Drop the Retry-After the limiter adds to every answer: it tells a client to wait, so only a 429 has it."""
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def _rate_limited(error: RateLimitExceeded):
    limit = current_app.extensions[EXTENSION].current_limit
    reset_ms = int(limit.reset_at * 1000) if limit else None
    return render(RateLimited(f"Rate limit exceeded: {error.description}", resetAt=reset_ms))
