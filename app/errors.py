"""The API error tree and the one renderer for every error (DESIGN.md §8): the JSON error model, or the
shopper's error page under /pay/ and /receipt/."""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request, url_for
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)

# The shopper's pages: their errors are pages too. Every other path (/api, /auth, /healthz, ...) answers JSON.
PAGE_PREFIXES = ("/pay/", "/receipt/", "/refund/")
PAGE_TEMPLATE = "pay/error.html"


class ApiError(Exception):
    """An error the client can act on; subclasses fix status and code."""

    status = 400
    code = "invalid_input"
    default_message = "Invalid request"

    def __init__(self, message: str | None = None, fields: dict | None = None, **extra) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.fields = fields
        self.extra = extra

    def to_dict(self) -> dict:
        body = {"error": self.code, "message": self.message, **self.extra}
        if self.fields:
            body["fields"] = self.fields
        return body


class InvalidInput(ApiError):
    pass


class ItemsRequired(ApiError):
    code = "items_required"
    default_message = "At least one item is required"


class InventoryItemNotFound(ApiError):
    code = "inventory_item_not_found"
    default_message = "Inventory item not found"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    default_message = "Missing or invalid subscription key"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    default_message = "Not allowed"


class InsufficientScope(ApiError):
    status = 403
    code = "insufficient_scope"
    default_message = "The key lacks the scope this route needs"


class CsrfFailed(ApiError):
    status = 403
    code = "csrf_failed"
    default_message = "A cookie-authenticated change needs the X-CSRF-Token header matching the cb_csrf cookie"


class SplitRequired(ApiError):
    status = 403
    code = "split_required"
    default_message = "Split contract not configured for this merchant"


class NotFound(ApiError):
    status = 404
    code = "not_found"
    default_message = "Not found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"
    default_message = "The method is not allowed for this URL"


class Conflict(ApiError):
    status = 409
    code = "conflict"
    default_message = "Conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    default_message = "Request body too large"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"
    default_message = "Rate limit exceeded"


class InternalError(ApiError):
    status = 500
    code = "internal_error"
    default_message = "Internal server error"


class HttpError(ApiError):
    """Any other HTTP error Werkzeug raises (a bad range, a header too large, ...): its status and description."""

    def __init__(self, error: HTTPException) -> None:
        super().__init__(error.description)
        self.http_status = error.code or 500

    @property
    def status(self) -> int:
        return self.http_status

    @property
    def code(self) -> str:
        return "invalid_input" if self.http_status < 500 else "internal_error"


class ChainUnavailable(ApiError):
    status = 503
    code = "chain_unavailable"
    default_message = "The chain is not configured or its RPC cannot be reached"



def json_errors(view):
    """Mark a view under a page prefix that answers errors in the JSON error model (a poll, an image, a stream)."""
    view.json_errors = True
    return view


def wants_page() -> bool:
    """Return True when this request's error is shown as a page: its path is a shopper's page (known or not),
    and its route, if any, is not marked @json_errors."""
    if not request.path.startswith(PAGE_PREFIXES):
        return False
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return not getattr(view, "json_errors", False)


def render(error: ApiError) -> Response:
    """Return the response for error: the shopper's error page or the JSON error model, chosen by path."""
    if not wants_page():
        return make_response(jsonify(error.to_dict()), error.status)
    receipt_id = (request.view_args or {}).get("receipt_id")
    back = url_for("pay.page", receipt_id=receipt_id) if error.status != 404 and receipt_id else None
    return make_response(render_template(PAGE_TEMPLATE, error=error, back=back), error.status)


def from_http(error: HTTPException) -> ApiError:
    """Return the ApiError that answers a Werkzeug HTTP error (unknown path, wrong method, body too large, ...)."""
    status = error.code or 500
    if status == 413:
        limit = request.max_content_length
        return PayloadTooLarge(f"Request body too large: at most {limit} bytes" if limit else None)
    if status in (404, 405):
        return (NotFound if status == 404 else MethodNotAllowed)(error.description)
    return HttpError(error)


def register_error_handlers(app: Flask) -> None:
    """Render ApiError, HTTP errors and unexpected failures, all through render()."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return render(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        response = render(from_http(error))
        if error.code == 405:
            response.headers["Allow"] = ", ".join(error.valid_methods or [])
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        logger.exception("unhandled error path=%s", request.path)
        return render(InternalError())
