"""The scopes a subscription key can hold (DESIGN.md §9); a signed-in merchant has them all.

There is no orders:read: receipts:read reads orders (GET /api/receipts*), one name for one permission. A key
stored with orders:read from before keeps it, and it grants nothing."""
from __future__ import annotations

SCOPES = (
    "orders:create", "receipts:read", "receipts:refund",
    "inventory:read", "inventory:write", "shop:read", "shop:write", "split:read", "split:write",
    "keys:read", "keys:write", "webhooks:read", "webhooks:write",
)
