"""`tillpoint dev`: anvil with our contracts, the demo merchant, the API server, the watcher and the webhook
worker, together."""
from __future__ import annotations

import fcntl
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from eth_account import Account
from sqlalchemy import select
from web3 import Web3

from app import create_app, demo, migrate
from app.chain import devchain
from app.config import Config, child_environment, read_env_file
from app.errors import InvalidInput, NotFound
from app.extensions import db

DEV_ENV_FILE = "dev.env"
LOCK_FILE = "dev.lock"
STOP_SECONDS = 4.0  # Ctrl-C stops everything within 5 s


def operator_account():
    """Return anvil's dev account 0 (platform payee and operator) with its private key."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(devchain.DEV_MNEMONIC, account_path="m/44'/60'/0'/0/0")


def run(port: int) -> None:
    """Start everything, print the URL and key, and supervise until Ctrl-C or a child exits; raises
    click.ClickException when another `tillpoint dev` runs with the same instance folder."""
    base = Config.from_env()
    instance = Path(base.INSTANCE_PATH)
    instance.mkdir(parents=True, exist_ok=True)
    lock = _hold_instance(instance, port)  # before anything: a running demo's database and dev.env stay its own
    signal.signal(signal.SIGTERM, _interrupt)  # a plain `kill` cleans up like Ctrl-C does
    anvil, url = devchain.start_anvil("--block-time", "1")
    children = [anvil]
    try:
        settings = _dev_settings(url, base, instance)
        config = Config.from_env(child_environment(settings))
        migrate.upgrade(config.database_url())
        secret = demo.seed(config, split=settings["DEMO_SPLIT"])
        click.echo(f"Server: http://127.0.0.1:{port}")
        click.echo(f"API key: {secret}")
        click.echo(f"Merchant wallet: {demo.WALLET}   Dev chain: {url} (chain id 31337)")
        click.echo("Pay an order: .venv/bin/tillpoint simulate-payment <receiptId> [--token USDC|USDT|ETH]")
        sys.stdout.flush()
        env = child_environment(settings)
        for command in (["watch"], ["deliver"], ["serve", "--port", str(port)]):
            children.append(subprocess.Popen([_tillpoint(), *command], env=env,
                                             preexec_fn=devchain.die_with_parent))
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        _stop_all(children)
        lock.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _hold_instance(instance: Path, port: int):
    """Return the open, exclusively locked instance/dev.lock naming this run; raises click.ClickException naming
    the running one when another process holds it. The OS drops the lock when its holder dies, however it dies."""
    lock = (instance / LOCK_FILE).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        running = lock.read().strip() or "another process"
        lock.close()
        raise click.ClickException(
            f"tillpoint dev is already running with the instance folder {instance}: {running}. Stop it first "
            f"(Ctrl-C in its terminal), or give this one its own folder: TILLPOINT_INSTANCE=/tmp/demo2 tillpoint dev"
        ) from None
    lock.truncate(0)
    lock.write(f"pid {os.getpid()}, server http://127.0.0.1:{port}\n")
    lock.flush()
    return lock


def _stop_all(children: list[subprocess.Popen]) -> None:
    """Stop every child at once (not one after another), each killed if it is not gone within STOP_SECONDS."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for child in reversed(children):
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _dev_settings(url: str, base: Config, instance: Path) -> dict[str, str]:
    """Deploy the dev contracts, and write the settings to instance/dev.env for simulate-payment."""
    contracts = devchain.deploy_dev_contracts(Web3(Web3.HTTPProvider(url)))
    operator = operator_account()
    settings = devchain.dev_settings(url, contracts, operator.address, operator.key.to_0x_hex())
    if not base.DATABASE_URL:  # a fresh chain every run, so a fresh demo database too
        (instance / "demo.db").unlink(missing_ok=True)
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'demo.db'}"
    settings["DEMO_SPLIT"] = contracts.split
    # Plain-HTTP cookies on 127.0.0.1, and one session key shared by the server's workers.
    settings.update(TILLPOINT_ENV="dev", SECRET_KEY=base.SECRET_KEY or secrets.token_urlsafe(48))
    (instance / DEV_ENV_FILE).write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return settings


def _tillpoint() -> str:
    return str(Path(sys.executable).with_name("tillpoint"))


def simulate_payment(receipt_id: str, token: str, amount: int | None) -> dict:
    """Send the order's quoted amount (or amount) of token from the dev shopper; return the transfer."""
    from app.models import Order

    base = Config.from_env()
    env_file = Path(base.INSTANCE_PATH) / DEV_ENV_FILE
    if not env_file.exists():
        raise NotFound(f"{env_file} not found: start `tillpoint dev` first")
    config = Config.from_env(child_environment(read_env_file(env_file)))
    with create_app(config).app_context():
        order = db.session.scalar(select(Order).where(Order.receipt_id == receipt_id))
        if order is None:
            raise NotFound(f"No receipt {receipt_id}")
        quote = next((q for q in order.quotes if q.symbol == token), None)
        if quote is None:
            raise InvalidInput(f"{receipt_id} has no {token} quote; it has {[q.symbol for q in order.quotes]}")
        return _send(config, order.deposit_address, quote, amount or quote.amount_base_units)


def _send(config: Config, to: str, quote, amount: int) -> dict:
    w3 = Web3(Web3.HTTPProvider(config.CHAIN.rpc_url))
    shopper = w3.eth.accounts[devchain.SHOPPER]
    if quote.token_address is None:
        tx = w3.eth.send_transaction({"from": shopper, "to": to, "value": amount, "gas": 21_000})
    else:
        erc20 = w3.eth.contract(address=quote.token_address, abi=devchain.load_artifact("MockERC20")["abi"])
        tx = erc20.functions.transfer(to, amount).transact({"from": shopper})
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.1)
    return {"txHash": receipt.transactionHash.to_0x_hex(), "token": quote.symbol, "amount": str(amount), "to": to,
            "status": receipt.status}
