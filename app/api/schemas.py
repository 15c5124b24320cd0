"""Marshmallow schemas of the /api routes: what each accepts and returns (also the source of the OpenAPI document).

The fields and schemas other blueprints share are in app.fields.
"""
from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from app.api.order_context import (
    MAX_REDIRECT_URL,
    METADATA_FILTER_PREFIX,
    Metadata,
    check_redirect_url,
    metadata_filters,
)
from app.domain.scopes import SCOPES
from app.domain.statuses import OrderStatus
from app.errors import InvalidInput, PayloadTooLarge
from app.fields import BaseUnitsString, Millis, Rate, UsdAmount, strict_boolean
from app.services.receipt_schemas import (
    LedgerEntrySchema,
    ReceiptSchema,
    RefundItemSchema,
    RefundSchema,
)

MAX_QTY = 10_000
MAX_LINES = 100
MAX_ADD_ON_BPS = 1_000
MAX_TIMESTAMP_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z, the last instant a datetime holds
MAX_PAGE = 200  # the most rows any list answers at once
SUPPORTED_TOKENS = ("USDC", "USDT", "ETH")
CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", error="Use letters, digits, '-', '_' or '.'.")


# ---- inventory

class InventoryItemInSchema(Schema):
    sku = fields.String(required=True, validate=[validate.Length(1, 64), CODE])
    name = fields.String(required=True, validate=validate.Length(1, 200))
    price_cents = UsdAmount(required=True, data_key="priceUsd")
    taxable = strict_boolean(load_default=False)
    stock_qty = fields.Integer(strict=True, load_default=-1, data_key="stockQty",
                               validate=validate.Range(-1, 1_000_000_000))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class InventoryItemSchema(Schema):
    id = fields.String()
    sku = fields.String()
    name = fields.String()
    price_cents = UsdAmount(data_key="priceUsd")
    taxable = fields.Boolean()
    stock_qty = fields.Integer(data_key="stockQty")
    description = fields.String(allow_none=True)
    created_at = Millis(data_key="createdAt")
    updated_at = Millis(data_key="updatedAt")


class InventoryQuerySchema(Schema):
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    taxable = fields.String(load_default="any", validate=validate.OneOf(["true", "false", "any"]))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_PAGE))
    page = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


