"""The shopper's pages: /pay/<id> (pay page, QR images, live status, requote) and /receipt/<id>.

Public by design: the receipt id (60 random bits) is the only credential, as on every hosted checkout.
Pages work without JavaScript; pay.js adds live status, copy buttons, the countdown and the wallet button.
"""
from __future__ import annotations

import threading

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, render_template, request, url_for

from app.config import current_config
from app.domain.statuses import RefundStatus
from app.errors import PAGE_PREFIXES, NotFound, json_errors
from app.openapi import doc
from app.pay import filters, present, qr, stream
from app.pay.schemas import PayStatusSchema
from app.services import checkout, live_status
from app.services.orders import OrderSettings

bp = Blueprint("pay", __name__)
filters.register(bp)

# No inline script or style anywhere: pay.js and pay.css are files; thumbnails and the logo are data: URIs.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'")  # frame-ancestors: added by app/security.py (PAY_FRAME_ANCESTORS)
QR_MAX_AGE = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    """Register the pages and their headers, and size this process's pool of live status streams."""
    app.extensions["pay_streams"] = threading.BoundedSemaphore(app.config["TILLPOINT"].PAY_STREAMS)
    app.register_blueprint(bp)
    app.after_request(_page_headers)


def _page_headers(response: Response) -> Response:
    """Set the pages' headers on every answer under their paths (error pages of unknown paths included),
    keeping a route's own Content-Security-Policy."""
    if not request.path.startswith(PAGE_PREFIXES):
        return response
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The receipt id in the URL is the shopper's credential: never send it to an explorer or wallet site.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/pay/<receipt_id>")
@doc("The pay page: receipt, token choice, amount, address, network, QR, countdown, live status",
     None, media="text/html", errors=(404,))
def page(receipt_id: str):
    snap = checkout.snapshot(receipt_id, with_media=True)
    status = present.status_body(snap.order, snap.paid, snap.heads, _chains())
    tokens = [o["token"] for o in status["options"]]
    chosen = request.args.get("token")
    return _render("pay/page.html", snap, status, options=status["options"],
                   selected=chosen if chosen in tokens else next(iter(tokens), None),
                   can_requote=status["state"] == "expired")  # stray receipts leave an order expired


@bp.get("/receipt/<receipt_id>")
@doc("The printable receipt: merchant, lines, totals, payments linked to the block explorer, refunds",
     None, media="text/html", errors=(404,))
def receipt(receipt_id: str):
    snap = checkout.snapshot(receipt_id, with_media=True)
    chains = _chains()
    payments = [{**present.payment_body(snap.order, p, snap.heads),
                 "link": present.explorer_tx(checkout.chain_named(chains, p.chain_id), p.tx_hash)}
                for p in snap.paid]
    refunds = [present.refund_body(snap.order, r, checkout.chain_named(chains, r.chain_id))
               for r in snap.order.refunds if r.status == RefundStatus.CONFIRMED]
    return _render("pay/receipt.html", snap, present.status_body(snap.order, snap.paid, snap.heads, chains),
                   payments=payments, refunds=refunds)


@bp.get("/pay/<receipt_id>/qr/<token>.<fmt>")
@json_errors
@doc("QR code of the EIP-681 URI for a token (what is due now); cacheable for a year with ?v=<qrVersion>",
     None, media="image/png", errors=(404,))
def qr_image(receipt_id: str, token: str, fmt: str):
    if fmt not in qr.FORMATS:
        raise NotFound(f"No QR format {fmt}; use png or svg")
    version = request.args.get("v")
    uri = qr.known_uri(receipt_id, token, version) if version else None
    if uri is None:  # not yet served by this process: the database says what is due now
        snap = checkout.snapshot(receipt_id)
        option = present.token_option(snap.order, snap.paid, token)
        if option is None:
            raise NotFound(f"Nothing to pay on receipt {receipt_id} in {token}")
        uri = qr.remember(receipt_id, token, option["uri"])
    response = Response(qr.render(uri, fmt), mimetype=qr.FORMATS[fmt])
    response.set_etag(qr.version(uri))
    if version == qr.version(uri):  # a URL naming the URI it shows never changes
        response.cache_control.public, response.cache_control.max_age = True, QR_MAX_AGE
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True
    return response.make_conditional(request)


@bp.get("/pay/<receipt_id>/status")
@json_errors
@doc("Live status: status words, paid and due amounts, confirmations, tx hashes", PayStatusSchema,
     errors=(404,))
def status(receipt_id: str):
    snap = checkout.snapshot(receipt_id)
    response = jsonify(PayStatusSchema().dump(present.status_body(snap.order, snap.paid, snap.heads, _chains())))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/pay/<receipt_id>/events")
@json_errors
@doc("Live status as Server-Sent Events (event `status`, data as /status); 204 when this server has no "
     "stream free (poll /status instead)", None, media="text/event-stream", errors=(404,))
def events_stream(receipt_id: str):
    checkout.find_order(receipt_id)
    streams = current_app.extensions["pay_streams"]
    if not streams.acquire(blocking=False):
        return Response(status=204)
    app = current_app._get_current_object()
    # gunicorn hands over the shopper's socket, so a closed tab is noticed while the stream waits.
    client = request.environ.get("gunicorn.socket")
    response = Response(stream.status_events(app, receipt_id, _read_status, client=client),
                        mimetype="text/event-stream")
    response.call_on_close(streams.release)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy must pass each event on at once
    return response


@bp.post("/pay/<receipt_id>/requote")
@doc("Get a new quote for an expired, unpaid order (same deposit address); redirects to the pay page",
     None, media="text/html", status=303, errors=(404, 409, 503))
def requote(receipt_id: str):
    checkout.requote(receipt_id, OrderSettings.from_config(current_config()))
    live_status.publish([receipt_id])
    return redirect(url_for(".page", receipt_id=receipt_id), 303)


def _read_status(receipt_id: str) -> dict:
    snap = checkout.snapshot(receipt_id)
    return PayStatusSchema().dump(present.status_body(snap.order, snap.paid, snap.heads, _chains()))


def _chain():
    return current_config().CHAIN


def _chains():
    return current_config().chains


def _render(template: str, snap: checkout.Snapshot, status: dict, **context) -> Response:
    """Return a shopper's page (revalidated on every visit: it shows live state)."""
    html = render_template(template, order=snap.order, status=status, chain=_chain(), thumbs=snap.thumbs,
                           logo=snap.logo, **context)
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    return response
