"""The local dev chain for `tillpoint dev` and the tests: anvil from npm, our contracts and test mocks.

Mocks (tokens, price feed) stand in for mainnet contracts that cannot exist on a local chain.
"""
from __future__ import annotations

import ctypes
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from web3 import Web3

from app.chain.contracts import load_artifact

ROOT = Path(__file__).resolve().parents[2]
DEV_MNEMONIC = "test test test test test test test test test test test junk"
PLATFORM, MERCHANT, SHOPPER = 0, 1, 2  # anvil dev account indexes and their roles
ETH_USD = 3000 * 10**8
SHOPPER_TOKENS = 1_000_000 * 10**6


class DevChainError(RuntimeError):
    """anvil is missing or did not start."""


def anvil_binary() -> Path:
    """Return the platform anvil binary npm installed; raises DevChainError if `npm ci` was not run."""
    found = sorted(ROOT.glob("node_modules/@foundry-rs/anvil-*/bin/anvil*"))
    if not found:
        raise DevChainError("anvil not found under node_modules/@foundry-rs: run `npm ci` in the repo root")
    return found[0]


def die_with_parent() -> None:
    """In a child process: receive SIGTERM when the parent dies (Linux PR_SET_PDEATHSIG), never orphaned."""
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)


def start_anvil(*extra: str) -> tuple[subprocess.Popen, str]:
    """Start anvil on a free loopback port; return the process and its URL once it answers."""
    proc = subprocess.Popen([str(anvil_binary()), "--host", "127.0.0.1", "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=die_with_parent)
    url = None
    for line in proc.stdout:
        if match := re.search(r"Listening on (\S+):(\d+)", line):
            url = f"http://{match[1]}:{match[2]}"
            break
    if url is None:
        raise DevChainError(f"anvil exited with {proc.wait(5)} before listening")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # keep the pipe drained
    _wait_until_answering(url)
    return proc, url


def _wait_until_answering(url: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise DevChainError(f"anvil at {url} did not answer") from None
            time.sleep(0.02)


def stop(proc: subprocess.Popen) -> None:
    """Stop a child process politely, then firmly."""
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def deploy(w3: Web3, name: str, *args, sender: str):
    """Deploy artifact name from an unlocked dev account; return the contract."""
    artifact = load_artifact(name)
    tx = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(*args).transact(
        {"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.05)
    if receipt.status != 1:
        raise DevChainError(f"deploying {name} failed")
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"])


@dataclass(frozen=True)
class DevContracts:
    usdc: str
    usdt: str
    feed: str
    factory: str
    split: str


def deploy_dev_contracts(w3: Web3, platform_share_bps: int = 100) -> DevContracts:
    """Deploy mock USDC/USDT and ETH/USD feed, the factory and the demo merchant's split; fund the shopper."""
    accounts = w3.eth.accounts
    platform, merchant, shopper = accounts[PLATFORM], accounts[MERCHANT], accounts[SHOPPER]
    usdc = deploy(w3, "MockERC20", "USD Coin (dev mock)", "USDC", 6, sender=platform)
    usdt = deploy(w3, "NoReturnToken", sender=platform)
    feed = deploy(w3, "MockV3Aggregator", 8, ETH_USD, sender=platform)
    factory = deploy(w3, "DepositFactory", sender=platform)
    split = deploy(w3, "Split", [merchant, platform], [10_000 - platform_share_bps, platform_share_bps],
                   sender=platform)
    for token in (usdc, usdt):
        w3.eth.wait_for_transaction_receipt(token.functions.mint(shopper, SHOPPER_TOKENS).transact({"from": platform}))
    return DevContracts(usdc.address, usdt.address, feed.address, factory.address, split.address)


def dev_settings(url: str, contracts: DevContracts, platform: str, operator_key: str) -> dict[str, str]:
    """Return the environment variables that point Tillpoint at the dev chain."""
    return {"RPC_URL": url, "CHAIN_ID": "31337", "NETWORK_NAME": "Anvil dev chain", "CONFIRMATIONS": "2",
            "DEPOSIT_FACTORY": contracts.factory, "ETH_USD_FEED": contracts.feed,
            "TOKENS": f"USDC:{contracts.usdc}:6,USDT:{contracts.usdt}:6", "START_BLOCK": "0",
            "PLATFORM_PAYEE": platform, "OPERATOR_PRIVATE_KEY": operator_key,
            "PRICE_MAX_AGE": str(10 * 365 * 24 * 3600)}  # the mock feed is never refreshed
