"""Receipt routes (receipts:read); the receipt body is app/services/receipts.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import jsonify, request

from app.api import bp
from app.api.schemas import ReceiptEnvelopeSchema, ReceiptListQuerySchema, ReceiptListSchema
from app.auth.keys import current_merchant, requires
from app.fields import load
from app.openapi import doc
from app.services import inventory, orders
from app.services.receipts import receipt_body

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
SECONDS_BEFORE_MS = 10**11  # below this a timestamp is taken as seconds, as the reference accepts both


@bp.get("/receipts")
@requires("receipts:read")
@doc("List receipts, newest first", ReceiptListSchema, query=ReceiptListQuerySchema)
def list_receipts():
    query = load(ReceiptListQuerySchema(), request.args.to_dict())
    found = orders.list_receipts(current_merchant(), query["limit"], window_start(query["start"]),
                                 window_end(query["end"]))
    thumbs = inventory.thumbnails({line["itemId"] for order in found for line in order.line_items})
    return jsonify(ReceiptListSchema().dump({"receipts": [receipt_body(o, thumbs) for o in found]}))


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
