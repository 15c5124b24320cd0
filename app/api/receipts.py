"""Receipt routes (receipts:read); the receipt body is app/services/receipts.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import g, jsonify, request

from app.api import bp
from app.api.schemas import (
    CancelOrderSchema,
    ReceiptEnvelopeSchema,
    ReceiptListQuerySchema,
    ReceiptListSchema,
    load_receipt_query,
)
from app.auth.keys import current_merchant, requires
from app.fields import json_object, load
from app.openapi import doc
from app.services import inventory, live_status, orders
from app.services.receipts import receipt_body

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
SECONDS_BEFORE_MS = 10**11  # below this a timestamp is taken as seconds, as the reference accepts both


@bp.get("/receipts")
@requires("receipts:read")
@doc("List receipts, newest first; filter by status and by metadata.<key>=<value> (any number of keys, exact "
     "match), page with cursor=<nextCursor>", ReceiptListSchema, query=ReceiptListQuerySchema)
def list_receipts():
    query = load_receipt_query(request.args)
    found, next_cursor = orders.list_receipts(current_merchant(), orders.ReceiptQuery(
        limit=query["limit"], start=window_start(query["start"]), end=window_end(query["end"]),
        status=query["status"], metadata=query["metadata"], cursor=query["cursor"]))
    thumbs = inventory.thumbnails({line["itemId"] for order in found for line in order.line_items})
    page = {"receipts": [receipt_body(o, thumbs) for o in found]}
    if next_cursor is not None:
        page["nextCursor"] = next_cursor
    return jsonify(ReceiptListSchema().dump(page))


@bp.get("/receipts/<receipt_id>")
@requires("receipts:read")
@doc("One receipt with its status history", ReceiptEnvelopeSchema, errors=(404,))
def get_receipt(receipt_id: str):
    order = orders.get_receipt(current_merchant(), receipt_id)
    return jsonify(ReceiptEnvelopeSchema().dump({"ok": True, "receipt": receipt_body(order)}))


def _as_millis(value: int) -> int:
    return value * 1000 if value < SECONDS_BEFORE_MS else value


def window_start(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(milliseconds=_as_millis(value))


def window_end(value: int | None) -> datetime | None:
    """Return the exclusive upper bound: the end names a whole second or millisecond."""
    if value is None:
        return None
    step = 1000 if value < SECONDS_BEFORE_MS else 1
    return EPOCH + timedelta(milliseconds=_as_millis(value) + step)


@bp.post("/receipts/<receipt_id>/cancel")
@requires("orders:create")
@doc("Cancel an order that received nothing (generated or expired): it becomes cancelled, its deposit address "
     "is no longer watched and its pay page offers no payment; optional body {\"reason\"}", ReceiptEnvelopeSchema,
     request=CancelOrderSchema, errors=(404, 409, 413))
def cancel_order(receipt_id: str):
    order = orders.get_receipt(current_merchant(), receipt_id)
    reason = load(CancelOrderSchema(), json_object() if request.get_data() else {})["reason"]
    order = orders.cancel_order(order, g.caller.actor, reason)
    live_status.publish([order.receipt_id])  # an open pay page stops offering payment at once
    return jsonify(ReceiptEnvelopeSchema().dump({"ok": True, "receipt": receipt_body(order)}))
