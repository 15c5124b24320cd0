"""Model factories: merchants, keys and items made through the real services."""
from __future__ import annotations

from decimal import Decimal

from app.domain.scopes import SCOPES
from app.services import inventory, keys, shops

ALL_SCOPES = list(SCOPES)

US_CA = {"code": "US-CA", "name": "California", "rate": Decimal("0.095"), "components": [
    {"code": "state", "name": "State", "rate": Decimal("0.0725")},
    {"code": "county", "name": "County", "rate": Decimal("0.01")},
    {"code": "district", "name": "District", "rate": Decimal("0.0125")}]}


class Factory:
    """Creates merchants, keys and items through the real services."""

    def __init__(self, in_app):
        self.in_app = in_app
        self.serial = 0

    def merchant(self, name: str = "Shop", split: bool = True, **config):
        self.serial += 1
        wallet = "0x" + f"{self.serial:040x}"
        split_address = "0x" + f"{self.serial + 1000:040x}" if split else None
        with self.in_app():
            merchant = shops.create_merchant(wallet, name, split_address)
            if config:
                shops.update_config(merchant, config)
        return merchant

    def key(self, merchant, scopes=None) -> str:
        with self.in_app():
            _, secret = keys.create_key(merchant, scopes or ALL_SCOPES)
        return secret

    def item(self, merchant, sku: str, price: str, taxable: bool = False, stock: int = -1, name=None):
        with self.in_app():
            return inventory.create_item(merchant, {"sku": sku, "name": name or sku, "taxable": taxable,
                                                    "price_cents": int(Decimal(price) * 100),
                                                    "stock_qty": stock, "description": None})


class Shop:
    """A merchant, its all-scopes key and its items by SKU."""

    def __init__(self, merchant, key, items):
        self.merchant, self.key, self.items = merchant, key, items

    @property
    def headers(self) -> dict:
        return {"Ocp-Apim-Subscription-Key": self.key}