class InventoryPageSchema(Schema):
    items = fields.List(fields.Nested(InventoryItemSchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer(data_key="pageSize")


class InventoryItemEnvelopeSchema(Schema):
    ok = fields.Boolean()
    item = fields.Nested(InventoryItemSchema)


class ImageEnvelopeSchema(Schema):
    ok = fields.Boolean()
    image = fields.String(metadata={"description": "the stored image as a data: URI"})


# ---- shop config

class TaxComponentSchema(Schema):
    code = fields.String(required=True, validate=[validate.Length(1, 32), CODE])
    name = fields.String(required=True, validate=validate.Length(1, 100))
    rate = Rate(required=True)


class JurisdictionSchema(Schema):
    code = fields.String(required=True, validate=[validate.Length(1, 16), CODE])
    name = fields.String(required=True, validate=validate.Length(1, 100))
    rate = Rate(required=True)
    components = fields.List(fields.Nested(TaxComponentSchema), load_default=list,
                             validate=validate.Length(max=20))

    @validates_schema
    def _components_valid(self, data, **kwargs):
        codes = [c["code"].lower() for c in data.get("components", [])]
        if len(codes) != len(set(codes)):
            raise ValidationError("Component codes must be unique.", "components")
        if sum((c["rate"] for c in data.get("components", [])), Decimal(0)) > 1:
            raise ValidationError("Component rates must add up to at most 1.", "components")


class ShopConfigSchema(Schema):
    brand_name = fields.String(data_key="brandName", validate=validate.Length(max=200))
    jurisdictions = fields.List(fields.Nested(JurisdictionSchema), validate=validate.Length(max=100))
    default_jurisdiction_code = fields.String(data_key="defaultJurisdictionCode", allow_none=True,
                                              validate=validate.Length(1, 16))
    processing_fee_add_on_bps = fields.Integer(strict=True, data_key="processingFeeAddOnBps",
                                               validate=validate.Range(0, MAX_ADD_ON_BPS))
    accepted_tokens = fields.List(fields.String(validate=validate.OneOf(SUPPORTED_TOKENS)),
                                  data_key="acceptedTokens", validate=validate.Length(1, 10))
    accepted_chains = fields.List(fields.Integer(strict=True, validate=validate.Range(1, 2**53)),
                                  data_key="acceptedChains", allow_none=True, validate=validate.Length(max=50),
                                  metadata={"description": "chain ids orders are quoted on; null or empty: every chain "
                                                           "this server serves (a payment on another one is still "
                                                           "credited)"})

    @validates_schema
    def _unique_codes(self, data, **kwargs):
        codes = [j["code"].upper() for j in data.get("jurisdictions", [])]
        if len(codes) != len(set(codes)):
            raise ValidationError("Jurisdiction codes must be unique.", "jurisdictions")
        tokens = data.get("accepted_tokens", [])
        if len(tokens) != len(set(tokens)):
            raise ValidationError("Tokens must be unique.", "acceptedTokens")


class ShopConfigEnvelopeSchema(Schema):
    config = fields.Nested(ShopConfigSchema)


# ---- orders and receipts

class CartItemSchema(Schema):
    id = fields.String(validate=validate.Length(1, 64))
    sku = fields.String(validate=validate.Length(1, 64))
    qty = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_QTY))

    @validates_schema
    def _id_or_sku(self, data, **kwargs):
        if ("id" in data) == ("sku" in data):
            raise ValidationError("Give exactly one of id or sku.", "id")


class CreateOrderSchema(Schema):
    items = fields.List(fields.Nested(CartItemSchema), required=True,
                        validate=validate.Length(1, MAX_LINES))
    jurisdiction_code = fields.String(data_key="jurisdictionCode", load_default=None,
                                      validate=validate.Length(1, 16))
    tax_rate = Rate(data_key="taxRate", load_default=None)
    tax_components = fields.List(fields.String(validate=validate.Length(1, 32)),
                                 data_key="taxComponents", load_default=None,
                                 validate=validate.Length(1, 20))
    metadata = Metadata(load_default=dict, metadata={
        "description": "your own context (e.g. your order id): at most 50 string keys of 1-40 characters, string "
                       "values of at most 500, 8 KiB in all; returned in the receipt and every webhook event"})
    redirect_url = fields.String(data_key="redirectUrl", load_default=None,
                                 validate=validate.Length(1, MAX_REDIRECT_URL), metadata={
        "description": "where the pay page's 'Return to <brandName>' link goes once the order is paid, with "
                       "?receiptId= appended; https:// (http:// too in dev/test)"})

    def __init__(self, *args, require_https: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.require_https = require_https

    @validates("redirect_url")
    def _redirect_url(self, value: str | None, **kwargs) -> None:
        if value is not None:
            check_redirect_url(value, self.require_https)


class CancelOrderSchema(Schema):
    reason = fields.String(load_default=None, validate=validate.Length(max=500),
                           metadata={"description": "kept in the order's status history"})


class ReceiptEnvelopeSchema(Schema):
    ok = fields.Boolean()
    receipt = fields.Nested(ReceiptSchema)


class TimeWindowSchema(Schema):
    """[start, end) in seconds or milliseconds since the epoch."""

    start = fields.Integer(load_default=None, validate=validate.Range(0, MAX_TIMESTAMP_MS))
    end = fields.Integer(load_default=None, validate=validate.Range(0, MAX_TIMESTAMP_MS))


class ReceiptListQuerySchema(TimeWindowSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_PAGE))
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in OrderStatus]))
    cursor = fields.String(load_default=None, validate=validate.Length(1, 200), metadata={
        "description": "nextCursor of the previous page (the same filters must be sent again)"})


