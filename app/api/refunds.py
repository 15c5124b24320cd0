"""Refunds of a receipt (receipts:refund): request one, let the shopper give an address through a claim link if
needed, then link the merchant's transaction."""
from __future__ import annotations

from datetime import timedelta

from flask import jsonify

from app.api import bp
from app.api.schemas import ClaimLinkSchema, RefundEnvelopeSchema, RefundRequestSchema, RefundTxSchema
from app.auth.keys import current_merchant, requires
from app.chain.client import connect, rpc_errors
from app.config import current_config
from app.fields import json_object, load
from app.openapi import doc
from app.services import orders, refund_claims, refunds


@bp.post("/receipts/<receipt_id>/refund")
@requires("receipts:refund")
@doc("Request a refund (whole or part) that the merchant will pay from its own wallet", RefundEnvelopeSchema,
     request=RefundRequestSchema, status=201, errors=(404, 409, 413))
def request_refund(receipt_id: str):
    order = orders.get_receipt(current_merchant(), receipt_id)
    data = load(RefundRequestSchema(), json_object())
    refund = refunds.create_refund(order, refunds.RefundRequest(
        token=data["token"], chain_id=data["chainId"], amount_cents=data["amount"], amount_base_units=data["amountBaseUnits"],
        to=data["to"], reason=data["reason"], items=data["items"]))
    return jsonify(RefundEnvelopeSchema().dump({"ok": True, "refund": refund})), 201


@bp.post("/receipts/<receipt_id>/refunds/<refund_id>/tx")
@requires("receipts:refund")
@doc("Link the refund's transaction; it is checked on chain now (chain, token, recipient, amount) and "
     "confirmed by the watcher after the configured confirmations", RefundEnvelopeSchema,
     request=RefundTxSchema, errors=(404, 409, 413, 503))
def link_refund_tx(receipt_id: str, refund_id: str):
    order = orders.get_receipt(current_merchant(), receipt_id)
    refund = refunds.get_refund(order, refund_id)
    tx_hash = load(RefundTxSchema(), json_object())["txHash"].lower()
    chain = refunds.refund_chain_settings(refund)
    w3 = connect(chain)
    with rpc_errors("check the refund transaction"):
        refund = refunds.link_transaction(w3, chain, order, refund, tx_hash)
    return jsonify(RefundEnvelopeSchema().dump({"ok": True, "refund": refund}))


@bp.post("/receipts/<receipt_id>/refunds/<refund_id>/claim-link")
@requires("receipts:refund")
@doc("Create a single-use, expiring link (/refund/<token>) where the shopper gives the address to refund to "
     "(for payments sent from an exchange); replaces the refund's unused links", ClaimLinkSchema, status=201,
     errors=(404, 409))
def create_claim_link(receipt_id: str, refund_id: str):
    order = orders.get_receipt(current_merchant(), receipt_id)
    refund = refunds.get_refund(order, refund_id)
    token, expires_at = refund_claims.create_link(
        order, refund, timedelta(seconds=current_config().REFUND_CLAIM_TTL_SECONDS))
    return jsonify(ClaimLinkSchema().dump({"ok": True, "url": refund_claims.claim_url(token),
                                           "expires_at": expires_at})), 201
