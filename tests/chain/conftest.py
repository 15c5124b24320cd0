"""Chain fixtures: one real anvil per session, contracts deployed once, state reverted after every test."""
from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from sqlalchemy import select
from web3 import HTTPProvider, Web3

from app import create_app
from app.chain import devchain
from app.chain.client import forget_prices, make_web3
from app.chain.settings import ChainSettings, Token
from app.workers.settler import Settler
from app.workers.watcher import Watcher
from app.extensions import db
from app.models import Order, SettleTx
from app.services import ledger, refunds
from tests.helpers.chain import CONFIRMATIONS, Accounts, Contracts, deploy, mine, transact

MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()


@pytest.fixture(scope="session")
def anvil_url():
    """Start anvil on a free loopback port (fails, never skips, without `npm ci`); yield its URL; stop it."""
    try:
        proc, url = devchain.start_anvil("--slots-in-an-epoch", "1")
    except devchain.DevChainError as error:
        pytest.fail(str(error))
    yield url
    devchain.stop(proc)


@pytest.fixture(scope="session")
def w3(anvil_url) -> Web3:
    return Web3(HTTPProvider(anvil_url))


@pytest.fixture(scope="session")
def accounts() -> Accounts:
    keys = tuple(Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10))
    return Accounts(platform=keys[0], merchant=keys[1], shopper=keys[2], all=keys)


@pytest.fixture(scope="session")
def contracts(w3, accounts) -> Contracts:
    """Deploy the contracts once per session; the shopper holds 1,000,000 USDC and USDT."""
    me = accounts.platform
    deployed = Contracts(
        usdc=deploy(w3, "MockERC20", "USD Coin", "USDC", 6, sender=me),
        usdt=deploy(w3, "NoReturnToken", sender=me),
        feed=deploy(w3, "MockV3Aggregator", 8, 3000 * 10**8, sender=me),
        factory=deploy(w3, "DepositFactory", sender=me),
        split=deploy(w3, "Split", [accounts.merchant.address, me.address], [9900, 100], sender=me),
    )
    for token in (deployed.usdc, deployed.usdt):
        assert transact(w3, token.functions.mint(accounts.shopper.address, 1_000_000 * 10**6), me).status == 1
    return deployed


@pytest.fixture(autouse=True)
def evm_snapshot(w3, contracts):
    """Run every chain test on the session's deployed state, and undo whatever it did afterwards."""
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    forget_prices()
    yield
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    forget_prices()


# ---- a chain-configured app, orders with deposit addresses, payments and watcher ticks

@pytest.fixture
def chain_settings(w3, contracts) -> ChainSettings:
    return ChainSettings(chain_id=w3.eth.chain_id, rpc_url=w3.provider.endpoint_uri, confirmations=CONFIRMATIONS,
                         factory=contracts.factory.address, eth_usd_feed=contracts.feed.address,
                         tokens=(Token("USDC", contracts.usdc.address, 6), Token("USDT", contracts.usdt.address, 6)),
                         start_block=w3.eth.block_number)


@pytest.fixture
def chain_app(app, chain_settings):
    return create_app(app.config["TILLPOINT"].with_overrides(CHAIN=chain_settings))


@pytest.fixture
def merchant_key(factory, contracts):
    merchant = factory.merchant("Chain Shop")
    with factory.in_app() as session:
        merchant = session.merge(merchant)
        merchant.split_address = contracts.split.address
        session.commit()
    factory.item(merchant, "TEA", "12.65")
    return factory.key(merchant)


@pytest.fixture
def new_order(chain_app, merchant_key):
    def create(qty: int = 1) -> dict:
        response = chain_app.test_client().post("/api/orders", json={"items": [{"sku": "TEA", "qty": qty}]},
                                                headers={"x-api-key": merchant_key})
        assert response.status_code == 200, response.json
        return response.json["receipt"]

    return create


@pytest.fixture
def watch(chain_app, chain_settings):
    """Run one watcher tick (or several) inside the app, chain settings overridden by keyword; return the
    order's receipt afterwards."""

    def tick(receipt_id: str | None = None, times: int = 1, **settings) -> dict | None:
        with chain_app.app_context():
            watcher = Watcher(make_web3(chain_settings.rpc_url), replace(chain_settings, **settings))
            for _ in range(times):
                watcher.tick()
        if receipt_id is None:
            return None
        with chain_app.app_context():
            from app.services.receipts import receipt_body

            with chain_app.test_request_context():
                order = db.session.scalar(select(Order).where(Order.receipt_id == receipt_id))
                return receipt_body(order) | {"payments": [(p.tx_hash, p.amount_base_units) for p in order.payments]}

    return tick


# ---- the whole watch loop: watcher, settler (operator = the platform account), ledger

@pytest.fixture
def settle_settings(chain_settings, accounts):
    return replace(chain_settings, operator_key=accounts.platform.key.to_0x_hex(),
                   platform_payee=accounts.platform.address, settle_stuck_seconds=3600)


@pytest.fixture
def settle_app(app, settle_settings):
    return create_app(app.config["TILLPOINT"].with_overrides(CHAIN=settle_settings))


@pytest.fixture
def gateway(settle_app, settle_settings, merchant_key):
    """The watch loop in steps: watcher ticks, settler ticks (a fresh settler = a restarted process), receipts."""

    class Gateway:
        settings = settle_settings
        app = settle_app

        def __init__(self):
            self.w3 = make_web3(settle_settings.rpc_url)
            self.settler = self.restart()

        def restart(self) -> Settler:
            with settle_app.app_context():
                self.settler = Settler(self.w3, self.settings)
            return self.settler

        def watch(self, times: int = 1) -> None:
            with settle_app.app_context():
                watcher = Watcher(self.w3, self.settings)
                for _ in range(times):
                    watcher.tick()

        def settle(self) -> int:
            with settle_app.app_context():
                return self.settler.tick()

        def run(self, rounds: int = 4) -> None:
            """As `tillpoint watch` does: watch, settle, check refunds; mine a block; rounds times."""
            for _ in range(rounds):
                self.watch()
                self.settle()
                with settle_app.app_context():
                    refunds.verify_submitted(self.w3, self.settings)
                mine(self.w3)
            self.watch()

        def order(self) -> dict:
            response = settle_app.test_client().post("/api/orders", json={"items": [{"sku": "TEA", "qty": 1}]},
                                                     headers={"x-api-key": merchant_key})
            assert response.status_code == 200, response.json
            return response.json["receipt"]

        def receipt(self, receipt_id: str) -> dict:
            response = settle_app.test_client().get(f"/api/receipts/{receipt_id}", headers={"x-api-key": merchant_key})
            assert response.status_code == 200, response.json
            return response.json["receipt"]

        def settle_txs(self) -> list[SettleTx]:
            with settle_app.app_context():
                return list(db.session.scalars(select(SettleTx).order_by(SettleTx.id)))

        def ledger(self, receipt_id: str) -> dict[str, ledger.TokenLedger]:
            with settle_app.app_context():
                return ledger.order_ledger(db.session.scalar(select(Order).where(Order.receipt_id == receipt_id)))

    return Gateway()


@pytest.fixture
def balance_of(w3, contracts):
    def read(symbol: str, address: str) -> int:
        if symbol == "ETH":
            return w3.eth.get_balance(address)
        token = {"USDC": contracts.usdc, "USDT": contracts.usdt}[symbol]
        return token.functions.balanceOf(address).call()

    return read
