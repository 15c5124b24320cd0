"""Marshmallow pieces every blueprint shares (api, pay, auth): exact-number and time fields, the request-body
loaders, and the schemas more than one blueprint answers with. Outside the layers: imports only app.domain,
app.errors and app.jsoncodec, so any blueprint may use it without importing another blueprint."""
from __future__ import annotations

import re
from decimal import Decimal, DecimalException
from typing import Any

from flask import request
from marshmallow import INCLUDE, Schema, ValidationError, fields

from app.domain.money import cents_to_usd, usd_to_cents
from app.errors import InvalidInput
from app.jsoncodec import loads

MAX_PRICE_CENTS = 10_000_000_000  # 100 million USD per unit keeps every total far inside BIGINT


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


class TokenAmountSchema(Schema):
    """An amount of one token to send, with its EIP-681 URI (a quote, or what the pay page asks for now)."""

    token = fields.String()
    tokenAddress = fields.String(allow_none=True)
    decimals = fields.Integer()
    amount = fields.String(metadata={"description": "base units, as a decimal string"})
    amountDisplay = fields.String()
    uri = fields.String(metadata={"description": "EIP-681 payment URI"})


class ErrorSchema(Schema):
    """The error model; some codes add context (resetAt for rate_limited, item and line for a cart error)."""

    class Meta:
        unknown = INCLUDE

    error = fields.String(required=True)
    message = fields.String()
    fields_ = fields.Dict(data_key="fields")
    reset_at = fields.Integer(data_key="resetAt", metadata={"description": "rate_limited: when the window resets, ms"})


class OkSchema(Schema):
    ok = fields.Boolean()


def json_object() -> dict:
    """Return the request body as a JSON object; raises InvalidInput if it is not one."""
    raw = request.get_data(cache=True)
    try:
        body = loads(raw) if raw.strip() else None
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("The request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object")
    return body
