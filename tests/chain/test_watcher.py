"""The watcher on a real anvil: generated → pending → paid, exactly once, across reorgs and failures."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import create_app
from app.chain.client import make_web3
from app.chain.settings import ChainSettings, Token
from app.chain.watcher import Watcher
from app.models import ChainCursor, Order, Payment
from tests.chain.conftest import deploy, transact

CONFIRMATIONS = 2


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
    """Run one watcher tick (or several) inside the app; return the order's receipt afterwards."""

    def tick(receipt_id: str | None = None, times: int = 1, **options) -> dict | None:
        with chain_app.app_context():
            watcher = Watcher(make_web3(chain_settings.rpc_url), chain_settings, **options)
            for _ in range(times):
                watcher.tick()
        if receipt_id is None:
            return None
        with chain_app.app_context():
            from app.api.receipts import receipt_body
            from app.extensions import db

            with chain_app.test_request_context():
                order = db.session.scalar(select(Order).where(Order.receipt_id == receipt_id))
                return receipt_body(order) | {"payments": [(p.tx_hash, p.amount_base_units) for p in order.payments]}

    return tick


def quote(receipt: dict, token: str) -> int:
    return int(next(q for q in receipt["quotes"] if q["token"] == token)["amount"])


def pay_token(w3, token, sender, to: str, amount: int):
    receipt = transact(w3, token.functions.transfer(to, amount), sender)
    assert receipt.status == 1
    return receipt


def mine(w3, blocks: int = 1) -> None:
    w3.provider.make_request("anvil_mine", [blocks])


def statuses(receipt: dict) -> list[str]:
    return [h["status"] for h in receipt["statusHistory"]]


def test_usdc_payment_goes_pending_then_paid_after_confirmations(w3, accounts, contracts, new_order, watch):
    receipt = new_order()
    tx = pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    seen = watch(receipt["receiptId"])
    assert seen["status"] == "pending" and seen["exceptionStatus"] is None
    mine(w3, CONFIRMATIONS - 1)
    paid = watch(receipt["receiptId"])
    assert paid["status"] == "paid" and statuses(paid) == ["generated", "pending", "paid"]
    assert paid["statusHistory"][-1]["cause"] == {"txHash": "0x" + tx.transactionHash.hex().removeprefix("0x"),
                                                  "block": tx.blockNumber}


def test_usdt_without_return_value_and_eth_are_credited(w3, accounts, contracts, new_order, watch):
    usdt_order, eth_order = new_order(), new_order()
    pay_token(w3, contracts.usdt, accounts.shopper, usdt_order["depositAddress"], quote(usdt_order, "USDT"))
    w3.eth.send_transaction({"from": accounts.shopper.address, "to": eth_order["depositAddress"],
                             "value": quote(eth_order, "ETH"), "gas": 21_000})
    mine(w3, CONFIRMATIONS)
    assert watch(usdt_order["receiptId"])["status"] == "paid"
    assert watch(eth_order["receiptId"])["status"] == "paid"


def test_partial_payments_add_up(w3, accounts, contracts, new_order, watch):
    receipt = new_order()
    due = quote(receipt, "USDC")
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], due // 2)
    mine(w3, CONFIRMATIONS)
    partial = watch(receipt["receiptId"])
    assert (partial["status"], partial["exceptionStatus"]) == ("pending", "paid_partial")
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], due - due // 2)
    mine(w3, CONFIRMATIONS)
    paid = watch(receipt["receiptId"])
    assert (paid["status"], paid["exceptionStatus"], len(paid["payments"])) == ("paid", None, 2)


def test_overpayment_is_paid_and_flagged(w3, accounts, contracts, new_order, watch):
    receipt = new_order()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC") + 1_000_000)
    mine(w3, CONFIRMATIONS)
    assert (watch(receipt["receiptId"])["status"], watch(receipt["receiptId"])["exceptionStatus"]) == ("paid", "paid_over")


