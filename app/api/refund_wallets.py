"""Refund wallets: the wallets besides its own that a merchant pays refunds from (registered with their signature)."""
from __future__ import annotations

from flask import jsonify

from app.api import bp
from app.api.schemas import RefundWalletEnvelopeSchema, RefundWalletInSchema, RefundWalletListSchema
from app.auth.keys import current_merchant, requires
from app.fields import OkSchema, json_object, load
from app.openapi import doc
from app.services import refund_wallets


@bp.get("/refund-wallets")
@requires("shop:read")
@doc("The wallets a refund transaction may come from: the merchant's own and the registered ones",
     RefundWalletListSchema)
def list_refund_wallets():
    merchant = current_merchant()
    return jsonify(RefundWalletListSchema().dump({"ok": True, "merchant_wallet": merchant.wallet,
                                                  "wallets": refund_wallets.list_wallets(merchant)}))


@bp.post("/refund-wallets")
@requires("shop:write")
@doc("Register a refund wallet with its signature of the registration message (a 400 names the text to sign)",
     RefundWalletEnvelopeSchema, request=RefundWalletInSchema, status=201, errors=(409, 413))
def register_refund_wallet():
    data = load(RefundWalletInSchema(), json_object())
    wallet = refund_wallets.register(current_merchant(), data["address"], data["signature"])
    return jsonify(RefundWalletEnvelopeSchema().dump({"ok": True, "wallet": wallet})), 201


@bp.delete("/refund-wallets/<address>")
@requires("shop:write")
@doc("Stop accepting refund transactions from a registered wallet", OkSchema, errors=(404,))
def remove_refund_wallet(address: str):
    refund_wallets.remove(current_merchant(), address)
    return jsonify(OkSchema().dump({"ok": True}))
