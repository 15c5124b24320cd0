"""Shop configuration routes: public read by x-wallet, writes with shop:write."""
from __future__ import annotations

from flask import jsonify

from app.api import bp
from app.api.schemas import (
    ImageEnvelopeSchema,
    ShopConfigEnvelopeSchema,
    ShopConfigSchema,
    uploaded_image,
)
from app.auth.keys import current_merchant, requires
from app.domain.images import MAX_UPLOAD_BYTES, data_uri
from app.fields import json_object, load
from app.openapi import IMAGE_UPLOAD, doc
from app.services import shops


@bp.get("/shop/config")
@requires("shop:read", public=True)
@doc("Read the shop configuration (public with x-wallet)", ShopConfigEnvelopeSchema, errors=(404,))
def get_shop_config():
    config = shops.get_config(current_merchant())
    return jsonify(ShopConfigEnvelopeSchema().dump({"config": config}))


@bp.put("/shop/config")
@requires("shop:write")
@doc("Change the shop configuration (only the fields given)", ShopConfigEnvelopeSchema,
     request=ShopConfigSchema, errors=(413,))
def update_shop_config():
    schema = ShopConfigSchema()
    # Only top-level fields are optional: a jurisdiction that is sent must be whole (partial=True would reach into it).
    changes = load(schema, json_object(), partial=tuple(schema.fields))
    config = shops.update_config(current_merchant(), changes)
    return jsonify(ShopConfigEnvelopeSchema().dump({"config": config}))


@bp.post("/shop/logo")
@requires("shop:write")
@doc("Set the shop's logo for the pay page (PNG, JPEG or WebP up to 5 MB, as the body or multipart "
     "field `image`); stored scaled to fit 240x96", ImageEnvelopeSchema, request=IMAGE_UPLOAD, errors=(413,))
def set_shop_logo():
    logo = shops.set_logo(current_merchant(), uploaded_image(MAX_UPLOAD_BYTES))
    return jsonify(ImageEnvelopeSchema().dump({"ok": True, "image": data_uri("image/png", logo)}))
