"""Schemas of the pay page's JSON: the live status (also each server-sent event's data); the refund claim form."""
from __future__ import annotations

from eth_utils import to_checksum_address
from marshmallow import Schema, ValidationError, fields, validate, validates

from app.fields import Millis, TokenAmountSchema


class PayOptionSchema(TokenAmountSchema):
    chainId = fields.Integer(metadata={"description": "the chain to send it on (EIP-155 id)"})
    amount = fields.String(metadata={"description": "base units to send now (what is still due), decimal string"})
    qrVersion = fields.String(metadata={"description": "the QR image's ETag; pass as ?v= for a cacheable URL"})


class PayPaymentSchema(Schema):
    txHash = fields.String()
    chainId = fields.Integer(metadata={"description": "the chain it landed on"})
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


class ClaimFormSchema(Schema):
    """The refund claim form: the address to refund to (mixed case must be a valid EIP-55 checksum)."""

    address = fields.String(required=True, validate=validate.Regexp(
        r"^0x[0-9a-fA-F]{40}$", error="Enter an address: 0x followed by 40 hex characters."))
    csrf = fields.String(required=True)

    @validates("address")
    def _checksum(self, value: str, **kwargs) -> None:
        # A mixed-case address carries a checksum: a typo in it must not send the refund to nobody's address.
        if value[2:] not in (value[2:].lower(), value[2:].upper()) and to_checksum_address(value) != value:
            raise ValidationError("This address has a typo (its checksum does not match).")
