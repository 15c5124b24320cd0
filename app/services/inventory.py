"""A merchant's inventory: items priced in integer cents, unique SKU per merchant."""
from __future__ import annotations

import logging

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app.domain import images
from app.domain.ids import new_item_id
from app.errors import Conflict, InvalidInput, NotFound
from app.extensions import db
from app.models import InventoryItem, Merchant
from app.services import shops

logger = logging.getLogger(__name__)


def list_items(merchant: Merchant, q: str | None, taxable: str, limit: int, page: int) -> dict:
    """Return {items, total, page, pageSize} for the merchant, filtered and paginated by SKU."""
    query = select(InventoryItem).where(InventoryItem.merchant_id == merchant.id)
    if q:
        pattern = f"%{escape_like(q.lower())}%"
        query = query.where(or_(func.lower(InventoryItem.name).like(pattern, escape="\\"),
                                func.lower(InventoryItem.sku).like(pattern, escape="\\")))
    if taxable != "any":
        query = query.where(InventoryItem.taxable == (taxable == "true"))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    items = db.session.scalars(query.order_by(InventoryItem.sku).limit(limit).offset(page * limit)).all()
    return {"items": items, "total": total, "page": page, "page_size": limit}


def escape_like(text: str) -> str:
    """Return text with LIKE wildcards escaped so a search for "50%" matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def create_item(merchant: Merchant, fields: dict) -> InventoryItem:
    """Return the new item; raises Conflict if the merchant already has the SKU."""
    item = InventoryItem(id=new_item_id(), merchant_id=merchant.id, **fields)
    db.session.add(item)
    _commit_unique_sku(fields["sku"])
    return item


def update_item(merchant: Merchant, item_id: str, fields: dict) -> InventoryItem:
    """Return the item after applying fields; raises NotFound or Conflict (SKU taken)."""
    item = get_item(merchant, item_id)
    for name, value in fields.items():
        setattr(item, name, value)
    _commit_unique_sku(item.sku)
    return item


def delete_item(merchant: Merchant, item_id: str) -> None:
    """Delete the item (orders keep their own copy of each line); raises NotFound."""
    db.session.delete(get_item(merchant, item_id))
    shops.media_changed(merchant.id)
    db.session.commit()


def get_item(merchant: Merchant, item_id: str) -> InventoryItem:
    """Return the merchant's item; another merchant's item is NotFound, never visible."""
    item = db.session.scalar(select(InventoryItem).where(
        InventoryItem.id == item_id, InventoryItem.merchant_id == merchant.id))
    if item is None:
        raise NotFound(f"No inventory item {item_id}")
    return item


def _commit_unique_sku(sku: str) -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(f"SKU {sku} already exists", fields={"sku": ["already exists"]}) from exc


def set_thumbnail(merchant: Merchant, item_id: str, data: bytes) -> str:
    """Store a 96x96 JPEG thumbnail of the uploaded image; return it as a data URI.

    Raises NotFound, or InvalidInput when the upload is not a PNG/JPEG/WebP within the limits.
    """
    item = get_item(merchant, item_id)
    try:
        item.thumbnail_jpeg = images.thumbnail_jpeg(data)
    except images.BadImage as exc:
        raise InvalidInput(str(exc), fields={"image": [str(exc)]}) from exc
    shops.media_changed(merchant.id)
    db.session.commit()
    logger.info("item thumbnail stored item=%s bytes=%d", item.id, len(item.thumbnail_jpeg))
    return images.data_uri("image/jpeg", item.thumbnail_jpeg)


def thumbnails(item_ids: set[str]) -> dict[str, str]:
    """Return the data URI of each item's thumbnail, for the items that have one (one query)."""
    if not item_ids:
        return {}
    rows = db.session.execute(select(InventoryItem.id, InventoryItem.thumbnail_jpeg).where(
        InventoryItem.id.in_(item_ids), InventoryItem.thumbnail_jpeg.is_not(None))).all()
    return {item_id: images.data_uri("image/jpeg", jpeg) for item_id, jpeg in rows}
