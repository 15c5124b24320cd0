"""Benchmark the pay page and its QR PNG against a bare template render on the same gunicorn stack.

Run with `make bench`; BENCH_SECONDS sets each measured duration (default 10), split into BENCH_ROUNDS
(default 3) rounds that take the three endpoints in turn, so a load change on a shared machine weighs on
all three alike rather than on whichever was measured at that moment. Needs a local PostgreSQL
(the database of bench/orders.py, reset here) and wrk (installed with apt-get when missing and root).
The QR is measured at its versioned URL, as the page links it: the image is rendered once per process
and then served from the in-process cache. Importing this module only builds `bare_app`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from flask import Flask, render_template_string

import orders as common  # bench/orders.py: database, gunicorn and wrk helpers

bare_app = Flask("bare")
BARE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><table>{% for label, qty, price in lines %}
<tr><td>{{ label }}</td><td>{{ qty }}</td><td>${{ price }}</td></tr>{% endfor %}</table></body></html>"""
LINES = [("Espresso", 2, "7.00"), ("Croissant", 1, "4.50"), ("Tax", 1, "1.09"), ("Processing Fee", 1, "0.06")]


@bare_app.get("/bare")
def bare():
    """Render a small receipt-like template, touching no database: the baseline."""
    return render_template_string(BARE_PAGE, title="My Coffee Shop", lines=LINES)


def create_order(port: int, secret: str) -> dict:
    """Return a receipt made through the API of the server on port."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/orders", data=common.BODY.encode(),
                                     headers={"Content-Type": "application/json", "Ocp-Apim-Subscription-Key": secret})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["receipt"]


def run_wrk_get(wrk: str, url: str, seconds: int) -> dict:
    """Run wrk GETting url with the same connections as bench/orders.py; return its parsed figures."""
    cmd = [wrk, "-t2", f"-c{common.CLIENTS}", f"-d{seconds}s", "--latency", url]
    return common.parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def combine(rounds: list[dict]) -> dict:
    """Return one endpoint's figures over equal-length rounds: mean req/s, median p50, worst p99, all non-2xx."""
    p50s = sorted(r["p50"] for r in rounds)
    return {"rps": sum(r["rps"] for r in rounds) / len(rounds), "p50": p50s[len(p50s) // 2],
            "p99": max(r["p99"] for r in rounds), "non2xx": sum(r["non2xx"] for r in rounds)}


def report(results: dict[str, dict]) -> bool:
    """Print the table and the ratios against the bare render; return False on any non-2xx response."""
    print(f"\n{'endpoint':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, r in results.items():
        print(f"{name:<10}{r['rps']:>10.1f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['non2xx']:>10}")
    for name in ("page", "qr"):
        ratio = results[name]["rps"] / results["bare"]["rps"]
        verdict = "met" if ratio >= 0.5 else "NOT met"
        print(f"ratio ({name} / bare template throughput): {ratio:.2f}  goal >= 0.50: {verdict}")
    failed = [name for name, r in results.items() if r["non2xx"]]
    for name in failed:
        print(f"FAILED: {name} returned {results[name]['non2xx']} non-2xx responses")
    return not failed


def main() -> int:
    """Prepare, serve, load the three endpoints, report; return the exit status."""
    seconds = int(os.environ.get("BENCH_SECONDS", "10"))
    rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
    secret = common.prepare_database()
    wrk = common.find_wrk()
    if wrk is None:
        print("FAILED: wrk is needed (apt-get install wrk)")
        return 1
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tp-bench-pay-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            app_proc, app_port = common.start_server("wsgi:app", common.ROOT, tmp / "app.log")
            bare_proc, bare_port = common.start_server("pay_page:bare_app", common.ROOT / "bench", tmp / "bare.log")
            procs += [app_proc, bare_proc]
            common.wait_ready(app_proc, f"http://127.0.0.1:{app_port}/healthz")
            common.wait_ready(bare_proc, f"http://127.0.0.1:{bare_port}/bare")
            receipt = create_order(app_port, secret)
            pay_url = f"http://127.0.0.1:{app_port}/pay/{receipt['receiptId']}"
            options = json.loads(urllib.request.urlopen(pay_url + "/status", timeout=30).read())["options"]
            version = next(o["qrVersion"] for o in options if o["token"] == "USDC")
            targets = {"page": pay_url, "qr": f"{pay_url}/qr/USDC.png?v={version}",
                       "bare": f"http://127.0.0.1:{bare_port}/bare"}
            for name, url in targets.items():
                print(f"warm-up: {name} for 2s", flush=True)
                run_wrk_get(wrk, url, 2)
            measured: dict[str, list] = {name: [] for name in targets}
            for n in range(rounds):
                for name, url in targets.items():
                    print(f"measure: {name} for {max(1, seconds // rounds)}s (round {n + 1} of {rounds})", flush=True)
                    measured[name].append(run_wrk_get(wrk, url, max(1, seconds // rounds)))
            ok = report({name: combine(r) for name, r in measured.items()})
        finally:
            common.stop(procs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