def test_a_token_not_in_the_list_is_never_credited(w3, accounts, contracts, new_order, watch):
    receipt = new_order()
    fake = deploy(w3, "MockERC20", "USD Coin", "USDC", 6, sender=accounts.shopper)
    transact(w3, fake.functions.mint(accounts.shopper.address, 10**12), accounts.shopper)
    pay_token(w3, fake, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    mine(w3, CONFIRMATIONS)
    seen = watch(receipt["receiptId"])
    assert seen["status"] == "generated" and seen["payments"] == []


def test_rescanning_the_same_blocks_credits_nothing_twice(w3, accounts, contracts, new_order, watch, chain_app,
                                                         chain_settings):
    receipt = new_order()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    mine(w3, CONFIRMATIONS)
    watch(receipt["receiptId"])
    with chain_app.app_context():
        from app.extensions import db

        db.session.get(ChainCursor, chain_settings.chain_id).block_number = chain_settings.start_block
        db.session.commit()
    again = watch(receipt["receiptId"])
    assert again["status"] == "paid" and len(again["payments"]) == 1 and statuses(again).count("paid") == 1


def test_reorg_that_drops_an_unconfirmed_payment_moves_the_order_back(w3, accounts, contracts, new_order, watch):
    receipt = new_order()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    assert watch(receipt["receiptId"])["status"] == "pending"
    w3.provider.make_request("anvil_reorg", [1, []])  # the payment's block is replaced by an empty one
    mine(w3, CONFIRMATIONS)
    back = watch(receipt["receiptId"])
    assert back["status"] == "generated" and back["payments"] == []
    assert statuses(back) == ["generated", "pending", "generated"]


def test_payment_moved_to_another_block_by_a_reorg_counts_once(w3, accounts, contracts, new_order, watch):
    receipt = new_order()
    signed = accounts.shopper.sign_transaction(contracts.usdc.functions.transfer(
        receipt["depositAddress"], quote(receipt, "USDC")).build_transaction({
            "from": accounts.shopper.address, "nonce": w3.eth.get_transaction_count(accounts.shopper.address),
            "gas": 100_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "chainId": w3.eth.chain_id}))
    w3.eth.send_raw_transaction(signed.raw_transaction)  # mined in block N
    mine(w3, 1)
    assert watch(receipt["receiptId"])["status"] == "paid"
    # N and N+1 replaced; the same signed transaction now lands in N+1, with one confirmation
    w3.provider.make_request("anvil_reorg", [2, [["0x" + signed.raw_transaction.hex().removeprefix("0x"), 1]]])
    moved = watch(receipt["receiptId"])
    assert moved["status"] == "pending" and len(moved["payments"]) == 1
    mine(w3, 1)
    final = watch(receipt["receiptId"])
    assert final["status"] == "paid" and len(final["payments"]) == 1
    assert statuses(final) == ["generated", "pending", "paid", "pending", "paid"]


def test_payment_after_expiry_counts_and_is_flagged_late(w3, accounts, contracts, new_order, watch, chain_app):
    receipt = new_order()
    with chain_app.app_context():
        from app.extensions import db

        order = db.session.scalar(select(Order).where(Order.receipt_id == receipt["receiptId"]))
        order.expires_at = order.created_at - timedelta(minutes=1)
        db.session.commit()
    assert watch(receipt["receiptId"])["status"] == "expired"
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    mine(w3, CONFIRMATIONS)
    late = watch(receipt["receiptId"])
    assert (late["status"], late["exceptionStatus"]) == ("paid", "paid_late")
    assert statuses(late) == ["generated", "expired", "pending", "paid"]


def test_small_chunks_reach_a_payment_many_blocks_later(w3, accounts, contracts, new_order, watch):
    receipt = new_order()
    mine(w3, 10)
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    mine(w3, CONFIRMATIONS)
    assert watch(receipt["receiptId"], times=1, max_chunk=3)["status"] == "generated"
    assert watch(receipt["receiptId"], times=5, max_chunk=3)["status"] == "paid"


def test_rpc_failure_leaves_the_cursor_where_it_was(w3, accounts, contracts, new_order, watch, chain_app,
                                                   chain_settings, count_rows):
    receipt = new_order()
    watch()
    with chain_app.app_context():
        from app.extensions import db

        before = db.session.get(ChainCursor, chain_settings.chain_id).block_number
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    mine(w3, CONFIRMATIONS)
    with chain_app.app_context():
        dead = Watcher(make_web3("http://127.0.0.1:1", retries=1), chain_settings)
        with pytest.raises(Exception):
            dead.tick()
        from app.extensions import db

        assert db.session.get(ChainCursor, chain_settings.chain_id).block_number == before
    assert count_rows(Payment) == 0
    assert watch(receipt["receiptId"])["status"] == "paid"