def load_receipt_query(args) -> dict:
    """Return the receipt list query: ReceiptListQuerySchema's fields, and `metadata`, the metadata.<key>=<value>
    filters (not in the schema: OpenAPI 3.0 cannot name a parameter by a pattern); raises InvalidInput."""
    plain = {name: value for name, value in args.items() if not name.startswith(METADATA_FILTER_PREFIX)}
    filters, errors = metadata_filters(args)
    try:
        query = ReceiptListQuerySchema().load(plain)
    except ValidationError as err:
        errors, query = {**err.messages, **errors}, {}
    if errors:
        raise InvalidInput("Invalid request parameters", fields=errors)
    return {**query, "metadata": filters}


class ReceiptListSchema(Schema):
    receipts = fields.List(fields.Nested(ReceiptSchema))
    nextCursor = fields.String(metadata={"description": "present when more receipts match: pass as ?cursor="})


class ChainHealthSchema(Schema):
    chainId = fields.Integer()
    rpc = fields.String(metadata={"enum": ["ok", "unavailable", "wrong_chain"]})
    problem = fields.String(metadata={"description": "with wrong_chain: how the RPC's chain differs (the watcher "
                                                     "refuses to run on it)"})
    head = fields.Integer(allow_none=True)
    watcherBlock = fields.Integer(allow_none=True, metadata={"description": "the last block the watcher processed"})
    lagBlocks = fields.Integer(allow_none=True, metadata={"description": "alert on this: it never fails the check"})


class HealthSchema(Schema):
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())
    chain = fields.Nested(ChainHealthSchema, metadata={"description": "when a chain is configured"})


def uploaded_image(max_bytes: int) -> bytes:
    """Return the uploaded file (multipart field `image`, or the raw body); raises InvalidInput if absent,
    PayloadTooLarge if larger than max_bytes (never read past that)."""
    from flask import request
    from werkzeug.exceptions import RequestEntityTooLarge

    request.max_content_length = max_bytes + 64 * 1024  # room for multipart framing
    too_large = PayloadTooLarge(f"The image is larger than {max_bytes // (1024 * 1024)} MB")
    try:
        upload = request.files.get("image") if request.mimetype == "multipart/form-data" else None
        data = upload.read(max_bytes + 1) if upload is not None else request.get_data(cache=False)
    except RequestEntityTooLarge as exc:
        raise too_large from exc
    if len(data) > max_bytes:
        raise too_large
    if not data:
        raise InvalidInput("Send the image as the request body or as the multipart field `image`",
                           fields={"image": ["required"]})
    return data


# ---- split

class SplitRequestSchema(Schema):
    address = fields.String(load_default=None, allow_none=True,
                            validate=validate.Regexp(r"^0x[0-9a-fA-F]{40}$", error="Must be 0x followed by 40 hex."),
                            metadata={"description": "an existing split to register; omit to deploy a new one"})


class SplitPayeeSchema(Schema):
    address = fields.String()
    shares = fields.Integer()
    role = fields.String(metadata={"enum": ["merchant", "platform", "other"]})


class SplitSchema(Schema):
    address = fields.String()
    payees = fields.List(fields.Nested(SplitPayeeSchema))
    total_shares = fields.Integer(data_key="totalShares")
    balances = fields.Dict(keys=fields.String(), values=fields.String(),
                           metadata={"description": "held by the split, per token, in base units (wei for ETH) "
                                                    "as decimal strings"})


class SplitEnvelopeSchema(Schema):
    split = fields.Nested(SplitSchema, allow_none=True)


class SplitCreatedSchema(Schema):
    ok = fields.Boolean()
    split = fields.Nested(SplitSchema)


# ---- settlement, refunds, ledger

