"""Benchmark POST /api/orders against a bare Flask JSON endpoint on the same gunicorn stack.

Run with `make bench`; BENCH_SECONDS sets the measured duration (default 10).
Importing this module only builds `bare_app`, the baseline gunicorn loads as `orders:bare_app`.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from flask import Flask, jsonify, request

bare_app = Flask("bare")


@bare_app.post("/bare")
def bare():
    """Parse the JSON body and answer a small JSON object, touching no database."""
    body = request.get_json()
    return jsonify(ok=True, lines=len(body.get("items", [])))


ROOT = Path(__file__).resolve().parent.parent
DB_NAME = os.environ.get("BENCH_DB", "tillpoint_bench")  # another name lets two benchmarks run side by side
DB_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
BODY = '{"items":[{"sku":"COFFEE-001","qty":2},{"sku":"PASTRY-001","qty":1}],"jurisdictionCode":"US-CA"}'
CLIENTS = 50
SPLIT = "0x" + "51" * 20
# Deposit addresses and stablecoin quotes are computed offline on every order; no RPC, so no ETH quote.
CHAIN_OFFLINE = {"DEPOSIT_FACTORY": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                 "TOKENS": "USDC:0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512:6,"
                           "USDT:0x9fE46736679d2D9a65F0992F68e72f53B13A3F47:6"}
GUNICORN = ["--workers", "2", "--worker-class", "gthread", "--threads", "4", "--bind"]


def prepare_database() -> str:
    """Create tillpoint_bench if missing, reset its schema, migrate, seed; return an all-scope key secret."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={DB_NAME}", autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    from app.config import Config
    from app.demo import seed
    from app.migrate import upgrade

    upgrade(DB_URL)
    env = {"DATABASE_URL": DB_URL, "TILLPOINT_INSTANCE": "/tmp/tp-bench", "SECRET_KEY": secrets.token_urlsafe(48)}
    return seed(Config.from_env(env), split=SPLIT)


def count_orders() -> int:
    """Return how many orders the benchmark database holds."""
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={DB_NAME}") as conn:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(target: str, chdir: Path, log: Path) -> tuple[subprocess.Popen, int]:
    """Start gunicorn serving target from chdir on a free port; stderr goes to log."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=DB_URL, TILLPOINT_INSTANCE="/tmp/tp-bench", PYTHONDONTWRITEBYTECODE="1",
               RATE_LIMIT="100000000 per minute", **CHAIN_OFFLINE)  # measure the work, not the limiter
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(48))  # production mode refuses to start without one
    cmd = [sys.executable, "-m", "gunicorn", *GUNICORN, f"127.0.0.1:{port}", "--chdir", str(chdir), target]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    return proc, port


def wait_ready(proc: subprocess.Popen, url: str, method: str = "GET", timeout: float = 30) -> None:
    """Block until url answers 200; raises RuntimeError if the server dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            data = BODY.encode() if method == "POST" else None
            req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready in {timeout}s")


