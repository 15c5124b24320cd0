"""The scopes a subscription key can hold (DESIGN.md §9); a signed-in merchant has them all."""
from __future__ import annotations

SCOPES = (
    "orders:create", "orders:read", "receipts:read", "receipts:refund",
    "inventory:read", "inventory:write", "shop:read", "shop:write", "split:read", "split:write",
    "keys:read", "keys:write", "webhooks:read", "webhooks:write",
)
