"""Inventory routes: public reads by x-wallet (or inventory:read), writes with inventory:write."""
from __future__ import annotations

from flask import jsonify, request

from app.api import bp
from app.api.schemas import (
    ImageEnvelopeSchema,
    InventoryItemEnvelopeSchema,
    InventoryItemInSchema,
    InventoryPageSchema,
    InventoryQuerySchema,
    uploaded_image,
)
from app.auth.keys import current_merchant, requires
from app.domain.images import MAX_UPLOAD_BYTES
from app.fields import json_object, load
from app.openapi import IMAGE_UPLOAD, doc
from app.services import inventory


@bp.get("/inventory")
@requires("inventory:read", public=True)
@doc("List inventory (public with x-wallet)", InventoryPageSchema, query=InventoryQuerySchema, errors=(404,))
def list_inventory():
    query = load(InventoryQuerySchema(), request.args.to_dict())
    page = inventory.list_items(current_merchant(), **query)
    return jsonify(InventoryPageSchema().dump(page))


@bp.get("/inventory/<item_id>")
@requires("inventory:read", public=True)
@doc("One inventory item (public with x-wallet)", InventoryItemEnvelopeSchema, errors=(404,))
def get_inventory_item(item_id: str):
    item = inventory.get_item(current_merchant(), item_id)
    return jsonify(InventoryItemEnvelopeSchema().dump({"ok": True, "item": item}))


@bp.post("/inventory")
@requires("inventory:write")
@doc("Create an inventory item", InventoryItemEnvelopeSchema, request=InventoryItemInSchema, status=201,
     errors=(409, 413))
def create_inventory_item():
    fields = load(InventoryItemInSchema(), json_object())
    item = inventory.create_item(current_merchant(), fields)
    return jsonify(InventoryItemEnvelopeSchema().dump({"ok": True, "item": item})), 201


@bp.put("/inventory/<item_id>")
@requires("inventory:write")
@doc("Update an inventory item (only the fields given)", InventoryItemEnvelopeSchema,
     request=InventoryItemInSchema, errors=(404, 409, 413))
def update_inventory_item(item_id: str):
    fields = load(InventoryItemInSchema(), json_object(), partial=True)
    item = inventory.update_item(current_merchant(), item_id, fields)
    return jsonify(InventoryItemEnvelopeSchema().dump({"ok": True, "item": item}))


@bp.delete("/inventory/<item_id>")
@requires("inventory:write")
@doc("Delete an inventory item", InventoryItemEnvelopeSchema, errors=(404,))
def delete_inventory_item(item_id: str):
    inventory.delete_item(current_merchant(), item_id)
    return jsonify({"ok": True})


@bp.post("/inventory/<item_id>/image")
@requires("inventory:write")
@doc("Set an item's image (PNG, JPEG or WebP up to 5 MB, as the body or multipart field `image`); "
     "stores a 96x96 JPEG thumbnail, which receipts carry as `thumb`", ImageEnvelopeSchema, request=IMAGE_UPLOAD,
     errors=(404, 413))
def set_inventory_image(item_id: str):
    thumb = inventory.set_thumbnail(current_merchant(), item_id, uploaded_image(MAX_UPLOAD_BYTES))
    return jsonify(ImageEnvelopeSchema().dump({"ok": True, "image": thumb}))
