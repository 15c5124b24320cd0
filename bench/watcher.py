"""Benchmark the chain watcher: 10,000 USDC payments in 1,000 blocks against raw eth_getLogs, and detection latency.

Run with `make bench`. Prints figures and goals and exits 0 whether goals are met or not; 1 when a step fails,
including a payment missing from (or doubled in) the database. BENCH_PROFILE=file.prof profiles the tick loop.
"""
from __future__ import annotations

import cProfile
import os
import pstats
import random
import secrets
import statistics
import sys
import threading
import time
from collections import Counter

import psycopg
import requests

from app import create_app
from app.chain import devchain
from app.chain.client import make_web3
from app.chain.events import TRANSFER_TOPIC
from app.workers.watcher import ADDRESS_CHUNK, Watcher
from app.config import Config
from app.demo import WALLET, seed
from app.migrate import upgrade
from app.services import orders, shops

DB_NAME = "tillpoint_bench_watcher"
DB_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
PG = f"host=127.0.0.1 user=postgres dbname={DB_NAME}"
ORDERS, BLOCKS, PER_BLOCK, LATENCY_SAMPLES, CONFIRMATIONS = 1_000, 1_000, 10, 10, 2
PAYMENTS = BLOCKS * PER_BLOCK
SESSION = requests.Session()


def rpc(url: str, method: str, *params):
    """Return the result of one raw JSON-RPC call; raises RuntimeError on an error reply."""
    reply = SESSION.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                         timeout=30).json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def rpc_batch(url: str, calls: list[tuple[str, list]]) -> list:
    """Send calls as one JSON-RPC batch; return the results in order; raises RuntimeError on any error."""
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    replies = sorted(SESSION.post(url, json=body, timeout=30).json(), key=lambda r: r["id"])
    if errors := [r["error"] for r in replies if "error" in r]:
        raise RuntimeError(f"batch: {len(errors)} errors, first {errors[0]}")
    return [r["result"] for r in replies]


def prepare_database() -> None:
    """Create tillpoint_bench_watcher if missing, reset its schema and migrate it."""
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    upgrade(DB_URL)


def build_config(url: str, contracts: devchain.DevContracts, platform: str) -> Config:
    """Return the dev-chain Config (USDC, USDT, ETH feed) with the watcher starting at the current head."""
    return Config.from_env(devchain.dev_settings(url, contracts, platform, operator_key="") | {
        "DATABASE_URL": DB_URL, "TILLPOINT_INSTANCE": "/tmp/tp-bench-watcher", "SECRET_KEY": secrets.token_urlsafe(48),
        "START_BLOCK": str(int(rpc(url, "eth_blockNumber"), 16)), "CONFIRMATIONS": str(CONFIRMATIONS)})


def create_orders(app, config: Config, count: int) -> list[tuple[str, int, str]]:
    """Create orders as POST /api/orders does; return (deposit address, USDC quote, receipt id) of each."""
    settings = orders.OrderSettings.from_config(config)
    cart = orders.OrderRequest(items=[{"sku": "FOOD-001", "qty": 1}], jurisdiction_code="US-CA",
                               tax_rate=None, tax_components=None)
    with app.app_context():
        merchant, created = shops.find_merchant(WALLET), []
        for _ in range(count):
            order, _ = orders.create_order(merchant, cart, settings, actor="bench")
            usdc = next(q for q in order.quotes if q.symbol == "USDC")
            created.append((order.deposit_address, usdc.amount_base_units, order.receipt_id))
    return created


def transfer_tx(shopper: str, usdc: str, to: str, amount: int, nonce: int | None = None) -> dict:
    """Return eth_sendTransaction params for USDC transfer(to, amount) from the shopper."""
    data = "0xa9059cbb" + to.lower().removeprefix("0x").rjust(64, "0") + f"{amount:064x}"
    return {"from": shopper, "to": usdc, "gas": hex(100_000), "data": data} | (
        {"nonce": hex(nonce)} if nonce is not None else {})


