"""Every route that takes a key, found in the app's url_map (so routes added later are covered too):
merchant A — by key or by session, spoofing B's wallet in headers — never reads or changes merchant B's
receipts, items, config, split or keys; a key without the route's scope gets 403; no credential, 401.

A new route with path parameters or a body needs an entry in PATH_VALUES / BODIES below; the test
says so by name rather than guessing.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from PIL import Image
from sqlalchemy import select

from app.domain.scopes import SCOPES
from app.models import (
    ApiKey,
    InventoryItem,
    Merchant,
    Order,
    Refund,
    RefundClaim,
    RefundWallet,
    ShopConfig,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from app.services import keys, shops
from app.webhooks import endpoints as webhook_endpoints
from tests.helpers.wallet import Wallet

VICTIM_SKU = "VICTIM-SKU-1"
VICTIM_BRAND = "Victim Brand Shop"
VICTIM_HOOK = "https://127.0.0.1:9/victim-hook"
VICTIM_REFUND_WALLET = "0x" + "5A" * 20

# Path parameter name → the victim's resource it names.
PATH_VALUES = {
    "receipt_id": lambda victim: victim.receipt_id,
    "item_id": lambda victim: victim.item_id,
    "key_id": lambda victim: victim.key_id,
    "refund_id": lambda victim: victim.refund_id,
    "webhook_id": lambda victim: victim.webhook_id,
    "event_id": lambda victim: victim.event_id,
    "address": lambda victim: VICTIM_REFUND_WALLET,
}
# Endpoint → a body that is valid for the attacker's own merchant (so a refusal is about ownership, not input).
BODIES = {
    "api.create_order": {"items": [{"sku": "ATTACKER-1", "qty": 1}]},
    "api.create_inventory_item": {"sku": VICTIM_SKU, "name": "Mine now", "priceUsd": "1.00"},
    "api.update_inventory_item": {"name": "Hijacked"},
    "api.update_shop_config": {"brandName": "Hijacked"},
    "api.configure_split": {},
    "api.create_key": {"scopes": ["receipts:read"], "label": "hijack"},
    "api.request_refund": {"token": "USDC", "amount": "1.00"},
    "api.link_refund_tx": {"txHash": "0x" + "ab" * 32},
    "api.create_claim_link": {},
    "api.register_refund_wallet": {"address": "0x" + "6b" * 20, "signature": "0x" + "11" * 65},
    "api.set_inventory_image": "png",
    "api.set_shop_logo": "png",
    "api.create_webhook": {"url": "https://127.0.0.1:9/attacker", "events": ["order.paid"]},
    "api.update_webhook": {"url": "https://127.0.0.1:9/attacker", "enabled": False},
    "api.rotate_webhook_secret": {},
    "api.test_webhook": {},
    "api.redeliver_event": {},
    "api.cancel_order": {"reason": "hijack"},
}
BODYLESS_METHODS = {"GET", "DELETE"}


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    rule: str
    arguments: frozenset[str]
    scope: str

    def url(self, victim) -> str:
        missing = self.arguments - PATH_VALUES.keys()
        assert not missing, \
            f"{self.endpoint}: add a victim value for path parameter(s) {sorted(missing)} to PATH_VALUES"
        url = self.rule
        for name in self.arguments:
            value = PATH_VALUES[name](victim)
            url = url.replace(f"<{name}>", value).replace(f"<string:{name}>", value)
        return url

    def body(self) -> dict | None:
        if self.method in BODYLESS_METHODS:
            return None
        assert self.endpoint in BODIES, f"{self.endpoint}: add a valid attacker body to BODIES"
        return BODIES[self.endpoint]


def keyed_routes(app) -> list[Route]:
    """Return every (route, method) whose view is wrapped by @requires."""
    routes = []
    for rule in app.url_map.iter_rules():
        scope = getattr(app.view_functions[rule.endpoint], "required_scope", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}) if scope else ():
            routes.append(Route(rule.endpoint, method, rule.rule, frozenset(rule.arguments), scope))
    return routes


@dataclass
class Victim:
    merchant: Merchant
    key: str
    receipt_id: str
    item_id: str
    key_id: str
    refund_id: str
    webhook_id: str
    event_id: str

    def markers(self) -> list[str]:
        """Strings only the victim's data contains."""
        return [self.receipt_id, self.item_id, self.key_id, self.refund_id, self.merchant.wallet, VICTIM_BRAND,
                self.merchant.split_address, self.webhook_id, self.event_id, VICTIM_HOOK,
                VICTIM_REFUND_WALLET]


