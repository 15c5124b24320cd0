"""Subscription keys over the API: list, create (the secret is shown once), revoke."""
from __future__ import annotations

from flask import g, jsonify, request

from app.api import bp
from app.api.schemas import KeyCreatedSchema, KeyCreateSchema, KeyEnvelopeSchema, KeyListQuerySchema, KeyListSchema
from app.auth.keys import current_merchant, requires
from app.fields import json_object, load
from app.openapi import doc
from app.services import keys


@bp.get("/keys")
@requires("keys:read")
@doc("List the merchant's keys (never their secrets), revoked ones included, newest first, a page at a time",
     KeyListSchema, query=KeyListQuerySchema)
def list_keys():
    query = load(KeyListQuerySchema(), request.args.to_dict())
    return jsonify(KeyListSchema().dump({"keys": keys.list_keys(current_merchant(), query["limit"], query["page"])}))


@bp.post("/keys")
@requires("keys:write")
@doc("Create a key; its secret is in this response only. A key can grant only scopes it holds",
     KeyCreatedSchema, request=KeyCreateSchema, status=201, errors=(413,))
def create_key():
    data = load(KeyCreateSchema(), json_object())
    key, secret = keys.create_key(current_merchant(), data["scopes"], data["label"], grantable=g.caller.scopes)
    return jsonify(KeyCreatedSchema().dump({"ok": True, "key": key, "secret": secret})), 201


@bp.delete("/keys/<key_id>")
@requires("keys:write")
@doc("Revoke a key (at once; revoking twice is harmless)", KeyEnvelopeSchema, errors=(404,))
def revoke_key(key_id: str):
    key = keys.revoke_key(key_id, current_merchant())
    return jsonify(KeyEnvelopeSchema().dump({"ok": True, "key": key}))
