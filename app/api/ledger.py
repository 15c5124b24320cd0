"""The merchant's ledger: per token, what was received, paid out to merchant and platform, held, refunded."""
from __future__ import annotations

from datetime import timedelta

from flask import jsonify, request

from app.api import bp
from app.api.receipts import window_end, window_start
from app.services.receipts import ledger_entry
from app.api.schemas import LedgerSummarySchema, TimeWindowSchema
from app.auth.keys import current_merchant, requires
from app.config import current_config
from app.fields import load
from app.openapi import doc
from app.services import ledger


@bp.get("/ledger/summary")
@requires("receipts:read")
@doc("Totals per token over the orders created in [start, end) (ms or s since the epoch); at most LEDGER_MAX_DAYS "
     "(default 366) long, and without start the LEDGER_MAX_DAYS before end", LedgerSummarySchema,
     query=TimeWindowSchema)
def ledger_summary():
    query = load(TimeWindowSchema(), request.args.to_dict())
    start, end = ledger.bounded_window(window_start(query["start"]), window_end(query["end"]),
                                       timedelta(days=current_config().LEDGER_MAX_DAYS))
    units, cents = ledger.merchant_summary(current_merchant(), start, end)
    tokens = [ledger_entry(None, entry, cents[asset]) for asset, entry in sorted(units.items())]
    return jsonify(LedgerSummarySchema().dump({"ok": True, "tokens": tokens}))
