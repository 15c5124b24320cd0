"""A pay page's pictures (shop logo, item thumbnails) as data URIs, cached per process by the shop's media version.

The version is the shop config's `updated_at`, read in the same statement as the order. Storing a logo
updates that row; storing a thumbnail or deleting an item touches it (`shops.media_changed`). So a cached
picture is served only while the database still says it is current, in every process.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from sqlalchemy import String, literal, select, union_all

from app.domain import images
from app.extensions import db
from app.models import InventoryItem, ShopConfig

CACHE_MAX = 4096  # entries (a thumbnail's data URI is a few kB): a bounded share of a worker's memory
LOGO = ""  # the logo's slot among a merchant's item ids (item ids are never empty)

_cache: OrderedDict[tuple[int, datetime, str], str | None] = OrderedDict()
_lock = threading.Lock()


def for_order(merchant_id: int, item_ids: set[str], version: datetime | None) -> tuple[dict[str, str], str | None]:
    """Return the thumbnails (by item id, items that have one) and the logo as data URIs; queries only on a miss."""
    wanted = item_ids | {LOGO}
    cached = _cached(merchant_id, version, wanted) if version is not None else {}
    missing = wanted - cached.keys()
    if missing:
        fresh = _read(merchant_id, missing)
        cached.update(fresh)
        if version is not None:
            _remember(merchant_id, version, fresh)
    return {k: uri for k, uri in cached.items() if k != LOGO and uri}, cached[LOGO]


def _read(merchant_id: int, keys: set[str]) -> dict[str, str | None]:
    """Return the data URI (or None) of each key: item ids, and LOGO for the shop's logo (one query)."""
    thumbs = select(InventoryItem.id, InventoryItem.thumbnail_jpeg).where(
        InventoryItem.merchant_id == merchant_id, InventoryItem.id.in_(keys - {LOGO}))
    logo = select(literal(LOGO, String), ShopConfig.logo_png).where(ShopConfig.merchant_id == merchant_id)
    found = dict.fromkeys(keys)
    for key, image in db.session.execute(union_all(thumbs, logo)):
        if key in found and image is not None:
            found[key] = images.data_uri("image/png" if key == LOGO else "image/jpeg", image)
    return found


def _cached(merchant_id: int, version: datetime, keys: set[str]) -> dict[str, str | None]:
    """Return what this process holds of keys at the merchant's media version."""
    found = {}
    with _lock:
        for key in keys:
            if (slot := (merchant_id, version, key)) in _cache:
                found[key] = _cache[slot]
                _cache.move_to_end(slot)
    return found


def _remember(merchant_id: int, version: datetime, found: dict[str, str | None]) -> None:
    with _lock:
        for key, uri in found.items():
            _cache[(merchant_id, version, key)] = uri
            _cache.move_to_end((merchant_id, version, key))
        while len(_cache) > CACHE_MAX:
            _cache.popitem(last=False)
