"""The merchant's split contract: read it live, deploy one, or register an existing one."""
from __future__ import annotations

from flask import jsonify, request

from app.api import bp
from app.api.schemas import SplitCreatedSchema, SplitEnvelopeSchema, SplitRequestSchema
from app.auth.keys import current_merchant, requires
from app.config import current_config
from app.fields import json_object, load
from app.openapi import doc
from app.services import splits


@bp.get("/split")
@requires("split:read")
@doc("Read the merchant's split live from chain (null when none is configured)", SplitEnvelopeSchema,
     errors=(409, 503))
def get_split():
    split = splits.get_split(current_merchant(), current_config().CHAIN)
    return jsonify(SplitEnvelopeSchema().dump({"split": split}))


@bp.post("/split")
@requires("split:write")
@doc("Deploy the merchant's split, or register an existing one after checking it on chain "
     "(re-registering the current split answers 200)", SplitCreatedSchema, request=SplitRequestSchema,
     status=201, errors=(409, 413, 503))
def configure_split():
    address = load(SplitRequestSchema(), _body())["address"]
    split, created = splits.configure_split(current_merchant(), current_config().CHAIN, address)
    return jsonify(SplitCreatedSchema().dump({"ok": True, "split": split})), 201 if created else 200


def _body() -> dict:
    """Return the JSON object sent, or {} for an empty body (deploy); raises InvalidInput."""
    return json_object() if request.get_data(cache=True).strip() else {}
