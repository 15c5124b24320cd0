"""The shopper's refund claim page, /refund/<token>: where a refund should be sent (for payments made from an
exchange, whose sending address is not the shopper's).

Public like the pay page: the unguessable, single-use token is the credential. The form works without
JavaScript and carries a CSRF token (double submit: a SameSite=Strict cookie scoped to this path, echoed in
the form), so another site cannot submit an address in the shopper's name even if it learnt the link.
"""
from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, Response, render_template, request

from app.config import current_config
from app.errors import CsrfFailed, InvalidInput
from app.fields import load
from app.openapi import doc
from app.pay import present
from app.pay.schemas import ClaimFormSchema
from app.services import checkout, refund_claims

bp = Blueprint("refund_claim", __name__)

CSRF_COOKIE = "tp_claim_csrf"


@bp.get("/refund/<token>")
@doc("The refund claim page: the shopper enters the address to refund to (single use, expiring)", None,
     media="text/html", errors=(404,))
def page(token: str):
    found = refund_claims.open_claim(token)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = _render("pay/refund_claim.html", found, csrf=csrf)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="Strict", secure=not current_config().is_dev,
                        path=f"/refund/{token}", max_age=3600)
    return response


@bp.post("/refund/<token>")
@doc("Use a refund claim link (form: address, csrf); shows where the refund will be sent", None,
     media="text/html", errors=(400, 403, 404))
def claim(token: str):
    _check_csrf()
    try:
        address = load(ClaimFormSchema(), request.form.to_dict())["address"]
        found = refund_claims.claim(token, address)
    except InvalidInput as error:  # shown on the form again, so the shopper can correct the address
        return _render("pay/refund_claim.html", refund_claims.open_claim(token), error=error,
                       csrf=request.form.get("csrf", ""), address=request.form.get("address", "")), 400
    return _render("pay/refund_claimed.html", found)


def _check_csrf() -> None:
    """Raise CsrfFailed unless the form's csrf field equals this path's cookie."""
    sent, cookie = request.form.get("csrf", ""), request.cookies.get(CSRF_COOKIE, "")
    if not sent or not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise CsrfFailed("The form expired or came from another site: open the refund link again")


def _render(template: str, found: refund_claims.Claim, **context) -> Response:
    """Return a claim page; never cached or stored (it holds a single-use credential)."""
    response = Response(render_template(template, order=found.order, refund=found.refund,
                                        amount=present.refund_amount(found.order, found.refund),
                                        chain=checkout.chain_named(current_config().chains, found.refund.chain_id),
                                        **context), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response
