"""Settlement on a real anvil: paid orders swept into the split, completed on confirmed and verified payouts,
across reorgs, restarts, stuck transactions and funds that arrive after settlement."""
from __future__ import annotations

import signal
import subprocess
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.chain import deposits
from app.chain.events import SETTLED_TOPIC
from app.extensions import db
from app.models import Order, utcnow
from tests.helpers.chain import assert_ledger_matches_chain, deploy, mine, pay_token, quote, transact
from tests.helpers.processes import TILLPOINT, wait_for, watcher_env
from tests.helpers.rpc import RecordingRpc

MERCHANT_BPS, PLATFORM_BPS = 9900, 100


def paid_in_usdc(gateway, w3, contracts, accounts) -> dict:
    """Return a new order paid in USDC and confirmed (paid), not yet settled."""
    receipt = gateway.order()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    gateway.watch()
    mine(w3, 2)
    gateway.watch()
    assert gateway.receipt(receipt["receiptId"])["status"] == "paid"
    return receipt


def settled_events(w3, factory) -> list:
    return w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": factory.address,
                            "topics": [SETTLED_TOPIC]})


def statuses(receipt: dict) -> list[str]:
    return [change["status"] for change in receipt["statusHistory"]]


def test_usdc_order_goes_all_the_way_to_completed_with_exact_shares(gateway, w3, contracts, accounts,
                                                                     balance_of):
    receipt = gateway.order()
    amount = quote(receipt, "USDC")
    merchant_before = contracts.usdc.functions.balanceOf(accounts.merchant.address).call()
    platform_before = contracts.usdc.functions.balanceOf(accounts.platform.address).call()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], amount)

    gateway.run()

    done = gateway.receipt(receipt["receiptId"])
    assert statuses(done) == ["generated", "pending", "paid", "completed"]
    assert done["status"] == "completed" and done["settledAt"] is not None
    merchant_got = contracts.usdc.functions.balanceOf(accounts.merchant.address).call() - merchant_before
    platform_got = contracts.usdc.functions.balanceOf(accounts.platform.address).call() - platform_before
    assert (merchant_got, platform_got) == (amount * MERCHANT_BPS // 10_000, amount * PLATFORM_BPS // 10_000)
    [sweep] = done["sweeps"]
    assert sweep["verified"] is True and sweep["amount"] == str(amount)
    assert (int(sweep["toMerchant"]), int(sweep["toPlatform"])) == (merchant_got, platform_got)
    assert done["statusHistory"][-1]["cause"]["txHash"] == sweep["txHash"]
    assert_ledger_matches_chain(gateway, receipt["receiptId"], balance_of)
    assert len(settled_events(w3, contracts.factory)) == 1


def test_eth_order_goes_all_the_way_to_completed_with_exact_shares(gateway, w3, contracts, accounts,
                                                                    balance_of):
    receipt = gateway.order()
    amount = quote(receipt, "ETH")
    merchant_before = w3.eth.get_balance(accounts.merchant.address)
    released_before = contracts.split.functions.released(accounts.platform.address).call()
    w3.eth.send_transaction({"from": accounts.shopper.address, "to": receipt["depositAddress"], "value": amount})

    gateway.run()

    done = gateway.receipt(receipt["receiptId"])
    assert statuses(done) == ["generated", "pending", "paid", "completed"]
    merchant_got = w3.eth.get_balance(accounts.merchant.address) - merchant_before
    platform_got = contracts.split.functions.released(accounts.platform.address).call() - released_before
    assert (merchant_got, platform_got) == (amount * MERCHANT_BPS // 10_000, amount * PLATFORM_BPS // 10_000)
    assert [(int(s["toMerchant"]), int(s["toPlatform"])) for s in done["sweeps"]] == [(merchant_got, platform_got)]
    assert_ledger_matches_chain(gateway, receipt["receiptId"], balance_of)


def test_a_settle_reorged_out_goes_back_to_paid_and_is_settled_again_once(gateway, w3, contracts,
                                                                           accounts, balance_of):
    receipt = paid_in_usdc(gateway, w3, contracts, accounts)
    before_settle = w3.provider.make_request("evm_snapshot", [])["result"]
    gateway.run()
    assert gateway.receipt(receipt["receiptId"])["status"] == "completed"
    [first] = gateway.settle_txs()

    w3.provider.make_request("evm_revert", [before_settle])  # the settle and the blocks after it are gone
    mine(w3, 6)
    gateway.watch()
    back = gateway.receipt(receipt["receiptId"])
    assert back["status"] == "paid" and back["sweeps"] == [] and back["settledAt"] is None
    assert back["statusHistory"][-1]["cause"]["reason"] == "settlement removed"

    gateway.run()
    again = gateway.receipt(receipt["receiptId"])
    assert statuses(again) == ["generated", "pending", "paid", "completed", "paid", "completed"]
    assert [t.tx_hash for t in gateway.settle_txs()] == [first.tx_hash]  # the same bytes re-sent, nothing new
    assert len(again["sweeps"]) == 1 and len(settled_events(w3, contracts.factory)) == 1
    assert_ledger_matches_chain(gateway, receipt["receiptId"], balance_of)


def test_funds_arriving_after_completion_are_credited_flagged_and_swept(gateway, w3, contracts, accounts,
                                                                        balance_of):
    receipt = gateway.order()
    amount = quote(receipt, "USDC")
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], amount)
    gateway.run()
    assert gateway.receipt(receipt["receiptId"])["status"] == "completed"

    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], 5_000_001)
    w3.eth.send_transaction({"from": accounts.shopper.address, "to": receipt["depositAddress"], "value": 10**15})
    gateway.watch()
    mine(w3, 2)
    gateway.watch()
    late = gateway.receipt(receipt["receiptId"])
    assert late["status"] == "completed" and late["exceptionStatus"] == "paid_over"
    assert [p["afterSettlement"] for p in late["payments"]] == [False, True, True]
    assert {e.token: e.held for e in gateway.ledger(receipt["receiptId"]).values()} == {"USDC": 5_000_001,
                                                                                       "ETH": 10**15}
    assert_ledger_matches_chain(gateway, receipt["receiptId"], balance_of)

    gateway.run()
    swept = gateway.receipt(receipt["receiptId"])
    assert swept["status"] == "completed"
    assert sorted((s["token"], s["amount"]) for s in swept["sweeps"]) == [
        ("ETH", str(10**15)), ("USDC", str(amount)), ("USDC", "5000001")]
    assert all(s["verified"] for s in swept["sweeps"])
    assert all(e.held == 0 for e in gateway.ledger(receipt["receiptId"]).values())
    assert_ledger_matches_chain(gateway, receipt["receiptId"], balance_of)


