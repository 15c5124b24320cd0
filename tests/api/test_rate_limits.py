"""Rate limits: one bucket per key (or client address), headers on every response, shared through Redis."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from app import create_app
from app.config import Config
from app.models import Order
from tests.helpers.processes import free_ports

BODY = {"items": [{"sku": "FOOD-001", "qty": 1}]}
FAMILY_LIMITS = ("RATE_LIMIT", "RATE_LIMIT_PUBLIC", "RATE_LIMIT_AUTH", "RATE_LIMIT_PAY")


@pytest.fixture
def limited(app):
    """An app allowing 3 requests a minute per bucket (every family), with a bucket namespace of its own."""

    def build(**overrides):
        settings = {name: "3 per minute" for name in FAMILY_LIMITS}
        settings.update(RATE_LIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}", **overrides)
        client = create_app(app.config["TILLPOINT"].with_overrides(**settings)).test_client()
        # A client address of its own: address buckets of earlier tests (same minute) are never shared.
        client.environ_base["REMOTE_ADDR"] = unique_address()
        return client

    return build


def unique_address() -> str:
    """Return a documentation-range address no other test in this run uses."""
    number = uuid.uuid4().int
    return f"198.{18 + number % 2}.{number // 2 % 256}.{number // 512 % 254 + 1}"


def test_every_response_carries_the_limit_headers_and_the_fourth_is_429(limited, shop):
    client = limited()
    responses = [client.post("/api/orders", json=BODY, headers=shop.headers) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" and r.headers["X-RateLimit-Reset"] for r in responses)
    refused = responses[-1].json
    assert refused["error"] == "rate_limited"
    assert refused["resetAt"] == int(responses[-1].headers["X-RateLimit-Reset"]) * 1000
    assert refused["resetAt"] > time.time() * 1000


def test_each_key_has_its_own_bucket_and_public_reads_count_per_address(limited, shop, factory, count_rows):
    client = limited()
    for _ in range(3):
        client.post("/api/orders", json=BODY, headers=shop.headers)
    other = factory.key(shop.merchant)
    assert client.post("/api/orders", json=BODY, headers={"x-api-key": other}).status_code == 200
    wallet = {"x-wallet": shop.merchant.wallet}
    assert [client.get("/api/inventory", headers=wallet).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert count_rows(Order) == 4


def test_health_and_openapi_are_never_limited(limited):
    client = limited()
    assert {client.get("/healthz").status_code for _ in range(5)} == {200}
    assert {client.get("/api/openapi.json").status_code for _ in range(5)} == {200}


def test_with_redis_down_orders_are_still_taken_under_per_process_limits(limited, shop, count_rows):
    client = limited(REDIS_URL="redis://127.0.0.1:1/0")
    statuses = [client.post("/api/orders", json=BODY, headers=shop.headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429], "the in-memory fallback keeps the same limit"
    assert count_rows(Order) == 3


@pytest.mark.slow
def test_two_gunicorn_servers_share_one_limit_through_redis(shop, database_url, redis_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "RATE_LIMIT": "5 per minute",
           "RATE_LIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    ports = free_ports(2)
    servers = [subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--workers", "1", "--worker-class", "gthread",
         "--bind", f"127.0.0.1:{port}"], env=env, cwd=Path(__file__).resolve().parents[2],
        stderr=subprocess.DEVNULL) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}/api/receipts" for port in ports]
        for url in urls:
            wait_until_serving(url)
        statuses = [status_of(urls[n % 2], shop.key) for n in range(12)]  # alternating between the two
    finally:
        for server in servers:
            server.terminate()
            server.wait(15)
    assert statuses == [200] * 5 + [429] * 7, "one limit for both processes, not one each"


def wait_until_serving(url: str) -> None:
    assert status_of(url + "-probe", "no-key") == 404  # unknown route, not counted against the test key


def status_of(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"x-api-key": key, "Connection": "close"})
    for _ in range(200):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except urllib.error.URLError:
            time.sleep(0.05)  # still booting
    raise AssertionError("server never answered")


def test_sign_in_and_key_routes_are_limited_too(limited, shop):
    client = limited()
    nonces = [client.get("/auth/nonce") for _ in range(4)]
    assert [r.status_code for r in nonces] == [200, 200, 200, 429] and nonces[0].headers["X-RateLimit-Limit"] == "3"
    assert client.get("/api/keys", headers=shop.headers).headers["X-RateLimit-Remaining"] == "2", "a key's own bucket"


def test_made_up_keys_share_the_client_address_bucket(limited):
    """A fresh random key per request must not buy a fresh bucket: unknown keys count per address."""
    client = limited()
    codes = [client.get("/auth/nonce", headers={"x-api-key": f"tp_live_made-up-{n}"}).status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]


def _receipt(client, shop) -> str:
    return client.post("/api/orders", json=BODY, headers=shop.headers).json["receipt"]["receiptId"]


def test_a_shopper_polling_a_pay_page_locks_out_neither_sign_in_nor_public_reads_at_the_same_address(limited, shop):
    client = limited(RATE_LIMIT="100 per minute")
    receipt_id = _receipt(client, shop)
    polls = [client.get(f"/pay/{receipt_id}/status").status_code for _ in range(4)]
    assert polls == [200, 200, 200, 429]
    assert client.get("/auth/nonce").status_code == 200
    assert client.get("/api/inventory", headers={"x-wallet": shop.merchant.wallet}).status_code == 200
    assert client.post("/api/orders", json=BODY, headers=shop.headers).status_code == 200


def test_pay_pages_count_per_receipt_so_shoppers_behind_one_address_do_not_share_a_bucket(limited, shop):
    client = limited(RATE_LIMIT="100 per minute")
    receipts = [_receipt(client, shop) for _ in range(5)]  # five shoppers behind one proxy
    pages = [client.get(f"/pay/{receipt_id}/status").status_code for receipt_id in receipts for _ in range(3)]
    assert pages == [200] * 15
    assert client.get(f"/pay/{receipts[0]}").status_code == 429, "each receipt's bucket still has its limit"


def test_sign_in_has_its_own_bucket_per_address(limited, shop):
    client = limited(RATE_LIMIT_AUTH="2 per minute")
    assert [client.get("/auth/nonce").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/api/inventory", headers={"x-wallet": shop.merchant.wallet}).status_code == 200


def test_retry_after_is_sent_only_on_a_429(limited, shop):
    client = limited()
    answers = [client.get("/api/receipts", headers=shop.headers) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [("Retry-After" in r.headers) for r in answers] == [False, False, False, True]
    assert 0 <= int(answers[-1].headers["Retry-After"]) <= 60


@pytest.mark.parametrize("variable", FAMILY_LIMITS)
def test_a_malformed_rate_limit_setting_names_the_variable(variable):
    with pytest.raises(ValueError, match=variable):
        Config.from_env({variable: "lots"})


def test_behind_our_proxy_each_forwarded_client_has_its_own_bucket(limited, shop):
    client = limited(BEHIND_PROXY=True)
    wallet = {"x-wallet": shop.merchant.wallet}

    def reads(forwarded: str) -> list[int]:
        return [client.get("/api/inventory", headers={**wallet, "X-Forwarded-For": forwarded}).status_code
                for _ in range(4)]

    first, second = unique_address(), unique_address()
    assert reads(first) == [200, 200, 200, 429]
    assert reads(f"10.0.0.1, {second}") == [200, 200, 200, 429], "the last hop (nginx's) counts, not the first"
    assert reads(f"10.0.0.2, {first}")[0] == 429, "a made-up first hop buys no new bucket"
