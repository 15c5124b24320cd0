"""`tillpoint dev` (what `make demo` runs) serves a usable API: the reference's curl example works."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

TILLPOINT = Path(sys.executable).with_name("tillpoint")


@pytest.fixture
def demo_env(tmp_path) -> dict:
    env = {**os.environ, "TILLPOINT_INSTANCE": str(tmp_path)}
    env.pop("DATABASE_URL", None)  # the demo's own SQLite file, as on a fresh machine
    env.pop("REDIS_URL", None)
    return env


@pytest.fixture
def demo(demo_env):
    proc = subprocess.Popen([str(TILLPOINT), "dev", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=demo_env, start_new_session=True)
    found = {}
    for line in proc.stdout:
        if match := re.match(r"(Server|API key): (\S+)", line):
            found[match[1]] = match[2]
        if len(found) == 2:
            break
    yield found
    proc.terminate()  # only the dev process: it must stop everything it started
    proc.wait(timeout=30)
    try:
        for _ in range(100):
            os.killpg(proc.pid, 0)  # raises once no process of the group is left
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("tillpoint dev left processes running after SIGTERM")
    except ProcessLookupError:
        pass


def call(url: str, key: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", "Ocp-Apim-Subscription-Key": key})
    for _ in range(100):  # the workers may still be booting
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read(), parse_float=Decimal)
        except urllib.error.URLError:
            time.sleep(0.1)
    raise AssertionError("server never answered")


def test_demo_takes_the_reference_order_and_it_is_paid_then_settled(demo, demo_env):
    assert demo["Server"].startswith("http://127.0.0.1:")
    body = {"items": [{"sku": "COFFEE-001", "qty": 2}, {"sku": "PASTRY-001", "qty": 1}], "jurisdictionCode": "US-CA"}
    receipt = call(demo["Server"] + "/api/orders", demo["API key"], body)["receipt"]
    assert [line["label"] for line in receipt["lineItems"]] == ["Espresso", "Croissant", "Tax", "Processing Fee"]
    assert receipt["totalUsd"] == Decimal("12.65")  # 11.50 + tax 1.09 + fee 0.06
    assert receipt["paymentUrl"].startswith(demo["Server"] + "/pay/R-")
    assert {q["token"] for q in receipt["quotes"]} == {"USDC", "USDT", "ETH"}

    paid = subprocess.run([str(TILLPOINT), "simulate-payment", receipt["receiptId"], "--token", "ETH", "--json"],
                          env=demo_env, capture_output=True, text=True, timeout=60)
    assert paid.returncode == 0 and json.loads(paid.stdout)["status"] == 1, paid.stderr
    url = f"{demo['Server']}/api/receipts/{receipt['receiptId']}"
    for _ in range(300):  # blocks come every second; two confirmations make it paid, two more settle it
        done = call(url, demo["API key"])["receipt"]
        if done["status"] == "completed":
            break
        time.sleep(0.1)
    assert [change["status"] for change in done["statusHistory"]] == ["generated", "pending", "paid", "completed"]
    assert [sweep["verified"] for sweep in done["sweeps"]] == [True]
