"""Starting and talking to real processes: the tillpoint command, free ports, polling until something holds."""
from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

TILLPOINT = Path(sys.executable).with_name("tillpoint")


def free_ports(count: int) -> list[int]:
    """Return distinct free ports (all probes are held open together, so none is handed out twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def wait_for(condition, seconds: float = 30, every: float = 0.005):
    """Poll condition() until it returns something truthy; return that, or fail after seconds."""
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(every)
    return result


def watcher_env(database_url: str, chain, **extra) -> dict:
    """Return the environment for `tillpoint watch` on chain (no Redis unless extra says so)."""
    tokens = ",".join(f"{t.symbol}:{t.address}:{t.decimals}" for t in chain.tokens)
    return {**os.environ, "DATABASE_URL": database_url, "RPC_URL": chain.rpc_url, "CHAIN_ID": str(chain.chain_id),
            "CONFIRMATIONS": str(chain.confirmations), "DEPOSIT_FACTORY": chain.factory, "TOKENS": tokens,
            "START_BLOCK": str(chain.start_block), "REDIS_URL": "", **extra}


def call(url: str, key: str, body: dict | None = None) -> dict:
    """POST body (or GET) with the key; return the JSON answer, waiting for the server to boot."""
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", "Ocp-Apim-Subscription-Key": key})
    for _ in range(100):  # the workers may still be booting
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read(), parse_float=Decimal)
        except urllib.error.URLError:
            time.sleep(0.1)
    raise AssertionError("server never answered")