def send_payments(url: str, shopper: str, usdc: str, created: list[tuple[str, int, str]]) -> float:
    """Mine BLOCKS blocks of PER_BLOCK transfers, each order paid 10 times 100 blocks apart; return seconds.

    A payment is a tenth of the quote plus one base unit, so the tenth one pays the order in full.
    """
    nonce = int(rpc(url, "eth_getTransactionCount", shopper, "latest"), 16)
    rpc(url, "evm_setAutomine", False)
    start = time.perf_counter()
    try:
        for block in range(BLOCKS):
            payees = [created[(block * PER_BLOCK + slot) % len(created)] for slot in range(PER_BLOCK)]
            rpc_batch(url, [("eth_sendTransaction", [transfer_tx(shopper, usdc, to, quote // 10 + 1, nonce + i)])
                            for i, (to, quote, _) in enumerate(payees)])
            nonce += PER_BLOCK
            rpc(url, "evm_mine")
        rpc(url, "anvil_mine", CONFIRMATIONS)
    finally:
        rpc(url, "evm_setAutomine", True)
    return time.perf_counter() - start


def baseline(url: str, usdc: str, addresses: list[str], first: int, last: int, chunk: int) -> tuple[int, int, float]:
    """Get and hand-decode the USDC Transfers to addresses, chunked as the watcher does; return (logs, blocks, s)."""
    topics = ["0x" + "00" * 12 + a.lower().removeprefix("0x") for a in addresses]
    start, decoded = time.perf_counter(), []
    for low in range(first, last + 1, chunk):
        for i in range(0, len(topics), ADDRESS_CHUNK):
            query = {"fromBlock": hex(low), "toBlock": hex(min(last, low + chunk - 1)), "address": [usdc],
                     "topics": [TRANSFER_TOPIC, None, topics[i:i + ADDRESS_CHUNK]]}
            decoded += [(log["transactionHash"], int(log["logIndex"], 16), int(log["blockNumber"], 16),
                         "0x" + log["topics"][1][26:], "0x" + log["topics"][2][26:], int(log["data"], 16))
                        for log in rpc(url, "eth_getLogs", query)]
    return len(decoded), len({d[2] for d in decoded}), time.perf_counter() - start


def count_rpcs(w3) -> Counter:
    """Count w3's HTTP requests from now on: by method, batches also by the calls in them."""
    counts, provider = Counter(), w3.provider
    single, batch = provider._make_request, provider.make_batch_request

    def counted_single(method, data):
        counts[method] += 1
        return single(method, data)

    def counted_batch(calls):
        counts["batch requests"] += 1
        counts.update(f"batched {method}" for method, _ in calls)
        return batch(calls)

    provider._make_request, provider.make_batch_request = counted_single, counted_batch
    return counts


def run_ticks(app, config: Config, blocks: int) -> tuple[float, int, Counter]:
    """Tick a fresh watcher until it has processed `blocks` blocks; return (seconds, ticks, RPC counts)."""
    with app.app_context():
        w3 = make_web3(config.CHAIN.rpc_url)
        counts, watcher = count_rpcs(w3), Watcher(w3, config.CHAIN)
        profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        start, done, ticks = time.perf_counter(), 0, 0
        if profiler:
            profiler.enable()
        while done < blocks:
            if (processed := watcher.tick()) == 0:
                raise RuntimeError(f"watcher stalled after {done} of {blocks} blocks")
            done, ticks = done + processed, ticks + 1
        elapsed = time.perf_counter() - start
    if profiler:
        profiler.disable()
        profiler.dump_stats(os.environ["BENCH_PROFILE"])
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return elapsed, ticks, counts


def db_payments() -> tuple[int, int, dict[str, int]]:
    """Return (payment rows, distinct (tx hash, log index) pairs, orders per status)."""
    with psycopg.connect(PG) as conn:
        rows, distinct = conn.execute("SELECT count(*), count(DISTINCT (tx_hash, log_index)) FROM payments").fetchone()
        return rows, distinct, dict(conn.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall())


def wait_until(check, seconds: float, every: float) -> float:
    """Poll check() every `every` s until it is truthy; return that monotonic time; raises on timeout."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(every)
    raise RuntimeError(f"timed out after {seconds}s")


def measure_latency(app, config: Config, url: str, shopper: str, usdc: str) -> list[float]:
    """With 1 s interval mining and Watcher.run in a thread, return seconds from each payment mined to pending."""
    fresh, stop, samples = create_orders(app, config, LATENCY_SAMPLES), threading.Event(), []

    def watch() -> None:
        with app.app_context():
            Watcher(make_web3(url), config.CHAIN).run(stop.is_set, 1.0)

    rpc(url, "evm_setIntervalMining", 1)
    thread = threading.Thread(target=watch, name="watcher")
    thread.start()
    try:
        with psycopg.connect(PG, autocommit=True) as conn:
            for address, quote, receipt_id in fresh:
                time.sleep(random.uniform(0.1, 1.5))
                tx = rpc(url, "eth_sendTransaction", transfer_tx(shopper, usdc, address, quote))
                mined = wait_until(lambda tx=tx: rpc(url, "eth_getTransactionReceipt", tx), 10, 0.01)
                seen = wait_until(lambda rid=receipt_id: conn.execute(
                    "SELECT 1 FROM orders WHERE receipt_id = %s AND status IN ('pending', 'paid')", (rid,)).fetchone(),
                    30, 0.02)
                samples.append(seen - mined)
    finally:
        stop.set()
        thread.join(15)
        rpc(url, "evm_setIntervalMining", 0)
    if thread.is_alive():
        raise RuntimeError("watcher thread did not stop")
    return samples


def report(f: dict) -> None:
    """Print the table, the watcher's requests per tick and the goals."""
    ratio, p50, worst = f["watcher_rate"] / f["baseline_rate"], statistics.median(f["latency"]), max(f["latency"])
    print(f"\n{'step':<46}{'seconds':>9}{'per second':>12}")
    for name, seconds, rate, unit in (
            (f"create {ORDERS:,} orders (service layer)", f["orders_s"], ORDERS / f["orders_s"], "orders"),
            (f"send {PAYMENTS:,} payments in {BLOCKS:,} blocks", f["send_s"], PAYMENTS / f["send_s"], "tx"),
            ("baseline: raw eth_getLogs + hand decode", f["baseline_s"], f["baseline_rate"], "logs"),
            ("watcher: tick() until the cursor is at head", f["watcher_s"], f["watcher_rate"], "payments")):
        print(f"{name:<46}{seconds:>9.3f}{rate:>12,.0f} {unit}/s")
    print(f"\nwatcher HTTP requests per tick ({f['ticks']} ticks, chunk {f['chunk']} blocks):")
    for method, n in sorted(f["rpcs"].items()):
        print(f"  {method:<40}{n / f['ticks']:>8.1f}")
    print(f"\nratio (watcher payments/s / baseline logs/s): {ratio:.3f}; "
          f"goal >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'}")
    print(f"latency mined -> pending ({len(f['latency'])} payments): p50 {p50:.2f} s, max {worst:.2f} s "
          f"[{', '.join(f'{s:.2f}' for s in f['latency'])}]")
    print(f"goal latency <= 2 s (1 block + 1 poll): {'met' if worst <= 2.0 else 'NOT met'}")


def measure(url: str, contracts: devchain.DevContracts) -> int:
    """Run every phase on a started chain; print the figures; return the exit status."""
    accounts = rpc(url, "eth_accounts")
    shopper, config = accounts[devchain.SHOPPER], build_config(url, contracts, accounts[devchain.PLATFORM])
    seed(config, split=contracts.split)
    app, start = create_app(config), time.perf_counter()
    created = create_orders(app, config, ORDERS)
    f = {"orders_s": time.perf_counter() - start, "chunk": config.CHAIN.watch_chunk}
    print(f"{ORDERS:,} orders in {f['orders_s']:.1f} s; sending payments…", flush=True)
    f["send_s"] = send_payments(url, shopper, contracts.usdc, created)
    first, head = config.CHAIN.start_block + 1, int(rpc(url, "eth_blockNumber"), 16)
    runs = sorted((baseline(url, contracts.usdc, [c[0] for c in created], first, head, f["chunk"]) for _ in range(3)),
                  key=lambda run: run[2])
    logs, blocks_with_logs, f["baseline_s"] = runs[1]  # the median of three
    if (logs, blocks_with_logs) != (PAYMENTS, BLOCKS):
        raise RuntimeError(f"expected {PAYMENTS} logs in {BLOCKS} blocks, the chain has {logs} in {blocks_with_logs}")
    f["baseline_rate"] = logs / f["baseline_s"]
    print("baseline done; running the watcher…", flush=True)
    f["watcher_s"], f["ticks"], f["rpcs"] = run_ticks(app, config, head - first + 1)
    rows, distinct, statuses = db_payments()
    print(f"payments in the database: {rows:,} ({distinct:,} distinct); orders by status: {statuses}")
    if rows != distinct or rows != PAYMENTS:
        print(f"FAILED: expected {PAYMENTS:,} payments, found {rows:,} ({distinct:,} distinct)")
        return 1
    f["watcher_rate"] = rows / f["watcher_s"]
    print("measuring detection latency with 1 s blocks…", flush=True)
    f["latency"] = measure_latency(app, config, url, shopper, contracts.usdc)
    report(f)
    return 0


def main() -> int:
    """Start anvil, deploy, prepare the database, measure; always stop anvil."""
    proc, url = devchain.start_anvil()
    try:
        contracts = devchain.deploy_dev_contracts(make_web3(url))
        prepare_database()
        return measure(url, contracts)
    finally:
        devchain.stop(proc)


if __name__ == "__main__":
    sys.exit(main())