@pytest.fixture
def victim(client, factory, in_app) -> Victim:
    merchant = factory.merchant(VICTIM_BRAND)
    item = factory.item(merchant, VICTIM_SKU, "5.00")
    secret = factory.key(merchant)
    with in_app():
        webhook, _ = webhook_endpoints.create(merchant, VICTIM_HOOK, None, "victim hook")
    order = client.post("/api/orders", json={"items": [{"sku": VICTIM_SKU, "qty": 1}]}, headers={"x-api-key": secret})
    receipt_id = order.json["receipt"]["receiptId"]
    with in_app() as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.merchant_id == merchant.id))
        order_id = session.scalar(select(Order.id).where(Order.receipt_id == receipt_id))
        session.add(Refund(id="rf_victim0001", order_id=order_id, status="requested", chain_id=8453, symbol="USDC",
                           amount_base_units=1_000_000, usd_cents=100, to_address="0x" + "11" * 20, items=[]))
        session.add(RefundWallet(merchant_id=merchant.id, address=VICTIM_REFUND_WALLET))
        session.commit()
        event_id = session.scalar(select(WebhookEvent.id).where(WebhookEvent.order_id == order_id))
        assert event_id, "creating an order records order.created"
    return Victim(merchant, secret, receipt_id, item.id, key_id, "rf_victim0001", webhook.id, event_id)


@pytest.fixture
def attacker(app, factory, in_app) -> Wallet:
    """Merchant A, signed in, with an all-scope key in .key and its own item ATTACKER-1."""
    wallet = Wallet(app.test_client())
    with in_app():
        wallet.merchant = shops.create_merchant(wallet.address, "Attacker")
    factory.item(wallet.merchant, "ATTACKER-1", "1.00")
    wallet.key = factory.key(wallet.merchant)
    assert wallet.login().status_code == 200
    return wallet


def snapshot(in_app, merchant_id: int) -> str:
    """Return everything stored for a merchant, to compare before and after a request."""
    with in_app() as session:
        rows = [session.get(Merchant, merchant_id), session.get(ShopConfig, merchant_id)]
        for model in (InventoryItem, ApiKey, Order):
            rows += session.scalars(select(model).where(model.merchant_id == merchant_id).order_by(model.id)).all()
        rows += session.scalars(select(Refund).join(Order).where(Order.merchant_id == merchant_id)
                                .order_by(Refund.id)).all()
        for model in (WebhookEndpoint, WebhookEvent):
            rows += session.scalars(select(model).where(model.merchant_id == merchant_id).order_by(model.id)).all()
        rows += session.scalars(select(WebhookDelivery).join(WebhookEvent)
                                .where(WebhookEvent.merchant_id == merchant_id).order_by(WebhookDelivery.id)).all()
        rows += session.scalars(select(RefundClaim).join(Refund).join(Order).where(Order.merchant_id == merchant_id)
                                .order_by(RefundClaim.token_hash)).all()
        rows += session.scalars(select(RefundWallet).where(RefundWallet.merchant_id == merchant_id)).all()
        return json.dumps([{c.key: str(getattr(row, c.key)) for c in row.__table__.columns} for row in rows])


