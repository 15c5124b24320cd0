"""Refund claim links: where the shopper, not the merchant, says which address a refund pays.

For payments sent from an exchange (whose sending address is not the shopper's) the merchant creates a
link for a requested refund; the shopper opens `/refund/<token>` and enters an address. The token is 256
random bits, stored only as its SHA-256, usable once and until it expires (REFUND_CLAIM_TTL). A new link
for the same refund replaces the unused ones.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from eth_utils import to_checksum_address
from flask import has_request_context, request
from sqlalchemy import delete, update

from app.domain.statuses import RefundStatus
from app.config import current_config
from app.errors import Conflict, InvalidInput, NotFound
from app.extensions import db
from app.models import Order, Refund, RefundClaim, utcnow
from app.services import refunds

logger = logging.getLogger(__name__)

GONE = "This refund link is unknown, already used or expired; ask the shop for a new one"


@dataclass(frozen=True)
class Claim:
    """An open claim link with what the shopper sees: the refund and its order."""

    claim: RefundClaim
    refund: Refund
    order: Order


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def claim_url(token: str) -> str:
    """Return the link the merchant sends the shopper: on PUBLIC_URL when configured, else this request's host."""
    base = current_config().PUBLIC_URL or (request.url_root.rstrip("/") if has_request_context() else "")
    return f"{base}/refund/{token}"


def create_link(order: Order, refund: Refund, ttl: timedelta) -> tuple[str, datetime]:
    """Return a new claim token for refund and when it lapses; raises Conflict unless the refund is requested."""
    if refund.status != RefundStatus.REQUESTED:
        raise Conflict(f"Refund {refund.id} is {refund.status}: only a requested refund can change its recipient")
    now = utcnow()
    token = secrets.token_urlsafe(32)
    db.session.execute(delete(RefundClaim).where(RefundClaim.refund_id == refund.id, RefundClaim.used_at.is_(None)))
    db.session.add(RefundClaim(token_hash=token_hash(token), refund_id=refund.id, created_at=now,
                               expires_at=now + ttl))
    db.session.commit()
    logger.info("refund claim link created receipt=%s refund=%s", order.receipt_id, refund.id)
    return token, now + ttl


def open_claim(token: str) -> Claim:
    """Return the claim link of token while it is unused, unexpired and its refund still requested; else NotFound."""
    claim = db.session.get(RefundClaim, token_hash(token))
    if claim is None or claim.used_at is not None or claim.expires_at <= utcnow():
        raise NotFound(GONE)
    refund = db.session.get(Refund, claim.refund_id)
    if refund.status != RefundStatus.REQUESTED:
        raise NotFound(GONE)
    return Claim(claim, refund, db.session.get(Order, refund.order_id))


def claim(token: str, address: str) -> Claim:
    """Use the link: the refund will pay address; raises NotFound (link not usable), InvalidInput (the merchant's
    own address) or Conflict (used at the same moment by another request)."""
    found = open_claim(token)
    address = to_checksum_address(address)
    if address.lower() in refunds.own_addresses(found.order):
        raise InvalidInput("This address belongs to the shop",
                           fields={"address": ["This address belongs to the shop: give an address of yours."]})
    now = utcnow()
    # Single use even under concurrent submits: only one UPDATE finds the link unused.
    used = db.session.execute(update(RefundClaim).where(RefundClaim.token_hash == found.claim.token_hash,
                                                        RefundClaim.used_at.is_(None))
                              .values(used_at=now, address=address))
    refund = db.session.get(Refund, found.refund.id, with_for_update=True, populate_existing=True)
    if used.rowcount != 1 or refund.status != RefundStatus.REQUESTED:
        db.session.rollback()
        raise NotFound(GONE)
    refund.to_address, refund.to_source = address, "claim"
    db.session.commit()
    logger.info("refund claimed receipt=%s refund=%s to=%s", found.order.receipt_id, refund.id, address)
    return Claim(found.claim, refund, found.order)
