"""The receipt as every reader gets it (GET /api/receipts/<id>, order creation, webhook events): the
marshmallow schemas that dump it, also the source of its OpenAPI components."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.domain.statuses import RefundStatus
from app.fields import BaseUnitsString, Millis, TokenAmountSchema, UsdAmount


class LineItemSchema(Schema):
    label = fields.String(required=True)
    priceUsd = fields.Decimal(required=True, as_string=False)
    qty = fields.Integer()
    thumb = fields.String()
    itemId = fields.String()
    sku = fields.String()


class StatusChangeSchema(Schema):
    status = fields.String()
    at = Millis()
    actor = fields.String()
    cause = fields.Dict()


class QuoteSchema(TokenAmountSchema):
    chainId = fields.Integer(metadata={"description": "the chain this quote pays on (EIP-155 id)"})
    usdRate = fields.Decimal(as_string=False)
    depositAddress = fields.String()
    expiresAt = Millis()


class PaymentSchema(Schema):
    chainId = fields.Integer(attribute="chain_id", metadata={"description": "the chain it landed on"})
    token = fields.String(attribute="symbol")
    amount = BaseUnitsString(attribute="amount_base_units")
    usd = UsdAmount(attribute="usd_cents")
    txHash = fields.String(attribute="tx_hash")
    logIndex = fields.Integer(attribute="log_index")
    block = fields.Integer(attribute="block_number")
    at = Millis(attribute="block_time")
    sender = fields.String(attribute="from_address")
    late = fields.Boolean()
    afterSettlement = fields.Boolean(attribute="after_settlement")
    stray = fields.Boolean(metadata={"description": "counts for nothing towards the total (a token with no rate, "
                                                    "or less than a cent); swept and refundable"})
    usdRate = fields.Decimal(attribute="valued_rate", as_string=False, allow_none=True,
                             metadata={"description": "the USD rate it is valued at: the quote's, or for a late "
                                                      "payment in ETH the feed's at its block, never above the quote's"})


class SweepSchema(Schema):
    chainId = fields.Integer(attribute="chain_id", metadata={"description": "the chain it was settled on"})
    token = fields.String(attribute="symbol")
    amount = BaseUnitsString(attribute="amount_base_units")
    toMerchant = BaseUnitsString(attribute="merchant_base_units")
    toPlatform = BaseUnitsString(attribute="platform_base_units")
    verified = fields.Boolean()
    txHash = fields.String(attribute="tx_hash")
    block = fields.Integer(attribute="block_number")
    at = Millis(attribute="block_time")


class RefundItemSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10_000))


class RefundSchema(Schema):
    refundId = fields.String(attribute="id")
    status = fields.String(metadata={"enum": [s.value for s in RefundStatus]})
    chainId = fields.Integer(attribute="chain_id", metadata={"description": "the chain it is paid on"})
    token = fields.String(attribute="symbol")
    amount = BaseUnitsString(attribute="amount_base_units")
    usd = UsdAmount(attribute="usd_cents")
    to = fields.String(attribute="to_address", allow_none=True,
                       metadata={"description": "recipient; null until the shopper uses a claim link"})
    toSource = fields.String(attribute="to_source", metadata={"enum": ["payer", "claim"],
                             "description": "payer: the address that paid; claim: given by the shopper's claim link"})
    reason = fields.String(allow_none=True)
    items = fields.List(fields.Nested(RefundItemSchema))
    txHash = fields.String(attribute="tx_hash", allow_none=True)
    block = fields.Integer(attribute="block_number", allow_none=True)
    paid = BaseUnitsString(attribute="paid_base_units", allow_none=True)
    rejection = fields.String(allow_none=True, metadata={"description": "why the last linked transaction was refused"})
    createdAt = Millis(attribute="created_at")
    confirmedAt = Millis(attribute="confirmed_at", allow_none=True)


class LedgerEntrySchema(Schema):
    chainId = fields.Integer(attribute="chain_id")
    token = fields.String()
    received = BaseUnitsString()
    toMerchant = BaseUnitsString(attribute="to_merchant")
    toPlatform = BaseUnitsString(attribute="to_platform")
    held = fields.String(metadata={"description": "still at the deposit address (base units)"})
    inSplit = fields.String(attribute="in_split",
                            metadata={"description": "moved into the split, not yet paid out (rounding carry)"})
    refunded = BaseUnitsString()
    stray = BaseUnitsString(metadata={"description": "of received, the stray receipts (count for nothing)"})
    usd = fields.Dict(keys=fields.String(), values=fields.Decimal(as_string=False),
                      metadata={"description": "the same amounts in USD at the quote rate"})


class ReceiptSchema(Schema):
    receiptId = fields.String()
    totalUsd = fields.Decimal(as_string=False)
    subtotalUsd = fields.Decimal(as_string=False)
    taxUsd = fields.Decimal(as_string=False)
    processingFeeUsd = fields.Decimal(as_string=False)
    currency = fields.String()
    lineItems = fields.List(fields.Nested(LineItemSchema))
    createdAt = Millis()
    expiresAt = Millis()
    brandName = fields.String()
    status = fields.String()
    exceptionStatus = fields.String(allow_none=True)
    jurisdictionCode = fields.String(allow_none=True)
    taxRate = fields.Decimal(as_string=False)
    taxComponents = fields.List(fields.String())
    paymentUrl = fields.String()
    statusHistory = fields.List(fields.Nested(StatusChangeSchema))
    chainId = fields.Integer(allow_none=True, metadata={"description": "the primary chain when it was created"})
    depositAddress = fields.String(allow_none=True, metadata={"description": "the same on every chain"})
    quotes = fields.List(fields.Nested(QuoteSchema))
    settledAt = Millis(allow_none=True, metadata={"description": "when the order's total reached its split"})
    payments = fields.List(fields.Nested(PaymentSchema))
    sweeps = fields.List(fields.Nested(SweepSchema),
                         metadata={"description": "settlements: deposit balance moved into the split and paid out"})
    refunds = fields.List(fields.Nested(RefundSchema))
    refundedUsd = fields.Decimal(as_string=False, metadata={"description": "confirmed refunds"})
    ledger = fields.List(fields.Nested(LedgerEntrySchema))
    metadata = fields.Dict(keys=fields.String(), values=fields.String(),
                           metadata={"description": "the integrator's context given at creation"})
    redirectUrl = fields.String(allow_none=True,
                                metadata={"description": "where the pay page links back to once paid"})
