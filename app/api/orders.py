"""POST /api/orders: a cart in, an exactly priced receipt out."""
from __future__ import annotations

import hashlib

from flask import g, jsonify, request

from app.api import bp
from app.services.receipts import receipt_body
from app.api.schemas import CreateOrderSchema, ReceiptEnvelopeSchema
from app.auth.keys import current_merchant, requires
from app.config import current_config
from app.errors import InvalidInput, ItemsRequired
from app.fields import json_object, load
from app.jsoncodec import canonical
from app.openapi import doc
from app.services import orders

MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "required": False,
                   "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
                   "description": "Retry-safe creation: a repeat with the same key and body answers the first "
                                  "order (Idempotent-Replayed: true); the same key with another body is a 409"}


@bp.post("/orders")
@requires("orders:create")
@doc("Create an order and its receipt from inventory", ReceiptEnvelopeSchema, request=CreateOrderSchema,
     errors=(404, 409, 413), headers=(IDEMPOTENCY_KEY,))
def create_order():
    order_request = _order_request(json_object())
    order, replayed = orders.create_order(current_merchant(), order_request,
                                         orders.OrderSettings.from_config(current_config()),
                                         actor=g.caller.actor)
    response = jsonify(ReceiptEnvelopeSchema().dump({"ok": True, "receipt": receipt_body(order)}))
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _order_request(body: dict) -> orders.OrderRequest:
    if body.get("items") in (None, []):
        raise ItemsRequired()
    data = load(CreateOrderSchema(require_https=not current_config().is_dev), body)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise InvalidInput("Idempotency-Key must be 1 to 255 printable characters")
    return orders.OrderRequest(
        items=data["items"], jurisdiction_code=data["jurisdiction_code"], tax_rate=data["tax_rate"],
        tax_components=data["tax_components"], metadata=data["metadata"], redirect_url=data["redirect_url"],
        idempotency_key=key,
        request_hash=hashlib.sha256(canonical(body).encode()).hexdigest())