def find_wrk() -> str | None:
    """Return the wrk path, installing it with apt-get when missing and running as root."""
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found; trying apt-get install -y wrk", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet).returncode != 0:
            subprocess.run(["apt-get", "update"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet)
    return shutil.which("wrk")


def to_ms(value: str, unit: str) -> float:
    """Convert a wrk duration (us, ms, s, m) to milliseconds."""
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(wrk: str, url: str, secret: str, seconds: int, tmp: Path) -> dict:
    """Run wrk POSTing BODY to url with 50 keep-alive connections; return rps, p50, p99 and errors."""
    lua = tmp / "post.lua"
    lua.write_text(f"wrk.method = 'POST'\nwrk.body = '{BODY}'\n"
                   "wrk.headers['Content-Type'] = 'application/json'\n"
                   f"wrk.headers['Ocp-Apim-Subscription-Key'] = '{secret}'\n")
    cmd = [wrk, "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "--latency", "-s", str(lua), url]
    return parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def parse_wrk(out: str) -> dict:
    """Return rps, p50, p99 (ms), requests, non-2xx count and socket errors from wrk --latency output."""
    pct = {p: to_ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    sent = re.search(r"(\d+) requests in", out)
    if rps is None or len(pct) != 2:
        raise RuntimeError(f"could not parse wrk output:\n{out}")
    return {"rps": float(rps.group(1)), "p50": pct["50"], "p99": pct["99"], "requests": int(sent.group(1)),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": sock.group(1) if sock else ""}


async def _client(port: int, raw: bytes, deadline: float, latencies: list, statuses: list) -> None:
    """One keep-alive connection sending raw until deadline, recording latency and status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        writer.write(raw)
        status, length, close = int((await reader.readline()).split()[1]), 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            length = int(value) if name.lower() == b"content-length" else length
            close = close or (name.lower() == b"connection" and b"close" in value.lower())
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
        statuses.append(status)
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def run_asyncio(port: int, path: str, secret: str, seconds: int) -> dict:
    """Fallback load generator: 50 asyncio keep-alive clients (may be client-bound)."""
    raw = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           f"Ocp-Apim-Subscription-Key: {secret}\r\nContent-Length: {len(BODY)}\r\n\r\n{BODY}").encode()
    latencies: list[float] = []
    statuses: list[int] = []

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(_client(port, raw, deadline, latencies, statuses) for _ in range(CLIENTS)))

    start = time.perf_counter()
    asyncio.run(main())
    elapsed, ordered = time.perf_counter() - start, sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"rps": len(ordered) / elapsed, "p50": pick(0.50), "p99": pick(0.99), "requests": len(ordered),
            "non2xx": sum(1 for s in statuses if not 200 <= s < 300), "socket_errors": ""}


def report(results: dict[str, dict]) -> bool:
    """Print the table, the ratio and the goals; return False if any run saw non-2xx responses."""
    print(f"\n{'endpoint':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, r in results.items():
        print(f"{name:<10}{r['rps']:>10.1f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['non2xx']:>10}")
        if r["socket_errors"]:
            print(f"  {name} socket errors: {r['socket_errors']}")
    ratio = results["orders"]["rps"] / results["bare"]["rps"]
    print(f"\nratio (orders / bare throughput): {ratio:.2f}")
    print(f"goal ratio >= 0.60: {'met' if ratio >= 0.6 else 'NOT met'}")
    print(f"goal orders p99 < 50 ms at {CLIENTS} clients: {'met' if results['orders']['p99'] < 50 else 'NOT met'}")
    failed = [name for name, r in results.items() if r["non2xx"]]
    for name in failed:
        print(f"FAILED: {name} returned {results[name]['non2xx']} non-2xx responses")
    return not failed


def load_both(targets: dict, wrk: str | None, secret: str, seconds: int, tmp: Path) -> tuple[dict, int, bool]:
    """Warm up then measure each target; return measured results, orders completed, and warm-up success."""
    results, completed, warm_ok = {}, 0, True
    for phase, duration in (("warm-up", 2), ("measure", seconds)):
        for name, (port, path) in targets.items():
            print(f"{phase}: {name} for {duration}s", flush=True)
            results[name] = (run_wrk(wrk, f"http://127.0.0.1:{port}{path}", secret, duration, tmp)
                             if wrk else run_asyncio(port, path, secret, duration))
            completed += results[name]["requests"] if name == "orders" else 0
            if phase == "warm-up" and results[name]["non2xx"]:
                print(f"FAILED: warm-up {name} returned {results[name]['non2xx']} non-2xx responses")
                warm_ok = False
    return results, completed, warm_ok


def stop(procs: list[subprocess.Popen]) -> None:
    """Terminate the servers, killing any that do not exit within 15 s."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    """Prepare, serve, load both endpoints, report; return the exit status."""
    seconds = int(os.environ.get("BENCH_SECONDS", "10"))
    secret = prepare_database()
    wrk = find_wrk()
    print(f"load generator: {wrk or 'python asyncio (wrk unavailable; figures may be client-bound)'}")
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tp-bench-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            targets = {}
            for name, target, chdir, path, ready in (("orders", "wsgi:app", ROOT, "/api/orders", "/healthz"),
                                                     ("bare", "orders:bare_app", ROOT / "bench", "/bare", "/bare")):
                proc, port = start_server(target, chdir, tmp / f"{name}.log")
                procs.append(proc)
                wait_ready(proc, f"http://127.0.0.1:{port}{ready}", method="POST" if name == "bare" else "GET")
                targets[name] = (port, path)
            results, completed, warm_ok = load_both(targets, wrk, secret, seconds, tmp)
            ok = report(results) and warm_ok
        finally:
            stop(procs)
        errors = [ln for ln in (tmp / "orders.log").read_text().splitlines() if "Traceback" in ln or "ERROR" in ln]
        if errors:
            print(f"app server log: {len(errors)} error lines, first: {errors[0]}")
    print(f"orders rows in {DB_NAME}: {count_orders()} "
          f"(completed per load generator: {completed}; wrk leaves up to {CLIENTS} per run in flight uncounted)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
