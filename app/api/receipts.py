"""Receipt routes (receipts:read) and the receipt body shared with order creation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import jsonify, request

from app.api import bp
from app.api.schemas import ReceiptEnvelopeSchema, ReceiptListQuerySchema, ReceiptListSchema
from app.auth.keys import current_merchant, requires
from app.chain import eip681
from app.config import current_config
from app.domain.money import cents_to_usd, units_display
from app.fields import load
from app.models import Order, Quote
from app.openapi import doc
from app.services import inventory, ledger, orders, refunds

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


def receipt_body(order: Order, thumbs: dict[str, str] | None = None) -> dict:
    """Return the receipt as the reference shapes it, plus paymentUrl, expiresAt and history.

    thumbs maps item ids to thumbnail data URIs; looked up for this order when not given.
    """
    if thumbs is None:
        thumbs = inventory.thumbnails({line["itemId"] for line in order.line_items})
    lines = [{"label": line["label"], "priceUsd": cents_to_usd(line["totalCents"]), "qty": line["qty"],
              "itemId": line["itemId"], "sku": line["sku"],
              **({"thumb": thumbs[line["itemId"]]} if line["itemId"] in thumbs else {})}
             for line in order.line_items]
    for label, cents in (("Tax", order.tax_cents), ("Processing Fee", order.fee_cents)):
        if cents:
            lines.append({"label": label, "priceUsd": cents_to_usd(cents)})
    return {
        "receiptId": order.receipt_id, "totalUsd": cents_to_usd(order.total_cents),
        "subtotalUsd": cents_to_usd(order.subtotal_cents), "taxUsd": cents_to_usd(order.tax_cents),
        "processingFeeUsd": cents_to_usd(order.fee_cents), "currency": order.currency,
        "lineItems": lines, "createdAt": order.created_at, "expiresAt": order.expires_at,
        "brandName": order.brand_name, "status": order.status, "exceptionStatus": order.exception_status,
        "jurisdictionCode": order.jurisdiction_code, "taxRate": order.tax_rate,
        "taxComponents": order.tax_components, "paymentUrl": payment_url(order.receipt_id),
        "statusHistory": [{"status": h.status, "at": h.at, "actor": h.actor, "cause": h.cause}
                          for h in order.history],
        "chainId": order.chain_id, "depositAddress": order.deposit_address,
        "quotes": [quote_body(order, q) for q in order.quotes],
        **settlement_body(order),
    }


def settlement_body(order: Order) -> dict:
    """Return what happened to the order's money: payments, sweeps into the split, refunds, and the ledger."""
    first_sweep = min((s.block_number for s in order.sweeps), default=None)
    payments = [{**vars(p), "after_settlement": first_sweep is not None and p.block_number > first_sweep}
                for p in order.payments]
    return {"settledAt": order.settled_at, "payments": payments, "sweeps": order.sweeps, "refunds": order.refunds,
            "refundedUsd": cents_to_usd(refunds.refunded_cents(order)),
            "ledger": [ledger_entry(order, entry) for entry in ledger.order_ledger(order).values()]}


def ledger_entry(order: Order | None, entry: ledger.TokenLedger, cents: dict[str, int] | None = None) -> dict:
    """Return a ledger line: base units, and USD at the order's quote rate (or the given cents)."""
    cents = ledger.in_usd(order, entry) if cents is None else cents
    return {**vars(entry), "usd": {name: cents_to_usd(value) for name, value in cents.items()}}


def quote_body(order: Order, quote: Quote) -> dict:
    """Return one token quote: base units as a string (exact beyond 2^53), the display amount, the EIP-681 URI."""
    units = quote.amount_base_units
    uri = eip681.quote_uri(quote.token_address, order.chain_id, order.deposit_address, units)
    return {"token": quote.symbol, "tokenAddress": quote.token_address, "decimals": quote.decimals,
            "amount": str(units), "amountDisplay": units_display(units, quote.decimals),
            "usdRate": quote.usd_rate, "depositAddress": order.deposit_address, "uri": uri,
            "expiresAt": quote.expires_at}


def payment_url(receipt_id: str) -> str:
    """Return the shopper's pay link: PUBLIC_URL when configured, else this request's host."""
    base = current_config().PUBLIC_URL or request.url_root.rstrip("/")
    return f"{base}/pay/{receipt_id}"
