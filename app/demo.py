"""The demo merchant that `tillpoint dev` seeds: the reference's coffee shop, with US-CA and US-NY tax."""
from __future__ import annotations

from decimal import Decimal

from app import create_app
from app.config import Config
from app.domain.scopes import SCOPES
from app.services import inventory, keys, shops

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # anvil dev account #1
ITEMS = [
    ("COFFEE-001", "Espresso", "3.50", True),
    ("PASTRY-001", "Croissant", "4.50", True),
    ("FOOD-001", "Food", "10.00", True),
    ("MEDICINE-001", "Medicine", "15.00", False),
    ("ITEM-001", "House blend 250 g", "12.00", True),
    ("ITEM-002", "Ceramic mug", "9.00", True),
    ("ITEM-003", "Gift card", "25.00", False),
]
JURISDICTIONS = [
    {"code": "US-CA", "name": "California", "rate": Decimal("0.095"), "components": [
        {"code": "state", "name": "State", "rate": Decimal("0.0725")},
        {"code": "county", "name": "County", "rate": Decimal("0.01")},
        {"code": "district", "name": "District", "rate": Decimal("0.0125")}]},
    {"code": "US-NY", "name": "New York City", "rate": Decimal("0.08875"), "components": [
        {"code": "state", "name": "State", "rate": Decimal("0.04")},
        {"code": "city", "name": "City", "rate": Decimal("0.045")},
        {"code": "mctd", "name": "MCTD", "rate": Decimal("0.00375")}]},
]


def seed(config: Config, split: str) -> str:
    """Create the demo merchant once (inventory, tax, its split) and return a fresh all-scope key secret."""
    app = create_app(config)
    with app.app_context():
        merchant = shops.find_merchant(WALLET)
        if merchant is None:
            merchant = shops.create_merchant(WALLET, "My Coffee Shop", split)
            for sku, name, price, taxable in ITEMS:
                inventory.create_item(merchant, {"sku": sku, "name": name, "taxable": taxable,
                                                 "price_cents": int(Decimal(price) * 100)})
            shops.update_config(merchant, {"jurisdictions": JURISDICTIONS, "default_jurisdiction_code": "US-CA"})
        _, secret = keys.create_key(merchant, list(SCOPES), label="demo")
    from app.extensions import db

    db.engine.dispose()
    return secret
