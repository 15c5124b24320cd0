"""Marshmallow schemas: what every route accepts and returns (also the source of the OpenAPI document)."""
from __future__ import annotations

import re
from decimal import Decimal, DecimalException
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app.domain.money import cents_to_usd, usd_to_cents
from app.domain.statuses import RefundStatus
from app.errors import InvalidInput
from app.services.keys import SCOPES as KEY_SCOPES

MAX_QTY = 10_000
MAX_LINES = 100
MAX_PRICE_CENTS = 10_000_000_000  # 100 million USD per unit keeps every total far inside BIGINT
MAX_ADD_ON_BPS = 1_000
MAX_TIMESTAMP_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z, the last instant a datetime holds
SUPPORTED_TOKENS = ("USDC", "USDT", "ETH")
CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", error="Use letters, digits, '-', '_' or '.'.")


def load(schema: Schema, data: Any, **kwargs) -> Any:
    """Return schema.load(data); raises InvalidInput listing each bad field."""
    try:
        return schema.load(data, **kwargs)
    except ValidationError as err:
        raise InvalidInput("Invalid request parameters", fields=err.messages) from err


def strict_boolean(**kwargs) -> fields.Boolean:
    """Return a Boolean field that accepts only JSON true and false."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


class NumberOrString(fields.Field):
    """Base for exact numbers sent as a JSON number or a plain decimal string (never a boolean)."""

    default_error_messages = {"invalid": "Must be a number."}
    STRING_PATTERN = r"^\d+(\.\d+)?$"  # no sign, exponent, spaces or underscores (Decimal() would take them)
    MINIMUM, MAXIMUM = 0, None

    def _decimal(self, value) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise self.make_error("invalid")
        if isinstance(value, str) and not re.match(self.STRING_PATTERN, value):
            raise self.make_error("invalid")
        try:
            return Decimal(value.strip() if isinstance(value, str) else value)
        except DecimalException as exc:
            raise self.make_error("invalid") from exc

    def openapi_property(self) -> dict:
        """Return the OpenAPI description of the field: a number, or a string of the same value."""
        number = {"type": "number", "minimum": self.MINIMUM}
        if self.MAXIMUM is not None:
            number["maximum"] = self.MAXIMUM
        return {"oneOf": [number, {"type": "string", "pattern": self.STRING_PATTERN}],
                "description": self.default_error_messages["invalid"]}


class UsdAmount(NumberOrString):
    """A USD amount with at most 2 decimals; loads to integer cents, dumps as a Decimal."""

    default_error_messages = {"invalid": "Must be a number or numeric string with at most 2 decimals.",
                              "range": "Must be between 0 and 100000000.00."}
    STRING_PATTERN = r"^\d{1,9}(\.\d{1,2})?$"
    MAXIMUM = MAX_PRICE_CENTS // 100

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        try:
            cents = usd_to_cents(self._decimal(value))
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if not 0 <= cents <= MAX_PRICE_CENTS:
            raise self.make_error("range")
        return cents

    def _serialize(self, value, attr, obj, **kwargs) -> Decimal | None:
        return None if value is None else cents_to_usd(value)


class Rate(NumberOrString):
    """A rate in 0..1 with at most 8 decimals; loads to Decimal."""

    default_error_messages = {"invalid": "Must be a number between 0 and 1 with at most 8 decimals."}
    STRING_PATTERN = r"^(0(\.\d{1,8})?|1(\.0{1,8})?)$"
    MAXIMUM = 1

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal:
        rate = self._decimal(value)
        if not rate.is_finite() or not 0 <= rate <= 1 or rate.as_tuple().exponent < -8 and rate != round(rate, 8):
            raise self.make_error("invalid")
        return rate.normalize() if rate else Decimal(0)

    def _serialize(self, value, attr, obj, **kwargs) -> Decimal | None:
        return None if value is None else Decimal(value)


class Millis(fields.Integer):
    """A datetime dumped as milliseconds since the epoch, as the reference does."""

    def _serialize(self, value, attr, obj, **kwargs) -> int | None:
        return None if value is None else int(value.timestamp() * 1000)


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
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 200))
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


class TokenAmountSchema(Schema):
    """An amount of one token to send, with its EIP-681 URI (a quote, or what the pay page asks for now)."""

    token = fields.String()
    tokenAddress = fields.String(allow_none=True)
    decimals = fields.Integer()
    amount = fields.String(metadata={"description": "base units, as a decimal string"})
    amountDisplay = fields.String()
    uri = fields.String(metadata={"description": "EIP-681 payment URI"})


class QuoteSchema(TokenAmountSchema):
    usdRate = fields.Decimal(as_string=False)
    depositAddress = fields.String()
    expiresAt = Millis()


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
    chainId = fields.Integer(allow_none=True)
    depositAddress = fields.String(allow_none=True)
    quotes = fields.List(fields.Nested(QuoteSchema))
    settledAt = Millis(allow_none=True, metadata={"description": "when the order's total reached its split"})
    payments = fields.List(fields.Nested(lambda: PaymentSchema()))
    sweeps = fields.List(fields.Nested(lambda: SweepSchema()),
                         metadata={"description": "settlements: deposit balance moved into the split and paid out"})
    refunds = fields.List(fields.Nested(lambda: RefundSchema()))
    refundedUsd = fields.Decimal(as_string=False, metadata={"description": "confirmed refunds"})
    ledger = fields.List(fields.Nested(lambda: LedgerEntrySchema()))


class ReceiptEnvelopeSchema(Schema):
    ok = fields.Boolean()
    receipt = fields.Nested(ReceiptSchema)


class TimeWindowSchema(Schema):
    """[start, end) in seconds or milliseconds since the epoch."""

    start = fields.Integer(load_default=None, validate=validate.Range(0, MAX_TIMESTAMP_MS))
    end = fields.Integer(load_default=None, validate=validate.Range(0, MAX_TIMESTAMP_MS))


class ReceiptListQuerySchema(TimeWindowSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 200))


class ReceiptListSchema(Schema):
    receipts = fields.List(fields.Nested(ReceiptSchema))


class ErrorSchema(Schema):
    """The error model; some codes add context (resetAt for rate_limited, item and line for a cart error)."""

    class Meta:
        unknown = INCLUDE

    error = fields.String(required=True)
    message = fields.String()
    fields_ = fields.Dict(data_key="fields")
    reset_at = fields.Integer(data_key="resetAt", metadata={"description": "rate_limited: when the window resets, ms"})


class ChainHealthSchema(Schema):
    chainId = fields.Integer()
    rpc = fields.String(metadata={"enum": ["ok", "unavailable"]})
    head = fields.Integer(allow_none=True)
    watcherBlock = fields.Integer(allow_none=True, metadata={"description": "the last block the watcher processed"})
    lagBlocks = fields.Integer(allow_none=True, metadata={"description": "alert on this: it never fails the check"})


class HealthSchema(Schema):
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())
    chain = fields.Nested(ChainHealthSchema, metadata={"description": "when a chain is configured"})


def json_object() -> dict:
    """Return the request body as a JSON object; raises InvalidInput if it is not one."""
    from flask import request

    from app.jsoncodec import loads

    raw = request.get_data(cache=True)
    try:
        body = loads(raw) if raw.strip() else None
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("The request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object")
    return body


def uploaded_image(max_bytes: int) -> bytes:
    """Return the uploaded file (multipart field `image`, or the raw body); raises InvalidInput if absent
    or larger than max_bytes (never read past that)."""
    from flask import request
    from werkzeug.exceptions import RequestEntityTooLarge

    request.max_content_length = max_bytes + 64 * 1024  # room for multipart framing
    try:
        upload = request.files.get("image") if request.mimetype == "multipart/form-data" else None
        data = upload.read(max_bytes + 1) if upload is not None else request.get_data(cache=False)
    except RequestEntityTooLarge as exc:
        raise InvalidInput(f"The image is larger than {max_bytes // (1024 * 1024)} MB") from exc
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


class BaseUnitsString(fields.String):
    """A token amount in base units as a decimal string of digits (exact beyond 2^53); loads to int."""

    default_error_messages = {"invalid": "Must be a string of decimal digits (base units)."}

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not (text.isascii() and text.isdigit()) or len(text) > 78:
            raise self.make_error("invalid")
        return int(text)

    def _serialize(self, value, attr, obj, **kwargs) -> str | None:
        return None if value is None else str(value)


class RefundItemSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10_000))


class RefundRequestSchema(Schema):
    amount = UsdAmount(load_default=None, metadata={"description": "USD; or give amountBaseUnits"})
    amountBaseUnits = BaseUnitsString(load_default=None, metadata={"description": "token base units, as a string"})
    token = fields.String(required=True, validate=validate.Length(1, 16))
    to = fields.String(load_default=None, validate=ADDRESS,
                       metadata={"description": "recipient; default: the address that paid"})
    reason = fields.String(load_default=None, validate=validate.Length(max=500))
    items = fields.List(fields.Nested(RefundItemSchema), load_default=list, validate=validate.Length(max=100))

    @validates_schema
    def _one_amount(self, data, **kwargs):
        if (data.get("amount") is None) == (data.get("amountBaseUnits") is None):
            raise ValidationError("Give exactly one of amount (USD) and amountBaseUnits.", "amount")


class RefundTxSchema(Schema):
    txHash = fields.String(required=True, validate=TX_HASH)


class PaymentSchema(Schema):
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


class SweepSchema(Schema):
    token = fields.String(attribute="symbol")
    amount = BaseUnitsString(attribute="amount_base_units")
    toMerchant = BaseUnitsString(attribute="merchant_base_units")
    toPlatform = BaseUnitsString(attribute="platform_base_units")
    verified = fields.Boolean()
    txHash = fields.String(attribute="tx_hash")
    block = fields.Integer(attribute="block_number")
    at = Millis(attribute="block_time")


class RefundSchema(Schema):
    refundId = fields.String(attribute="id")
    status = fields.String(metadata={"enum": [s.value for s in RefundStatus]})
    token = fields.String(attribute="symbol")
    amount = BaseUnitsString(attribute="amount_base_units")
    usd = UsdAmount(attribute="usd_cents")
    to = fields.String(attribute="to_address")
    reason = fields.String(allow_none=True)
    items = fields.List(fields.Nested(RefundItemSchema))
    txHash = fields.String(attribute="tx_hash", allow_none=True)
    block = fields.Integer(attribute="block_number", allow_none=True)
    paid = BaseUnitsString(attribute="paid_base_units", allow_none=True)
    rejection = fields.String(allow_none=True, metadata={"description": "why the last linked transaction was refused"})
    createdAt = Millis(attribute="created_at")
    confirmedAt = Millis(attribute="confirmed_at", allow_none=True)


class RefundEnvelopeSchema(Schema):
    ok = fields.Boolean()
    refund = fields.Nested(RefundSchema)


class LedgerEntrySchema(Schema):
    token = fields.String()
    received = BaseUnitsString()
    toMerchant = BaseUnitsString(attribute="to_merchant")
    toPlatform = BaseUnitsString(attribute="to_platform")
    held = fields.String(metadata={"description": "still at the deposit address (base units)"})
    inSplit = fields.String(attribute="in_split",
                            metadata={"description": "moved into the split, not yet paid out (rounding carry)"})
    refunded = BaseUnitsString()
    usd = fields.Dict(keys=fields.String(), values=fields.Decimal(as_string=False),
                      metadata={"description": "the same amounts in USD at the quote rate"})




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


class KeyListSchema(Schema):
    keys = fields.List(fields.Nested(KeySchema))


class KeyCreateSchema(Schema):
    scopes = fields.List(fields.String(validate=validate.OneOf(KEY_SCOPES)), required=True,
                         validate=validate.Length(1, len(KEY_SCOPES)))
    label = fields.String(load_default="", validate=validate.Length(max=200))


class KeyEnvelopeSchema(Schema):
    ok = fields.Boolean()
    key = fields.Nested(KeySchema)


class KeyCreatedSchema(KeyEnvelopeSchema):
    secret = fields.String(metadata={"description": "the key itself, shown only in this response"})


# ---- sign-in (EIP-4361)

class NonceSchema(Schema):
    nonce = fields.String()
    expires_at = Millis(data_key="expiresAt")
    domain = fields.String(metadata={"description": "the domain the message must name"})
    uri = fields.String(metadata={"description": "a URI the message may name (same scheme and host)"})
    chain_id = fields.Integer(data_key="chainId")
    version = fields.String()


class LoginSchema(Schema):
    message = fields.String(required=True, validate=validate.Length(1, 4000))
    signature = fields.String(required=True, validate=validate.Length(1, 200))


class SessionSchema(Schema):
    ok = fields.Boolean()
    wallet = fields.String()
    roles = fields.List(fields.String(validate=validate.OneOf(["merchant", "platform_admin"])))
    merchant_id = fields.Integer(data_key="merchantId", allow_none=True)
    csrf_token = fields.String(data_key="csrfToken",
                               metadata={"description": "echo in X-CSRF-Token on every state-changing request"})
    expires_at = Millis(data_key="expiresAt")


class OkSchema(Schema):
    ok = fields.Boolean()
