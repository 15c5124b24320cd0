"""JSON API blueprint: every /api route registers on bp."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from app.api import inventory, keys, ledger, orders, receipts, refunds, shop, split, webhooks  # noqa: E402,F401  (registers routes)
