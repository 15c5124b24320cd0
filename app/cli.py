"""The `tillpoint` command: dev | serve | watch | deliver | db upgrade | merchants create | keys create/revoke."""
from __future__ import annotations

import functools
import json
import logging
import socket
import sys

import click

from app import create_app
from app.config import Config, current_config
from app.errors import ApiError

logger = logging.getLogger(__name__)


def emit(as_json: bool, payload: dict, text: str) -> None:
    """Print one JSON object with --json, else a line for people."""
    click.echo(json.dumps(payload) if as_json else text)


def with_app(command):
    """Run command inside an app context; an ApiError becomes exit status 2 with its message."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        app = create_app(Config.from_env())
        with app.app_context():
            try:
                return command(*args, **kwargs)
            except ApiError as error:
                if kwargs.get("as_json"):
                    click.echo(json.dumps(error.to_dict()))
                else:
                    click.echo(f"error: {error.message}", err=True)
                sys.exit(2)

    return wrapper


@click.group()
def main() -> None:
    """Tillpoint, a self-hosted crypto-payments gateway."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--json", "as_json", is_flag=True)
def db_upgrade(as_json: bool) -> None:
    """Apply every pending migration."""
    from app import migrate

    url = Config.from_env().database_url()
    migrate.upgrade(url)
    emit(as_json, {"ok": True, "revision": "head"}, "database upgraded to head")


@main.group()
def merchants() -> None:
    """Merchants."""


@merchants.command("create")
@click.option("--wallet", required=True)
@click.option("--name", required=True)
@click.option("--split", "split_address", default=None,
              help="an existing split contract, checked on chain (payees, shares, code) before it is stored")
@click.option("--json", "as_json", is_flag=True)
@with_app
def merchants_create(wallet: str, name: str, split_address: str | None, as_json: bool) -> None:
    """Create a merchant for a wallet; a --split is first checked on chain, as POST /api/split does."""
    from app.services import shops, splits

    if split_address is not None:
        split_address = splits.verify_split(current_config().CHAIN, wallet, split_address)
    merchant = shops.create_merchant(wallet, name, split_address)
    emit(as_json, {"merchantId": merchant.id, "wallet": merchant.wallet, "name": merchant.name,
                   "split": merchant.split_address}, f"merchant {merchant.id} created for {merchant.wallet}")


@main.group()
def keys() -> None:
    """Subscription keys."""


@keys.command("create")
@click.option("--wallet", required=True, help="the merchant's wallet")
@click.option("--scopes", required=True, help="comma-separated, e.g. orders:create,receipts:read")
@click.option("--label", default="")
@click.option("--json", "as_json", is_flag=True)
@with_app
def keys_create(wallet: str, scopes: str, label: str, as_json: bool) -> None:
    """Create a key; its secret is printed once and never stored."""
    from app.errors import NotFound
    from app.services import keys as key_service
    from app.services import shops

    merchant = shops.find_merchant(wallet)
    if merchant is None:
        raise NotFound(f"no merchant with wallet {wallet}")
    key, secret = key_service.create_key(merchant, [s.strip() for s in scopes.split(",") if s.strip()], label)
    emit(as_json, {"key": secret, "keyId": key.id, "scopes": key.scopes}, f"key {key.id}: {secret}")


@keys.command("revoke")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True)
@with_app
def keys_revoke(key_id: str, as_json: bool) -> None:
    """Revoke a key by its id."""
    from app.services import keys as key_service

    key = key_service.revoke_key(key_id)
    emit(as_json, {"keyId": key.id, "revoked": True}, f"key {key.id} revoked")


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.option("--workers", default=2, type=int)
@click.option("--behind-proxy", is_flag=True,
              help="nginx (deploy/nginx.conf) is in front: allow a non-loopback --host and take the client address "
                   "from the last X-Forwarded-For hop")
def serve(host: str, port: int, workers: int, behind_proxy: bool) -> None:
    """Serve the API with gunicorn (gthread workers)."""
    from app.server import is_loopback, run_gunicorn

    if not is_loopback(host) and not behind_proxy:
        # gunicorn alone gives a thread to every connection: a few dozen slow clients take it down.
        raise click.UsageError(f"refusing to listen on {host}: gunicorn must not face the internet on its own; put "
                               "nginx in front (deploy/nginx.conf) and pass --behind-proxy, or listen on 127.0.0.1")
    run_gunicorn(host, port, workers, behind_proxy=behind_proxy)


@main.command()
def watch() -> None:
    """Follow the chain: record payments to deposit addresses and move orders (one active per chain)."""
    import signal

    from app.chain.identity import WrongChain
    from app.workers.runner import run_watcher

    config = Config.from_env()
    if not config.CHAIN.rpc_url:
        raise click.UsageError("RPC_URL is not set")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    app = create_app(config)
    with app.app_context():
        try:
            run_watcher(config, stop=lambda: bool(stopping))
        except KeyboardInterrupt:
            pass
        except WrongChain as error:
            click.echo(f"error: the watcher refuses to run: {error}", err=True)
            sys.exit(2)


@main.command()
def deliver() -> None:
    """Send webhook deliveries and retry failed ones until SIGTERM (any number on PostgreSQL, one on SQLite)."""
    import signal

    from app.workers.runner import run_deliverer

    config = Config.from_env()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    app = create_app(config)
    with app.app_context():
        try:
            run_deliverer(config, stop=lambda: bool(stopping))
        except KeyboardInterrupt:
            pass


@main.command()
@click.option("--port", default=8000, type=int, help="preferred port; a free one is used if it is taken")
def dev(port: int) -> None:
    """Run the whole product locally: dev chain, contracts, demo merchant, server, watcher and webhook worker."""
    from app import devstack

    devstack.run(port if port and port_is_free(port) else free_port())


@main.command("simulate-payment")
@click.argument("receipt_id")
@click.option("--token", default="USDC", help="a token the order was quoted in")
@click.option("--amount", type=int, default=None, help="base units (default: exactly the quote)")
@click.option("--json", "as_json", is_flag=True)
def simulate_payment(receipt_id: str, token: str, amount: int | None, as_json: bool) -> None:
    """Pay an order on the dev chain from the demo shopper's account (reads instance/dev.env)."""
    from app import devstack

    try:
        sent = devstack.simulate_payment(receipt_id, token, amount)
    except ApiError as error:
        emit(as_json, error.to_dict(), f"error: {error.message}")
        sys.exit(2)
    emit(as_json, sent, f"sent {sent['amount']} {sent['token']} to {sent['to']} in {sent['txHash']}")


def port_is_free(port: int) -> bool:
    """Return True if 127.0.0.1:port can be bound now."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a port the OS reports free on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
