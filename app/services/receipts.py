"""The receipt as every reader gets it: the API, order creation and webhook events (DESIGN.md §8, §12)."""
from __future__ import annotations


from flask import has_request_context, request

from app.chain import eip681
from app.config import current_config
from app.domain import settlement
from app.domain.money import cents_to_usd, units_display
from app.models import Order, Quote, Refund
from app.services import inventory, ledger
from app.services.receipt_schemas import ReceiptSchema, RefundSchema

RECEIPT, REFUND = ReceiptSchema(), RefundSchema()


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
        "quotes": [quote_body(order, q) for q in order.quotes if q.offered],
        "metadata": order.order_metadata, "redirectUrl": order.redirect_url,
        **settlement_body(order),
    }


def settlement_body(order: Order) -> dict:
    """Return what happened to the order's money: payments, sweeps into the split, refunds, and the ledger."""
    rates = settlement.rates(order.quotes)
    stray = {id(p) for p in settlement.strays(rates, order.payments)}
    payments = [{**vars(p), "after_settlement": settlement.after_settlement(p, order.sweeps),
                 "stray": id(p) in stray, "valued_rate": settlement.valued_rate(rates, p)}
                for p in order.payments]
    return {"settledAt": order.settled_at, "payments": payments, "sweeps": order.sweeps, "refunds": order.refunds,
            "refundedUsd": cents_to_usd(settlement.refunded_cents(order.refunds)),
            "ledger": [ledger_entry(order, entry) for entry in ledger.order_ledger(order).values()]}


def ledger_entry(order: Order | None, entry: ledger.TokenLedger, cents: dict[str, int] | None = None) -> dict:
    """Return a ledger line: base units, and USD at the order's quote rate (or the given cents)."""
    cents = ledger.in_usd(order, entry) if cents is None else cents
    return {**vars(entry), "usd": {name: cents_to_usd(value) for name, value in cents.items()}}


def quote_body(order: Order, quote: Quote) -> dict:
    """Return one quote of a token on a chain: base units as a string (exact beyond 2^53), the display amount,
    the EIP-681 URI (which names the chain, so a wallet switches to it)."""
    units = quote.amount_base_units
    uri = eip681.quote_uri(quote.token_address, quote.chain_id, order.deposit_address, units)
    return {"chainId": quote.chain_id, "token": quote.symbol, "tokenAddress": quote.token_address,
            "decimals": quote.decimals,
            "amount": str(units), "amountDisplay": units_display(units, quote.decimals),
            "usdRate": quote.usd_rate, "depositAddress": order.deposit_address, "uri": uri,
            "expiresAt": quote.expires_at}


def payment_url(receipt_id: str) -> str:
    """Return the shopper's pay link: PUBLIC_URL when configured, else this request's host (outside a
    request, as in the watcher's webhook events without PUBLIC_URL, a path from the site's root)."""
    base = current_config().PUBLIC_URL or (request.url_root.rstrip("/") if has_request_context() else "")
    return f"{base}/pay/{receipt_id}"


def receipt_json(order: Order) -> dict:
    """Return the receipt exactly as GET /api/receipts/<id> answers it (decimals stay Decimal)."""
    return RECEIPT.dump(receipt_body(order))


def refund_json(refund: Refund) -> dict:
    """Return one refund as the receipt lists it."""
    return REFUND.dump(refund)

