"""Every list has a maximum page: no request reads an unbounded number of rows."""
from __future__ import annotations

import pytest

from app.api.schemas import MAX_PAGE
from app.services import keys

LISTS = ["/api/receipts", "/api/inventory", "/api/keys"]
NOT_LISTS = {"/api/openapi.json", "/api/shop/config", "/api/split", "/api/ledger/summary", "/auth/nonce",
             "/auth/me", "/healthz",  # one object each (the ledger is one row per token, over a bounded window)
             "/api/webhooks", "/api/refund-wallets"}  # bounded when written: 20 endpoints, 20 refund wallets


def test_every_get_route_without_parameters_is_a_known_list_or_a_single_object(app):
    routes = {rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods and not rule.arguments
              and rule.rule.startswith(("/api", "/auth", "/healthz"))}
    assert routes - set(LISTS) - NOT_LISTS == set(), "a new list route needs a maximum page (and an entry here)"


@pytest.mark.parametrize("path", LISTS)
def test_a_page_over_the_maximum_is_400(client, shop, path):
    response = client.get(f"{path}?limit={MAX_PAGE + 1}", headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert "limit" in response.json["fields"]


def test_keys_are_listed_a_page_at_a_time(client, shop, in_app):
    with in_app():
        made = set()
        for _ in range(MAX_PAGE + 5):  # revoked as made (MAX_ACTIVE_KEYS): the list shows revoked keys too
            made.add(keys.revoke_key(keys.create_key(shop.merchant, ["orders:create"])[0].id).id)
    first = client.get("/api/keys", headers=shop.headers).json["keys"]
    full = client.get(f"/api/keys?limit={MAX_PAGE}", headers=shop.headers).json["keys"]
    rest = client.get(f"/api/keys?limit={MAX_PAGE}&page=1", headers=shop.headers).json["keys"]
    assert len(first) == 100 and len(full) == MAX_PAGE
    assert {k["id"] for k in full + rest} >= made and len(full) + len(rest) == len(made) + 1  # + the shop's key