def call(client, route: Route, victim: Victim, headers: dict):
    spoof = {"x-wallet": victim.merchant.wallet, "wallet": victim.merchant.wallet,
             "x-resolved-wallet": victim.merchant.wallet, "x-subscription-id": "victim"}
    body = route.body()
    if body == "png":  # an upload route: a real image as the raw body
        return client.open(route.url(victim), method=route.method, data=tiny_png(), content_type="image/png",
                           headers={**spoof, **headers})
    return client.open(route.url(victim), method=route.method, json=body, headers={**spoof, **headers})


def tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, format="PNG")
    return out.getvalue()


def test_the_matrix_covers_the_routes_it_must(app):
    endpoints = {route.endpoint for route in keyed_routes(app)}
    assert {"api.get_receipt", "api.list_receipts", "api.update_inventory_item", "api.update_shop_config",
            "api.get_split", "api.configure_split", "api.revoke_key", "api.list_keys", "api.create_order",
            "api.request_refund", "api.link_refund_tx", "api.ledger_summary", "api.create_webhook",
            "api.list_webhooks", "api.get_webhook", "api.update_webhook", "api.delete_webhook",
            "api.rotate_webhook_secret", "api.test_webhook", "api.list_webhook_deliveries", "api.get_event",
            "api.redeliver_event", "api.cancel_order", "api.get_inventory_item"} <= endpoints


@pytest.mark.parametrize("credential", ["key", "session"])
def test_merchant_a_never_reads_or_changes_merchant_b(app, in_app, victim, attacker, credential):
    failures = []
    for route in keyed_routes(app):
        before = snapshot(in_app, victim.merchant.id)
        headers = {"x-api-key": attacker.key} if credential == "key" else attacker.csrf()
        client = app.test_client() if credential == "key" else attacker.client
        response = call(client, route, victim, headers)
        text = response.get_data(as_text=True)
        echoed = route.url(victim)  # a 404 may repeat the id the caller sent; that is not the victim's data
        leaked = [m for m in victim.markers() if m.lower() in text.lower() and m not in echoed]
        if route.arguments and response.status_code not in (403, 404):
            failures.append(f"{route.method} {route.rule}: {response.status_code}, expected 403 or 404")
        if response.status_code >= 500 and response.json.get("error") != "chain_unavailable":
            failures.append(f"{route.method} {route.rule}: {response.status_code} {text[:200]}")
        if leaked or snapshot(in_app, victim.merchant.id) != before:
            failures.append(f"{route.method} {route.rule}: victim data leaked {leaked} or changed")
    assert not failures, "\n".join(failures)


def test_a_key_without_the_routes_scope_is_403_and_changes_nothing(app, client, factory, in_app, victim, attacker):
    failures = []
    for route in keyed_routes(app):
        before = snapshot(in_app, attacker.merchant.id), snapshot(in_app, victim.merchant.id)
        secret = factory.key(attacker.merchant, [s for s in SCOPES if s != route.scope])
        response = call(client, route, victim, {"x-api-key": secret})
        if (response.status_code, response.json["error"]) != (403, "insufficient_scope"):
            failures.append(f"{route.method} {route.rule}: {response.status_code} {response.json}")
        with in_app() as session:  # the new key itself is the only change allowed
            session.execute(ApiKey.__table__.delete().where(ApiKey.key_hash == keys.hash_secret(secret)))
            session.commit()
        if (snapshot(in_app, attacker.merchant.id), snapshot(in_app, victim.merchant.id)) != before:
            failures.append(f"{route.method} {route.rule}: changed data without its scope")
    assert not failures, "\n".join(failures)


def test_without_a_credential_every_keyed_route_is_401(app, victim):
    client = app.test_client()
    failures = [f"{route.method} {route.rule}: {response.status_code}"
                for route in keyed_routes(app)
                if (response := client.open(route.url(victim), method=route.method,
                                            json=route.body())).status_code != 401]
    assert not failures, "\n".join(failures)
