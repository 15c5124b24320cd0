"""JSON API blueprint: every /api route registers on bp."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from app.api import (  # noqa: E402,F401  (registers routes)
    inventory, keys, ledger, orders, receipts, refund_wallets, refunds, shop, split, webhooks,
)