TX_HASH = validate.Regexp(r"^0x[0-9a-fA-F]{64}$", error="Must be 0x followed by 64 hex.")
ADDRESS = validate.Regexp(r"^0x[0-9a-fA-F]{40}$", error="Must be 0x followed by 40 hex.")


class RefundRequestSchema(Schema):
    amount = UsdAmount(load_default=None, metadata={"description": "USD; or give amountBaseUnits"})
    amountBaseUnits = BaseUnitsString(load_default=None, metadata={"description": "token base units, as a string"})
    token = fields.String(required=True, validate=validate.Length(1, 16))
    chainId = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 2**53),
                             metadata={"description": "the chain to pay it on (default: the one chain where the "
                                                      "order received the token)"})
    to = fields.String(load_default=None, validate=ADDRESS,
                       metadata={"description": "one of the addresses that paid the order (default: the largest "
                                               "payment's); any other recipient is given by the shopper through "
                                               "a claim link"})
    reason = fields.String(load_default=None, validate=validate.Length(max=500))
    items = fields.List(fields.Nested(RefundItemSchema), load_default=list, validate=validate.Length(max=100))

    @validates_schema
    def _one_amount(self, data, **kwargs):
        if (data.get("amount") is None) == (data.get("amountBaseUnits") is None):
            raise ValidationError("Give exactly one of amount (USD) and amountBaseUnits.", "amount")


class RefundTxSchema(Schema):
    txHash = fields.String(required=True, validate=TX_HASH)


class RefundEnvelopeSchema(Schema):
    ok = fields.Boolean()
    refund = fields.Nested(RefundSchema)


class ClaimLinkSchema(Schema):
    ok = fields.Boolean()
    url = fields.String(metadata={"description": "/refund/<token>, shown only in this response"})
    expires_at = Millis(data_key="expiresAt")


class RefundWalletInSchema(Schema):
    address = fields.String(required=True, validate=ADDRESS)
    signature = fields.String(required=True, validate=validate.Regexp(
        r"^0x[0-9a-fA-F]{130}$", error="Must be 0x followed by 130 hex."),
        metadata={"description": "the wallet's personal_sign of the registration message (README: Refunds)"})


class RefundWalletSchema(Schema):
    address = fields.String()
    created_at = Millis(data_key="createdAt")


class RefundWalletEnvelopeSchema(Schema):
    ok = fields.Boolean()
    wallet = fields.Nested(RefundWalletSchema)


class RefundWalletListSchema(Schema):
    ok = fields.Boolean()
    merchant_wallet = fields.String(data_key="merchantWallet",
                                    metadata={"description": "always a refund wallet"})
    wallets = fields.List(fields.Nested(RefundWalletSchema))


class LedgerSummarySchema(Schema):
    ok = fields.Boolean()
    tokens = fields.List(fields.Nested(LedgerEntrySchema))


# ---- keys

class KeySchema(Schema):
    id = fields.String()
    label = fields.String()
    scopes = fields.List(fields.String())
    created_at = Millis(data_key="createdAt")
    last_used_at = Millis(data_key="lastUsedAt", allow_none=True,
                          metadata={"description": "to the minute; null if never used"})
    revoked_at = Millis(data_key="revokedAt", allow_none=True)


class KeyListQuerySchema(Schema):
    """A page of keys, newest first: `limit` 1..200 (every list has a maximum page), `page` 0-based."""

    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_PAGE))
    page = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


class KeyListSchema(Schema):
    keys = fields.List(fields.Nested(KeySchema))


class KeyCreateSchema(Schema):
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)), required=True,
                         validate=validate.Length(1, len(SCOPES)))
    label = fields.String(load_default="", validate=validate.Length(max=200))


class KeyEnvelopeSchema(Schema):
    ok = fields.Boolean()
    key = fields.Nested(KeySchema)


class KeyCreatedSchema(KeyEnvelopeSchema):
    secret = fields.String(metadata={"description": "the key itself, shown only in this response"})
