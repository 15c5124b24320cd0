"""Chain helpers on a real anvil: accounts and contracts the fixtures hand out, sending, paying, mining."""
from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3

from app.chain import devchain

CONFIRMATIONS = 2


@dataclass(frozen=True)
class Accounts:
    """anvil's dev accounts (the well-known test mnemonic) with the roles the tests give them."""

    platform: LocalAccount  # index 0: deploys everything, platform payee
    merchant: LocalAccount  # index 1
    shopper: LocalAccount  # index 2
    all: tuple[LocalAccount, ...]  # indices 0..9; all[3:] are bystanders


@dataclass(frozen=True)
class Contracts:
    usdc: object  # MockERC20 "USD Coin"/"USDC", 6 decimals
    usdt: object  # NoReturnToken (USDT-like: transfer returns nothing), 6 decimals
    feed: object  # MockV3Aggregator(8, 3000e8): ETH/USD
    factory: object  # DepositFactory
    split: object  # Split([merchant, platform], [9900, 100])


def wait(w3: Web3, tx_hash):
    """Wait for a receipt (anvil automines, so the first poll nearly always hits)."""
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.01)


def transact(w3: Web3, fn, sender: LocalAccount, **tx):
    """Send contract call `fn` from `sender` (unlocked on anvil); return the receipt, reverting or not."""
    return wait(w3, fn.transact({"from": sender.address, **tx}))


def deploy(w3: Web3, name: str, *args, sender: LocalAccount):
    """Deploy artifact `name` with constructor `args` from `sender`; return the web3 contract instance."""
    return devchain.deploy(w3, name, *args, sender=sender.address)


def quote(receipt: dict, token: str) -> int:
    """Return the receipt's quoted amount of token, in base units."""
    return int(next(q for q in receipt["quotes"] if q["token"] == token)["amount"])


def pay_token(w3, token, sender, to: str, amount: int):
    """Transfer amount of token from sender to `to`; return the (successful) receipt."""
    receipt = transact(w3, token.functions.transfer(to, amount), sender)
    assert receipt.status == 1
    return receipt


def mine(w3, blocks: int = 1) -> None:
    w3.provider.make_request("anvil_mine", [blocks])


def assert_ledger_matches_chain(gateway, receipt_id: str, balance_of) -> None:
    """received = to merchant + to platform + held + in split, and held is what the deposit address holds."""
    receipt = gateway.receipt(receipt_id)
    for (_, symbol), entry in gateway.ledger(receipt_id).items():
        assert entry.received == entry.to_merchant + entry.to_platform + entry.held + entry.in_split
        assert entry.received == sum(int(p["amount"]) for p in receipt["payments"] if p["token"] == symbol)
        assert entry.held == balance_of(symbol, receipt["depositAddress"])