def test_a_settler_restarted_after_sending_finds_its_transaction_and_sends_no_second(gateway, w3,
                                                                                      contracts, accounts):
    receipt = paid_in_usdc(gateway, w3, contracts, accounts)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        assert gateway.settle() == 1
        [sent] = gateway.settle_txs()
        # The process dies; the node loses the transaction too (as if it died before broadcasting).
        w3.provider.make_request("anvil_dropTransaction", [sent.tx_hash])
        gateway.restart()
        assert gateway.settle() == 0
        assert [t.tx_hash for t in gateway.settle_txs()] == [sent.tx_hash]
        assert w3.eth.get_transaction(sent.tx_hash)["hash"].to_0x_hex() == sent.tx_hash  # re-broadcast
        gateway.restart()
        assert gateway.settle() == 0  # known to the node now: left alone
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    mine(w3)
    gateway.run()
    assert gateway.receipt(receipt["receiptId"])["status"] == "completed"
    assert len(settled_events(w3, contracts.factory)) == 1
    assert [t.state for t in gateway.settle_txs()] == ["done"]


def test_a_stuck_settle_is_replaced_with_higher_fees_and_only_one_lands(gateway, w3, contracts, accounts):
    receipt = paid_in_usdc(gateway, w3, contracts, accounts)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        gateway.settle()
        gateway.settings = replace(gateway.settings, settle_stuck_seconds=0)
        gateway.restart()
        gateway.settle()
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    first, second = gateway.settle_txs()
    assert first.nonce == second.nonce and first.tx_hash != second.tx_hash
    assert second.max_fee_per_gas * 8 >= first.max_fee_per_gas * 9
    assert second.priority_fee_per_gas * 8 >= first.priority_fee_per_gas * 9
    mine(w3)
    gateway.settings = replace(gateway.settings, settle_stuck_seconds=3600)
    gateway.restart()
    gateway.run()
    assert gateway.receipt(receipt["receiptId"])["status"] == "completed"
    assert [t.state for t in gateway.settle_txs()] == ["replaced", "done"]
    assert len(settled_events(w3, contracts.factory)) == 1


