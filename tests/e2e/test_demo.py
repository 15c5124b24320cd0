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
def demo(tmp_path):
    env = {**os.environ, "TILLPOINT_INSTANCE": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    proc = subprocess.Popen([str(TILLPOINT), "dev", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, start_new_session=True)
    found = {}
    for line in proc.stdout:
        if match := re.match(r"(Server|API key): (\S+)", line):
            found[match[1]] = match[2]
        if len(found) == 2:
            break
    yield found
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=15)


def call(url: str, key: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", "Ocp-Apim-Subscription-Key": key})
    for _ in range(100):  # the workers may still be booting
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read(), parse_float=Decimal)
        except urllib.error.URLError:
            time.sleep(0.1)
    raise AssertionError("server never answered")


def test_demo_prints_server_and_key_and_takes_the_reference_order(demo):
    assert demo["Server"].startswith("http://127.0.0.1:")
    body = {"items": [{"sku": "COFFEE-001", "qty": 2}, {"sku": "PASTRY-001", "qty": 1}], "jurisdictionCode": "US-CA"}
    receipt = call(demo["Server"] + "/api/orders", demo["API key"], body)["receipt"]
    assert [line["label"] for line in receipt["lineItems"]] == ["Espresso", "Croissant", "Tax", "Processing Fee"]
    assert receipt["totalUsd"] == Decimal("12.65")  # 11.50 + tax 1.09 + fee 0.06
    assert receipt["paymentUrl"].startswith(demo["Server"] + "/pay/R-")
