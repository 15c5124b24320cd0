"""Schemas of the pay page's JSON: the live status (also each server-sent event's data)."""
from __future__ import annotations

from marshmallow import Schema, fields

from app.fields import Millis, TokenAmountSchema


class PayOptionSchema(TokenAmountSchema):
    amount = fields.String(metadata={"description": "base units to send now (what is still due), decimal string"})
    qrVersion = fields.String(metadata={"description": "the QR image's ETag; pass as ?v= for a cacheable URL"})


class PayPaymentSchema(Schema):
    txHash = fields.String()
    token = fields.String()
    amount = fields.String(metadata={"description": "base units, decimal string"})
    amountDisplay = fields.String()
    usd = fields.Decimal(as_string=False)
    block = fields.Integer()
    confirmations = fields.Integer()
    late = fields.Boolean()
    stray = fields.Boolean(metadata={"description": "does not count towards the total (a token the order does not "
                                                    "accept, or less than a cent); the merchant can refund it"})


class PayStatusSchema(Schema):
    receiptId = fields.String()
    status = fields.String()
    exceptionStatus = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "waiting, seen, partial, settling, overpaid, late, completed, "
                                                   "refunded, expired or cancelled"})
    title = fields.String()
    message = fields.String()
    totalUsd = fields.Decimal(as_string=False)
    paidUsd = fields.Decimal(as_string=False)
    dueUsd = fields.Decimal(as_string=False)
    expiresAt = Millis()
    confirmationsRequired = fields.Integer()
    confirmationsMissing = fields.Integer()
    payments = fields.List(fields.Nested(PayPaymentSchema))
    options = fields.List(fields.Nested(PayOptionSchema))
    returnUrl = fields.String(allow_none=True, metadata={
        "description": "the merchant's redirectUrl with ?receiptId=, once paid or completed; else null"})
