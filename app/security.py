"""Security headers on every response (one after_request for the whole app).

Pages that need a richer Content-Security-Policy set their own; this adds a strict default only
when a response has none, and makes sure every policy says who may frame it.
"""
from __future__ import annotations

from flask import Flask, Response, request

from app.config import current_config
from app.errors import InvalidInput

DEFAULT_CSP = "default-src 'none'; base-uri 'none'; form-action 'self'"
PAY_PREFIX = "/pay/"
NO_STORE_PREFIXES = ("/api/", "/auth/")  # receipts, keys and sessions must not sit in shared caches


def frame_ancestors(path: str) -> str:
    """Return the CSP frame-ancestors sources for path: the configured origins for pay pages, else 'none'."""
    origins = current_config().PAY_FRAME_ANCESTORS
    return " ".join(origins) if path.startswith(PAY_PREFIX) and origins else "'none'"


def with_frame_ancestors(policy: str, sources: str) -> str:
    """Return policy with a frame-ancestors directive added, unless it already has one."""
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    if any(d.split()[0].lower() == "frame-ancestors" for d in directives):
        return policy
    return "; ".join([*directives, f"frame-ancestors {sources}"])


def add_security_headers(response: Response) -> Response:
    """Set nosniff, Referrer-Policy, framing rules and a default CSP; never overwrite a page's own CSP."""
    sources = frame_ancestors(request.path)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")  # pay links carry receipt ids
    if sources == "'none'":
        response.headers["X-Frame-Options"] = "DENY"
    else:
        response.headers.pop("X-Frame-Options", None)  # it cannot name origins; frame-ancestors does
    policy = response.headers.get("Content-Security-Policy", DEFAULT_CSP)
    response.headers["Content-Security-Policy"] = with_frame_ancestors(policy, sources)
    if request.path.startswith(NO_STORE_PREFIXES):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def refuse_nul_in_url() -> None:
    """Raise InvalidInput for a NUL in the path or query: no database column can store or compare it."""
    if "\x00" in request.path or b"%00" in request.query_string or b"\x00" in request.query_string:
        raise InvalidInput("The URL may not contain NUL characters")


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_in_url)
    app.after_request(add_security_headers)
