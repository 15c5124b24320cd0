"""A merchant's inventory: items priced in integer cents, unique SKU per merchant."""
from __future__ import annotations

import logging

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app.domain.ids import new_item_id
from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import InventoryItem, Merchant

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
