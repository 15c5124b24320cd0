"""Chain fixtures: one real anvil per session, contracts deployed once, state reverted after every test."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from app.chain import devchain
from app.chain.contracts import load_artifact

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


@dataclass(frozen=True)
class Accounts:
    """anvil's dev accounts (the well-known test mnemonic) with the roles the tests give them."""

    platform: LocalAccount  # index 0: deploys everything, platform payee
    merchant: LocalAccount  # index 1
    shopper: LocalAccount  # index 2
    all: tuple[LocalAccount, ...]  # indices 0..9; all[3:] are bystanders


@pytest.fixture(scope="session")
def accounts() -> Accounts:
    keys = tuple(Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10))
    return Accounts(platform=keys[0], merchant=keys[1], shopper=keys[2], all=keys)


def wait(w3: Web3, tx_hash):
    """Wait for a receipt (anvil automines, so the first poll nearly always hits)."""
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.01)


def transact(w3: Web3, fn, sender: LocalAccount, **tx):
    """Send contract call `fn` from `sender` (unlocked on anvil); return the receipt, reverting or not."""
    return wait(w3, fn.transact({"from": sender.address, **tx}))


def deploy(w3: Web3, name: str, *args, sender: LocalAccount):
    """Deploy artifact `name` with constructor `args` from `sender`; return the web3 contract instance."""
    art = load_artifact(name)
    receipt = wait(w3, w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args)
                   .transact({"from": sender.address}))
    assert receipt.status == 1, f"deploying {name} failed"
    return w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])


@dataclass(frozen=True)
class Contracts:
    usdc: object  # MockERC20 "USD Coin"/"USDC", 6 decimals
    usdt: object  # NoReturnToken (USDT-like: transfer returns nothing), 6 decimals
    feed: object  # MockV3Aggregator(8, 3000e8): ETH/USD
    factory: object  # DepositFactory
    split: object  # Split([merchant, platform], [9900, 100])


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
    yield
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
