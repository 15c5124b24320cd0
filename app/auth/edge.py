"""Gateway mode: identity stamped by an API gateway is believed only with the shared EDGE_SECRET.

The gateway authenticates the caller itself, then forwards the request with `x-edge-secret` and
stamps the merchant's wallet in `x-resolved-wallet` (optionally the granted scopes, comma-separated,
in `x-resolved-scopes`). Clients can send those headers too, so without the right secret a stamp is
refused (403) and never used.
"""
from __future__ import annotations

import hmac

from flask import Flask, request

from app.config import current_config
from app.errors import Forbidden

EDGE_SECRET_HEADER = "x-edge-secret"
STAMP_HEADER = "x-resolved-wallet"
STAMP_SCOPES_HEADER = "x-resolved-scopes"
ALWAYS_OPEN = frozenset({"/healthz"})  # load balancers probe the instances directly


def came_through_edge() -> bool:
    """Return True if EDGE_SECRET is configured and this request carries it (constant-time compare)."""
    secret = current_config().EDGE_SECRET
    sent = request.headers.get(EDGE_SECRET_HEADER)
    return bool(secret) and sent is not None and hmac.compare_digest(sent.encode(), secret.encode())


def stamped_wallet() -> str | None:
    """Return the gateway-stamped wallet of a request that came through the gateway, else None."""
    return request.headers.get(STAMP_HEADER) if came_through_edge() else None


def stamped_scopes() -> frozenset[str] | None:
    """Return the gateway-stamped scopes, or None when the gateway stamped none."""
    text = request.headers.get(STAMP_SCOPES_HEADER) if came_through_edge() else None
    return None if text is None else frozenset(s.strip() for s in text.split(",") if s.strip())


def check_request() -> None:
    """Refuse stamps that did not come from the gateway and, with EDGE_ONLY, anything that did not; raises Forbidden."""
    config = current_config()
    if not config.EDGE_SECRET:
        return  # no gateway configured: stamps are simply never read
    through = came_through_edge()
    if not through and (STAMP_HEADER in request.headers or STAMP_SCOPES_HEADER in request.headers):
        raise Forbidden("Identity stamps are accepted only from the gateway")
    if config.EDGE_ONLY and not through and request.path not in ALWAYS_OPEN:
        raise Forbidden("Request must come through the gateway")


def init_app(app: Flask) -> None:
    """Check every request before anything else reads it."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)