@pytest.mark.slow
def test_tillpoint_watch_killed_after_sending_a_settle_sends_no_second_after_restart(
        gateway, w3, contracts, accounts, database_url, settle_settings, tmp_path):
    receipt = paid_in_usdc(gateway, w3, contracts, accounts)
    operator = accounts.platform.address
    env = watcher_env(database_url, settle_settings, OPERATOR_PRIVATE_KEY=settle_settings.operator_key,
                      PLATFORM_PAYEE=operator)
    rpc = RecordingRpc(settle_settings.rpc_url)  # the restarted process reaches the node through it
    first = second = None
    second_log = tmp_path / "second.log"
    try:
        w3.provider.make_request("evm_setAutomine", [False])
        try:
            pending_before = w3.eth.get_transaction_count(operator, "pending")
            first = subprocess.Popen([str(TILLPOINT), "watch"], env=env, stderr=subprocess.DEVNULL)
            # Killed once the settle reached the node: the settler commits its row before it broadcasts.
            wait_for(lambda: w3.eth.get_transaction_count(operator, "pending") > pending_before, every=0.05)
            first.send_signal(signal.SIGKILL)
            first.wait()
            [sent] = gateway.settle_txs()
            assert w3.eth.get_transaction_count(operator, "pending") == sent.nonce + 1  # in the node's pool
            with second_log.open("w") as stderr:
                second = subprocess.Popen([str(TILLPOINT), "watch"], env={**env, "RPC_URL": rpc.url}, stderr=stderr)
            # Every settler tick begins by asking the node about the settle in flight, so the third ask means
            # two whole ticks of the restarted settler (check what is in flight, send what is due) have run.
            wait_for(lambda: rpc.count("eth_getTransactionByHash", sent.tx_hash) >= 3, every=0.05)
            assert "failed" not in second_log.read_text(), "those ticks ran to the end"
            assert [t.tx_hash for t in gateway.settle_txs()] == [sent.tx_hash]
            assert w3.eth.get_transaction_count(operator, "pending") == sent.nonce + 1
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
        mine(w3, 3)
        wait_for(lambda: gateway.receipt(receipt["receiptId"])["status"] == "completed", every=0.1)
    finally:
        if first is not None and first.poll() is None:
            first.kill()
            first.wait()
        if second is not None:
            second.terminate()
            second.wait(10)
        rpc.close()
    assert len(settled_events(w3, contracts.factory)) == 1
    assert [t.state for t in gateway.settle_txs()] in (["done"], ["pending"])  # done once its nonce is final


def test_a_settle_sent_by_another_contract_with_a_topicless_log_is_still_read(gateway, w3, contracts, accounts):
    receipt = paid_in_usdc(gateway, w3, contracts, accounts)
    noisy = deploy(w3, "NoisySettler", sender=accounts.all[6])
    transact(w3, noisy.functions.settle(contracts.factory.address, contracts.split.address,
                                        deposits.order_ref(receipt["receiptId"]), contracts.usdc.address),
             accounts.all[6])
    mine(w3, 2)
    gateway.watch()
    done = gateway.receipt(receipt["receiptId"])
    assert done["status"] == "completed" and [s["verified"] for s in done["sweeps"]] == [True]
    assert gateway.settle_txs() == []  # somebody else settled it: nothing for the settler to send


def test_a_partial_payment_is_swept_once_the_quote_has_expired(gateway, w3, contracts, accounts, balance_of):
    receipt = gateway.order()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], 3_000_000)
    gateway.run()
    assert gateway.receipt(receipt["receiptId"])["sweeps"] == []  # the shopper may still pay the rest
    with gateway.app.app_context():
        order = db.session.scalar(select(Order).where(Order.receipt_id == receipt["receiptId"]))
        order.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()

    gateway.run()
    swept = gateway.receipt(receipt["receiptId"])
    assert (swept["status"], swept["exceptionStatus"]) == ("pending", "paid_partial")
    assert [s["amount"] for s in swept["sweeps"]] == ["3000000"]
    assert_ledger_matches_chain(gateway, receipt["receiptId"], balance_of)
