"""`tillpoint dev` (what `make demo` runs) serves a usable API: the reference's curl example works."""
from __future__ import annotations

import json
import subprocess
import time
from decimal import Decimal

import pytest

from tests.helpers.processes import TILLPOINT, call

pytestmark = pytest.mark.slow


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


def test_a_second_dev_in_the_same_checkout_refuses_naming_the_running_one(demo, demo_env):
    second = subprocess.run([str(TILLPOINT), "dev", "--port", "0"], env=demo_env, capture_output=True, text=True,
                            timeout=60)
    assert second.returncode != 0
    assert "already running" in second.stderr and demo["Server"] in second.stderr, second.stderr
    body = {"items": [{"sku": "COFFEE-001", "qty": 1}]}
    assert call(demo["Server"] + "/api/orders", demo["API key"], body)["ok"], "the running demo kept its database"


def test_ctrl_c_stops_the_whole_demo_within_5_s_with_pay_pages_open(tmp_path):
    import os
    import re
    import signal
    import socket

    env = {**os.environ, "TILLPOINT_INSTANCE": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen([str(TILLPOINT), "dev", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, start_new_session=True)
    found = {}
    for line in proc.stdout:
        if match := re.match(r"(Server|API key): (\S+)", line):
            found[match[1]] = match[2]
        if len(found) == 2:
            break
    try:
        receipt = call(found["Server"] + "/api/orders", found["API key"], {"items": [{"sku": "COFFEE-001", "qty": 1}]})
        port = int(found["Server"].rsplit(":", 1)[1])
        tabs = []
        for _ in range(2):  # PAY_STREAMS: every stream slot of the server held by an open page
            tab = socket.create_connection(("127.0.0.1", port), timeout=10)
            tab.sendall(f"GET /pay/{receipt['receipt']['receiptId']}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert b"200" in tab.recv(4096)
            tabs.append(tab)
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole foreground group
        while True:
            proc.poll()  # reap the dev process itself: a zombie still counts as a member of its group
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() - started < 5, "something tillpoint dev started still runs 5 s after Ctrl-C"
            time.sleep(0.05)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
