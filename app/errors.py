"""The API error tree and the one handler that renders it (DESIGN.md §8)."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


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


class Conflict(ApiError):
    status = 409
    code = "conflict"
    default_message = "Conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    default_message = "Request body too large"


class ChainUnavailable(ApiError):
    status = 503
    code = "chain_unavailable"
    default_message = "The chain is not configured or its RPC cannot be reached"



def register_error_handlers(app: Flask) -> None:
    """Render ApiError, HTTP errors and unexpected failures in the JSON error model."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return jsonify(error.to_dict()), error.status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            error.code or 500, "invalid_input" if (error.code or 500) < 500 else "internal_error"
        )
        response = jsonify({"error": code, "message": error.description})
        response.status_code = error.code or 500
        if error.code == 405:
            response.headers["Allow"] = ", ".join(error.valid_methods or [])
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        logger.exception("unhandled error path=%s", request.path)
        return jsonify({"error": "internal_error", "message": "Internal server error"}), 500
