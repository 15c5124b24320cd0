"""Schemas of the sign-in routes (EIP-4361): the nonce, the login body and the session."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.fields import Millis


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
