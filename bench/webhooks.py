"""Benchmark webhook delivery and what the outbox costs order creation.

1. Deliveries per second: two `tillpoint deliver` processes on PostgreSQL send BENCH_EVENTS (default 1000)
   events per round to a receiver process on loopback; the floor is the same receiver taking the same number
   of plain POSTs from two processes of 16 threads (the workers' batch), with no database.
2. The outbox's cost to POST /api/orders: the demo merchant's order creation with one endpoint subscribed
   (an event plus a delivery row per order) against none (the event row only), in interleaved rounds.

Run with `make bench`; BENCH_SECONDS (default 10) is split into BENCH_ROUNDS (default 3) rounds per side.
Needs a local PostgreSQL (BENCH_DB, reset here, as bench/orders.py). `--receiver PORT` and `--blast URL N`
are the helper processes this script starts.
"""
from __future__ import annotations

import http.client
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import orders as common  # bench/orders.py: database, gunicorn and wrk helpers

TILLPOINT = Path(sys.executable).with_name("tillpoint")
THREADS = 16  # the delivery worker's batch


def receiver(port: int) -> None:
    """Serve POST (count it, answer 204) and GET /count on port until killed."""
    seen = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                seen[0] += 1
            self.send_response(204)
            self.end_headers()

        def do_GET(self):
            body = str(seen[0]).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    Server(("127.0.0.1", port), Handler).serve_forever()


def blast(url: str, count: int, start_at: float) -> None:
    """From wall time start_at, POST a 1 KiB JSON body count times to url, THREADS at a time, one connection
    each (as the worker does); print the wall time it finished."""
    parts = urlsplit(url)
    body = b'{"pad":"' + b"x" * 1000 + b'"}'

    def post(_):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("POST", parts.path, body=body, headers={"content-type": "application/json"})
        connection.getresponse().read()
        connection.close()

    time.sleep(max(start_at - time.time(), 0))
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(post, range(count)))
    print(time.time())


