"""The watcher knows which chain it is on: another chain behind the RPC is refused, a lagging node waited for."""
from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from app import create_app
from app.chain import devchain
from app.chain.client import make_web3
from app.chain.identity import WrongChain
from app.extensions import db
from app.models import ChainCursor, Payment
from app.workers.watcher import Watcher
from tests.helpers.chain import CONFIRMATIONS, mine, pay_token, quote
from tests.helpers.processes import TILLPOINT, watcher_env


@pytest.fixture
def paid_and_watched(w3, accounts, contracts, new_order, watch):
    """An order paid in USDC and watched past its confirmations: a cursor and a payment are stored."""
    receipt = new_order()
    paid = pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    mine(w3, CONFIRMATIONS)
    assert watch(receipt["receiptId"])["status"] == "paid"
    return paid.blockNumber


def other_anvil(*extra: str):
    """Start another anvil (the dev chain restarted, a fork, a lagging node); yield its URL; stop it."""
    proc, url = devchain.start_anvil(*extra)
    try:
        yield url
    finally:
        devchain.stop(proc)


@pytest.fixture
def restarted_chain():
    """A fresh anvil with the same chain id (31337) and another genesis block: the dev chain restarted."""
    yield from other_anvil("--timestamp", "1000")


def stored(chain_app) -> tuple[int, int]:
    with chain_app.app_context():
        return (db.session.scalar(select(ChainCursor.block_number)),
                db.session.scalar(select(func.count()).select_from(Payment)))


def test_watcher_refuses_an_rpc_that_now_serves_another_chain(chain_app, chain_settings, paid_and_watched,
                                                              restarted_chain):
    before = stored(chain_app)
    with chain_app.app_context():
        watcher = Watcher(make_web3(restarted_chain), replace(chain_settings, rpc_url=restarted_chain))
        with pytest.raises(WrongChain, match="genesis"):
            watcher.tick()
    assert stored(chain_app) == before, "nothing rolled back, the cursor where it was"


def test_watcher_refuses_an_rpc_with_another_chain_id(chain_app, chain_settings, paid_and_watched):
    with chain_app.app_context():
        watcher = Watcher(make_web3(chain_settings.rpc_url), replace(chain_settings, chain_id=8453))
        with pytest.raises(WrongChain, match="8453"):
            watcher.tick()


def test_healthz_reports_an_rpc_serving_another_chain(app, chain_settings, paid_and_watched, restarted_chain):
    server = create_app(app.config["TILLPOINT"].with_overrides(CHAIN=replace(chain_settings, rpc_url=restarted_chain)))
    chain = server.test_client().get("/healthz").json["chain"]
    assert chain["rpc"] == "wrong_chain" and "genesis" in chain["problem"]


def test_an_rpc_node_behind_the_cursor_is_waited_for_not_treated_as_a_reorg(chain_app, chain_settings, anvil_url,
                                                                            paid_and_watched):
    before = stored(chain_app)
    for lagging in other_anvil("--fork-url", anvil_url, "--fork-block-number", str(paid_and_watched - 1)):
        with chain_app.app_context():
            watcher = Watcher(make_web3(lagging), replace(chain_settings, rpc_url=lagging))
            assert watcher.tick() == 0
        assert stored(chain_app) == before, "the payment is kept and the cursor waits"


def test_tillpoint_watch_exits_with_a_clear_error_on_another_chain(database_url, chain_settings):
    env = watcher_env(database_url, chain_settings, CHAIN_ID="8453", SETTLER="off")
    done = subprocess.run([str(TILLPOINT), "watch"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "error: the watcher refuses to run: the RPC serves chain id 31337, but CHAIN_ID is 8453" in done.stderr
