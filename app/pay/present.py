"""What the pay page and its live status show, built from an order (no queries beyond the order's own)."""
from __future__ import annotations

from datetime import datetime

from app.chain import eip681
from app.chain.settings import ChainSettings
from app.domain import checkout as words
from app.domain import settlement
from app.domain.money import cents_to_usd, units_display
from app.domain.statuses import OrderStatus
from app.models import Order, Payment, Quote, Refund
from app.pay import qr
from app.services import checkout
from app.services.payments import paid_cents

def token_options(order: Order, due_cents: int) -> list[dict]:
    """Return, per quoted token, what to send now (the whole quote, or what is still due) and its URI;
    nothing once nothing is due (a paid order must not invite a second payment) or the order is cancelled."""
    payable = due_cents > 0 and order.status != OrderStatus.CANCELLED
    return [_option(order, quote, due_cents) for quote in offered(order)] if payable else []


def offered(order: Order) -> list[Quote]:
    """Return the quotes the pay page shows (not those fixed for a payment on a network it did not offer)."""
    return [q for q in order.quotes if q.offered]


def token_option(order: Order, paid: list[Payment], token: str, chain_id: int | None = None) -> dict | None:
    """Return what to send now in one token (on chain_id, else on the first chain quoting it), or None when the
    order has no such quote, nothing is due or it is cancelled."""
    due_cents = max(0, order.total_cents - paid_cents(order, paid))
    quote = next((q for q in offered(order) if q.symbol == token and chain_id in (None, q.chain_id)), None)
    if quote is None or due_cents == 0 or order.status == OrderStatus.CANCELLED:
        return None
    return _option(order, quote, due_cents)


def _option(order: Order, quote: Quote, due_cents: int) -> dict:
    units = checkout.due_units(quote, due_cents) if due_cents < order.total_cents else quote.amount_base_units
    uri = eip681.quote_uri(quote.token_address, quote.chain_id, order.deposit_address, units)
    return {"chainId": quote.chain_id, "token": quote.symbol, "tokenAddress": quote.token_address,
            "decimals": quote.decimals,
            "amount": str(units), "amountDisplay": units_display(units, quote.decimals),
            "uri": uri, "qrVersion": qr.version(uri)}


def status_body(order: Order, paid: list[Payment], heads: dict[int, int], chains: tuple[ChainSettings, ...],
                now: datetime | None = None) -> dict:
    """Return the live status: status words, paid and due amounts, confirmations, payments with tx hashes."""
    progress = checkout.progress(order, paid, heads, chains, now)
    latest = max(paid, key=settlement.arrival, default=None)
    title, message = words.explain(progress)
    return {
        "receiptId": order.receipt_id, "status": order.status, "exceptionStatus": order.exception_status,
        "state": words.state(progress), "title": title, "message": message,
        "totalUsd": cents_to_usd(order.total_cents), "paidUsd": cents_to_usd(progress.paid_cents),
        "dueUsd": cents_to_usd(progress.due_cents), "expiresAt": order.expires_at,
        "confirmationsRequired": checkout.needed(chains, latest.chain_id if latest else chains[0].chain_id),
        "confirmationsMissing": progress.confirmations_missing,
        "payments": [payment_body(order, p, heads, stray) for p, stray in checkout.with_strays(order, paid)],
        "options": token_options(order, progress.due_cents),
        "returnUrl": words.return_url(order.redirect_url, order.status, order.receipt_id),
    }


def payment_body(order: Order, payment: Payment, heads: dict[int, int], stray: bool = False) -> dict:
    """Return one received payment as the shopper sees it; stray when it does not count towards the total."""
    return {"txHash": payment.tx_hash, "chainId": payment.chain_id, "token": payment.symbol,
            "amount": str(payment.amount_base_units),
            "amountDisplay": units_display(payment.amount_base_units, decimals_of(order, payment)),
            "usd": cents_to_usd(payment.usd_cents), "block": payment.block_number, "late": payment.late,
            "confirmations": settlement.confirmations(heads.get(payment.chain_id), payment.block_number),
            "stray": stray}


def decimals_of(order: Order, move: Payment | Refund) -> int:
    """Return the decimals of the asset a payment or refund is in (its quote's; 18 for a token never quoted)."""
    return next((q.decimals for q in order.quotes if (q.chain_id, q.symbol) == (move.chain_id, move.symbol)), 18)


def refund_body(order: Order, refund: Refund, chain: ChainSettings) -> dict:
    """Return one confirmed refund as the shopper sees it, its transaction linked to the explorer."""
    decimals = decimals_of(order, refund)
    return {"txHash": refund.tx_hash, "link": explorer_tx(chain, refund.tx_hash), "token": refund.symbol,
            "amountDisplay": units_display(refund.paid_base_units, decimals), "usd": cents_to_usd(refund.usd_cents)}


def refund_amount(order: Order, refund: Refund) -> str:
    """Return what a refund pays, for the shopper: "12.65 USDC"."""
    decimals = decimals_of(order, refund)
    return f"{units_display(refund.amount_base_units, decimals)} {refund.symbol}"


def explorer_tx(chain: ChainSettings, tx_hash: str) -> str | None:
    """Return the block explorer's page of a transaction, or None (no explorer, or a balance credit)."""
    if not chain.explorer_url or not tx_hash.startswith("0x"):
        return None
    return f"{chain.explorer_url}/tx/{tx_hash}"