def received(port: int) -> int:
    """Return how many POSTs the receiver on port has taken."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/count")
    return int(connection.getresponse().read())


def setup(secret_key: str, url: str):
    """Return (app, merchant id, endpoint id): the demo merchant with one endpoint to url, enabled."""
    from app import create_app
    from app.config import Config
    from app.demo import WALLET
    from app.extensions import db
    from app.models import WebhookEndpoint
    from app.services import shops
    from app.webhooks import signing, vault

    app = create_app(Config(ENV="dev", DATABASE_URL=common.DB_URL, SECRET_KEY=secret_key,
                            INSTANCE_PATH="/tmp/tp-bench"))
    with app.app_context():
        merchant = shops.find_merchant(WALLET)
        endpoint = WebhookEndpoint(id="we_bench", merchant_id=merchant.id, url=url, events=["*"],
                                   secret_sealed=vault.seal(secret_key, signing.new_secret()))
        db.session.add(endpoint)
        db.session.commit()
        return app, merchant.id, endpoint.id


def deliveries_round(app, merchant_id: int, endpoint_id: str, events: int, port: int) -> float:
    """Record events for the endpoint in one commit; return deliveries per second from the first one received
    to the last (an idle worker polls once a second: that wait is latency, not throughput)."""
    from app.extensions import db
    from app.models import WebhookEndpoint
    from app.webhooks.events import record

    start_count = received(port)
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        for n in range(events):
            record(merchant_id, "webhook.test", {"n": n}, endpoints=[endpoint])
        db.session.commit()
    while (first := received(port)) == start_count:
        time.sleep(0.005)
    started = time.perf_counter()
    while received(port) < start_count + events:
        time.sleep(0.01)
    return (start_count + events - first) / (time.perf_counter() - started)


def floor_round(url: str, events: int) -> float:
    """Return plain POSTs per second to the receiver from two processes of THREADS threads."""
    start_at = time.time() + 2  # both processes booted before either starts
    blasters = [subprocess.Popen([sys.executable, __file__, "--blast", url, str(events // 2), str(start_at)],
                                 stdout=subprocess.PIPE, text=True) for _ in range(2)]
    finished = max(float(proc.communicate()[0]) for proc in blasters)
    return (events // 2 * 2) / (finished - start_at)


def set_enabled(app, endpoint_id: str, enabled: bool) -> None:
    """Subscribe (enabled) or unsubscribe the endpoint for the next round of orders."""
    from app.extensions import db
    from app.models import WebhookEndpoint

    with app.app_context():
        db.session.get(WebhookEndpoint, endpoint_id).enabled = enabled
        db.session.commit()


def spread(values: list[float]) -> str:
    """Return "median [min–max]" of values."""
    return f"{statistics.median(values):.2f} [{min(values):.2f}–{max(values):.2f}]"


def measure_deliveries(app, merchant_id, endpoint_id, port, url, env, rounds, events) -> None:
    """Print deliveries per second with two workers next to the bare-POST floor, rounds interleaved."""
    workers = [subprocess.Popen([str(TILLPOINT), "deliver"], env=env, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        deliveries_round(app, merchant_id, endpoint_id, 50, port)  # warm-up: the workers have started
        rates, floors = [], []
        for _ in range(rounds):
            rates.append(deliveries_round(app, merchant_id, endpoint_id, events, port))
            floors.append(floor_round(url, events))
    finally:
        common.stop(workers)
    ratios = [r / f for r, f in zip(rates, floors)]
    print(f"deliveries/s {spread(rates)}, floor {spread(floors)} bare POSTs/s (2 processes × {THREADS} threads)"
          f" (goal >= 100/s)")
    print(f"deliveries/floor {spread(ratios)} (goal >= 0.25)")


def measure_orders(app, endpoint_id, secret, rounds, seconds, tmp) -> None:
    """Print order creation with the endpoint subscribed / with none, in interleaved rounds."""
    proc, port = common.start_server("wsgi:app", common.ROOT, tmp / "orders.log")
    wrk = common.find_wrk()
    try:
        common.wait_ready(proc, f"http://127.0.0.1:{port}/healthz")
        rps = {True: [], False: []}
        for n in range(rounds * 2 + 1):
            subscribed = n % 2 == 1
            set_enabled(app, endpoint_id, subscribed)
            duration = 2 if n == 0 else max(3, seconds // rounds)
            result = (common.run_wrk(wrk, f"http://127.0.0.1:{port}/api/orders", secret, duration, tmp) if wrk
                      else common.run_asyncio(port, "/api/orders", secret, duration))
            if n:  # round 0 warms up
                rps[subscribed].append(result["rps"])
            if result["non2xx"] or not result["rps"]:
                print(f"FAILED (endpoint subscribed: {subscribed}): {result['non2xx']} non-2xx, {result['rps']} "
                      f"orders/s; socket errors: {result['socket_errors']}")
                errors = [ln for ln in (tmp / "orders.log").read_text().splitlines() if "Error" in ln]
                print("\n".join(errors[:3]))
    finally:
        common.stop([proc])
    ratios = [with_ / without for with_, without in zip(rps[True], rps[False]) if without]
    print(f"orders/s with an endpoint {spread(rps[True])}, without {spread(rps[False])} "
          f"({'wrk' if wrk else 'asyncio clients'})")
    print(f"orders with endpoint/without {spread(ratios) if ratios else 'n/a (a round completed no order)'} "
          "(goal >= 0.90)")


def main() -> int:
    """Prepare the database, start the receiver, run both measurements; return the exit status."""
    seconds = int(os.environ.get("BENCH_SECONDS", "10"))
    rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
    events = int(os.environ.get("BENCH_EVENTS", "1000"))
    secret = common.prepare_database()
    secret_key = secrets.token_urlsafe(48)
    port = common.free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    receiving = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    env = dict(os.environ, DATABASE_URL=common.DB_URL, SECRET_KEY=secret_key, TILLPOINT_ENV="dev", REDIS_URL="",
               TILLPOINT_INSTANCE="/tmp/tp-bench")
    try:
        common.wait_ready(receiving, f"http://127.0.0.1:{port}/count")
        app, merchant_id, endpoint_id = setup(secret_key, url)
        measure_deliveries(app, merchant_id, endpoint_id, port, url, env, rounds, events)
        os.environ["SECRET_KEY"] = secret_key  # the API server seals nothing, but runs with the same key
        with tempfile.TemporaryDirectory(prefix="tp-bench-") as tmpdir:
            measure_orders(app, endpoint_id, secret, rounds, seconds, Path(tmpdir))
    finally:
        common.stop([receiving])
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--receiver"]:
        receiver(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--blast"]:
        blast(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(main())
