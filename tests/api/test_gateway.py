"""Gateway mode: identity stamps are believed only with the edge secret; EDGE_ONLY refuses the rest."""
from __future__ import annotations

import uuid

import pytest

from app import create_app
from app.config import Config
from app.models import Order

BODY = {"items": [{"sku": "FOOD-001", "qty": 1}]}
EDGE = "edge-secret-" + "9" * 32


@pytest.fixture
def gateway_app(app):
    def build(**overrides):
        return create_app(app.config["TILLPOINT"].with_overrides(EDGE_SECRET=EDGE, **overrides)).test_client()

    return build


@pytest.fixture
def victim(factory):
    merchant = factory.merchant("Victim")
    factory.item(merchant, "FOOD-001", "1.00")
    return merchant


def test_without_an_edge_secret_configured_stamps_are_never_read(client, shop, victim, count_rows):
    spoof = {"x-resolved-wallet": victim.wallet, "x-wallet": victim.wallet, "wallet": victim.wallet,
             "x-subscription-id": "sub-of-victim"}
    assert client.get("/api/receipts", headers=spoof).status_code == 401
    receipt = client.post("/api/orders", json=BODY, headers={**shop.headers, **spoof}).json["receipt"]
    assert receipt["brandName"] == "My Coffee Shop", "the key decides, not the headers"


@pytest.mark.parametrize("secret", [None, "wrong", EDGE[:-1], EDGE + "x"], ids=["missing", "wrong", "prefix", "longer"])
def test_a_stamp_without_the_right_edge_secret_is_forbidden(gateway_app, shop, victim, count_rows, secret):
    headers = {**shop.headers, "x-resolved-wallet": victim.wallet, **({"x-edge-secret": secret} if secret else {})}
    response = gateway_app().post("/api/orders", json=BODY, headers=headers)
    assert (response.status_code, response.json["error"]) == (403, "forbidden") and count_rows(Order) == 0


def test_with_the_right_secret_the_stamped_wallet_is_the_caller(gateway_app, shop, victim):
    client = gateway_app()
    stamped = {"x-edge-secret": EDGE, "x-resolved-wallet": victim.wallet}
    receipt = client.post("/api/orders", json=BODY, headers=stamped).json["receipt"]
    assert receipt["brandName"] == "Victim" and receipt["statusHistory"][0]["actor"] == f"edge:{victim.wallet}"
    both = client.get("/api/receipts", headers={**stamped, **shop.headers}).json["receipts"]
    assert [r["receiptId"] for r in both] == [receipt["receiptId"]], "the gateway's stamp wins over a forwarded key"


def test_stamped_scopes_limit_the_stamped_caller(gateway_app, victim, count_rows):
    stamped = {"x-edge-secret": EDGE, "x-resolved-wallet": victim.wallet, "x-resolved-scopes": "receipts:read"}
    client = gateway_app()
    assert client.get("/api/receipts", headers=stamped).status_code == 200
    assert client.post("/api/orders", json=BODY, headers=stamped).json["error"] == "insufficient_scope"
    assert count_rows(Order) == 0


def test_the_edge_secret_without_a_stamp_leaves_keys_in_charge(gateway_app, shop, victim):
    headers = {**shop.headers, "x-edge-secret": EDGE, "x-wallet": victim.wallet}
    receipt = gateway_app().post("/api/orders", json=BODY, headers=headers).json["receipt"]
    assert receipt["brandName"] == "My Coffee Shop"


def test_edge_only_refuses_direct_requests_except_healthz(gateway_app, shop):
    client = gateway_app(EDGE_ONLY=True)
    for path in ("/api/receipts", "/auth/nonce", "/api/openapi.json", "/nowhere"):
        response = client.get(path, headers=shop.headers)
        assert (response.status_code, response.json["error"]) == (403, "forbidden"), path
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/receipts", headers={**shop.headers, "x-edge-secret": EDGE}).status_code == 200


def test_edge_only_without_an_edge_secret_does_not_start():
    with pytest.raises(ValueError, match="EDGE_SECRET"):
        Config.from_env({"TILLPOINT_ENV": "test", "EDGE_ONLY": "true"}).validate()


def test_behind_the_gateway_public_reads_count_per_forwarded_client(gateway_app, shop):
    client = gateway_app(RATE_LIMIT_PUBLIC="2 per minute", RATE_LIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}")
    read = {"x-wallet": shop.merchant.wallet, "x-edge-secret": EDGE}
    first = [client.get("/api/inventory", headers={**read, "X-Forwarded-For": "203.0.113.9, 198.51.100.1"})
             for _ in range(3)]
    assert [r.status_code for r in first] == [200, 200, 429]
    other = client.get("/api/inventory", headers={**read, "X-Forwarded-For": "198.51.100.2"})
    assert other.status_code == 200, "another client behind the same gateway has its own bucket"
    spoofed = [client.get("/api/inventory",
                          headers={"x-wallet": shop.merchant.wallet, "X-Forwarded-For": f"192.0.2.{n}"})
               for n in range(3)]
    assert [r.status_code for r in spoofed] == [200, 200, 429], \
        "without the edge secret X-Forwarded-For is not believed: one bucket for the socket address"
