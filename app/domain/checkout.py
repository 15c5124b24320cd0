"""What the shopper is told: the status of an order in plain words, what is still due in each token, and
where the merchant's return link goes."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from app.domain.money import cents_to_usd


@dataclass(frozen=True)
class Progress:
    """An order's payment progress, as the pay page explains it."""

    status: str
    exception_status: str | None
    expired: bool  # the quote has lapsed (whatever the watcher has recorded yet)
    total_cents: int
    paid_cents: int
    confirmations_missing: int  # most confirmations any seen payment still needs
    network: str

    @property
    def due_cents(self) -> int:
        return max(0, self.total_cents - self.paid_cents)


def state(p: Progress) -> str:
    """Return the page state: waiting, seen, partial, settling, overpaid, late, completed, refunded, expired
    or cancelled."""
    if p.status in ("completed", "refunded", "cancelled"):
        return p.status
    if p.status == "paid":
        return {"paid_over": "overpaid", "paid_late": "late"}.get(p.exception_status or "", "settling")
    if p.status == "pending":
        return "partial" if p.exception_status == "paid_partial" else "seen"
    return "expired" if p.status == "expired" or p.expired else "waiting"


def explain(p: Progress) -> tuple[str, str]:
    """Return (title, message) telling the shopper where the order stands and what to do."""
    paid, due = cents_to_usd(p.paid_cents), cents_to_usd(p.due_cents)
    more = p.confirmations_missing
    wait = f"Waiting for {more} more confirmation{'s' if more != 1 else ''} on {p.network}."
    texts = {
        "waiting": ("Waiting for payment",
                    "Send exactly the amount shown to the deposit address before the quote expires."),
        "seen": ("Payment seen", f"{wait} There is nothing more to send."),
        "partial": ("Partially paid", f"Received ${paid}; ${due} is still due. Send the remaining amount "
                                      f"shown to the same address."),
        "settling": ("Paid — settling", "Your payment is confirmed and is being settled to the merchant. "
                                        "You can close this page."),
        "overpaid": ("Overpaid", f"Received ${paid}, ${cents_to_usd(p.paid_cents - p.total_cents)} more than "
                                 f"the total. The order is paid; ask the merchant to refund the difference."),
        "late": ("Paid late", "Your payment arrived after the quote expired. It was received and counts "
                              "for this order; the merchant has been told."),
        "completed": ("Completed", "Paid and settled to the merchant. Thank you!"),
        "refunded": ("Refunded", "The merchant refunded this order."),
        "cancelled": ("Cancelled", "The merchant cancelled this order. Do not send a payment; ask the "
                                   "merchant for a new order if you still want to buy."),
        "expired": ("Expired", "The quote expired before a payment arrived. Get a new quote to pay; "
                               "do not send funds for an expired quote."),
    }
    title, message = texts[state(p)]
    if state(p) == "partial" and more:
        message = f"{message} {wait}"
    return title, message


RETURN_STATUSES = frozenset({"paid", "completed"})


def return_url(redirect_url: str | None, status: str, receipt_id: str) -> str | None:
    """Return the merchant's redirect URL with receiptId set in its query (other parameters kept as written,
    an earlier receiptId replaced, the fragment kept), once the order is paid or completed; else None."""
    if not redirect_url or status not in RETURN_STATUSES:
        return None
    parts = urlsplit(redirect_url)
    kept = [pair for pair in parts.query.split("&")
            if pair and unquote_plus(pair.partition("=")[0]) != "receiptId"]
    query = "&".join([*kept, f"receiptId={quote(receipt_id, safe='')}"])
    return urlunsplit(parts._replace(query=query))
