"""The watcher on a real anvil: generated → pending → paid, exactly once, across reorgs and failures."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select

from app.chain.client import make_web3
from app.workers.watcher import Watcher
from app.models import ChainCursor, Order, Payment
from tests.helpers.chain import CONFIRMATIONS, deploy, mine, pay_token, quote, transact



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
    assert (watch(receipt["receiptId"])["status"], watch(receipt["receiptId"])["exceptionStatus"]) == (
        "paid", "paid_over")


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
        # Expired both by the wall clock (the watcher's) and by the chain's clock, which earlier tests
        # (snapshots, reverts, many mined blocks) may have moved away from the wall clock.
        chain_now = datetime.fromtimestamp(w3.eth.get_block("latest")["timestamp"], tz=timezone.utc)
        order.expires_at = min(order.created_at, chain_now) - timedelta(minutes=1)
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
    assert watch(receipt["receiptId"], times=1, watch_chunk=3)["status"] == "generated"
    assert watch(receipt["receiptId"], times=5, watch_chunk=3)["status"] == "paid"


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
        with pytest.raises(requests.ConnectionError):  # nothing listens on port 1
            dead.tick()
        from app.extensions import db

        assert db.session.get(ChainCursor, chain_settings.chain_id).block_number == before
    assert count_rows(Payment) == 0
    assert watch(receipt["receiptId"])["status"] == "paid"


def test_twenty_orders_for_the_same_amount_paid_in_one_block_are_each_attributed(w3, accounts, contracts,
                                                                                  new_order, watch):
    receipts = [new_order() for _ in range(20)]
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        for receipt in receipts:
            contracts.usdc.functions.transfer(receipt["depositAddress"], quote(receipt, "USDC")).transact(
                {"from": accounts.shopper.address, "gas": 100_000})
        mine(w3, 1)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    mine(w3, CONFIRMATIONS)
    results = [watch(r["receiptId"]) for r in receipts]
    assert [r["status"] for r in results] == ["paid"] * 20
    assert len({r["payments"][0][0] for r in results}) == 20, "one distinct transaction per order"
    assert len({r["statusHistory"][-1]["cause"]["block"] for r in results}) == 1, "all in one block"


def test_eth_arriving_without_a_transaction_of_its_own_is_credited_from_the_balance(w3, new_order, watch):
    receipt = new_order()
    due = quote(receipt, "ETH")
    # anvil_setBalance moves value with no transaction, as a contract's internal call does
    w3.provider.make_request("anvil_setBalance", [receipt["depositAddress"], hex(due)])
    mine(w3, 1)
    seen = watch(receipt["receiptId"])
    assert seen["status"] == "pending" and [amount for _, amount in seen["payments"]] == [due]
    mine(w3, CONFIRMATIONS)
    paid = watch(receipt["receiptId"])
    assert paid["status"] == "paid" and len(paid["payments"]) == 1, "the same balance is not credited twice"


def test_healthz_reports_the_watchers_lag_without_failing_on_it(chain_app, w3, watch):
    client = chain_app.test_client()
    before = client.get("/healthz")
    assert before.status_code == 200 and before.json["chain"]["watcherBlock"] is None
    watch()
    mine(w3, 5)
    lagging = client.get("/healthz")
    assert lagging.status_code == 200 and lagging.json["status"] == "ok"
    assert lagging.json["chain"] == {"chainId": w3.eth.chain_id, "rpc": "ok", "head": w3.eth.block_number,
                                     "watcherBlock": w3.eth.block_number - 5, "lagBlocks": 5}
    watch()
    assert client.get("/healthz").json["chain"]["lagBlocks"] == 0


def test_a_cancelled_orders_address_is_no_longer_watched(w3, accounts, contracts, chain_app, merchant_key, new_order,
                                                          watch):
    cancelled, open_order = new_order(), new_order()
    response = chain_app.test_client().post(f"/api/receipts/{cancelled['receiptId']}/cancel",
                                            headers={"x-api-key": merchant_key})
    assert response.status_code == 200, response.json
    for receipt in (cancelled, open_order):
        pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    w3.eth.send_transaction({"from": accounts.shopper.address, "to": cancelled["depositAddress"],
                             "value": quote(cancelled, "ETH"), "gas": 21_000})
    mine(w3, CONFIRMATIONS)
    after = watch(cancelled["receiptId"])
    assert (after["status"], after["payments"]) == ("cancelled", [])
    assert statuses(after) == ["generated", "cancelled"]
    assert watch(open_order["receiptId"])["status"] == "paid", "the same blocks were read"
