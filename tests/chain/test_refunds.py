"""Refunds on a real anvil: the merchant pays from its own wallet, Tillpoint verifies the transaction."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from eth_account import Account
from eth_account.messages import encode_defunct

from app.services import keys, refund_wallets, refunds, shops
from tests.helpers.chain import assert_ledger_matches_chain, mine, pay_token, quote, transact, wait


@pytest.fixture
def paid_order(gateway, w3, contracts, accounts):
    """A USDC order paid in full by the shopper and settled; the merchant holds USDC and USDT to refund with."""
    receipt = gateway.order()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    gateway.run()
    for token in (contracts.usdc, contracts.usdt):
        transact(w3, token.functions.mint(accounts.merchant.address, 1_000 * 10**6), accounts.platform)
    return gateway.receipt(receipt["receiptId"])


@pytest.fixture
def api(settle_app, merchant_key):
    client = settle_app.test_client()

    def call(path: str, body: dict | None = None):
        headers = {"x-api-key": merchant_key}
        if body is None:
            return client.get(f"/api/{path}", headers=headers)
        return client.post(f"/api/{path}", json=body, headers=headers)

    return call


@pytest.fixture(autouse=True)
def refund_wallet(api, accounts, settle_app, merchant_key, in_app):
    """The merchant pays refunds from accounts.merchant, registered with that wallet's signature."""
    with in_app():
        merchant = keys.find_active_key(merchant_key).merchant
        text = refund_wallets.message(merchant, accounts.merchant.address)
    signature = Account.sign_message(encode_defunct(text=text), accounts.merchant.key).signature.to_0x_hex()
    response = api("refund-wallets", {"address": accounts.merchant.address, "signature": signature})
    assert response.status_code == 201, response.json
    return accounts.merchant


def refund(api, receipt: dict, **body) -> dict:
    response = api(f"receipts/{receipt['receiptId']}/refund", {"token": "USDC", **body})
    assert response.status_code == 201, response.json
    return response.json["refund"]


def link(api, receipt: dict, refund_id: str, tx_hash) -> object:
    tx = tx_hash if isinstance(tx_hash, str) else tx_hash.to_0x_hex()
    return api(f"receipts/{receipt['receiptId']}/refunds/{refund_id}/tx", {"txHash": tx})


def send(w3, contracts, accounts, symbol: str, to: str, amount: int):
    token = {"USDC": contracts.usdc, "USDT": contracts.usdt}[symbol]
    return pay_token(w3, token, accounts.merchant, to, amount)["transactionHash"]


def test_a_full_refund_with_a_correct_transaction_makes_the_order_refunded(gateway, api, paid_order, w3, contracts,
                                                                           accounts, balance_of):
    due = quote(paid_order, "USDC")
    requested = refund(api, paid_order, amount=paid_order["totalUsd"], reason="customer changed their mind")
    assert requested["status"] == "requested" and requested["to"] == accounts.shopper.address
    assert requested["amount"] == str(due)

    linked = link(api, paid_order, requested["refundId"], send(w3, contracts, accounts, "USDC",
                                                               accounts.shopper.address, due))
    assert linked.status_code == 200, linked.json
    assert linked.json["refund"]["status"] == "submitted"
    assert gateway.receipt(paid_order["receiptId"])["status"] == "completed"  # not before its confirmations

    gateway.run(2)
    done = gateway.receipt(paid_order["receiptId"])
    assert done["status"] == "refunded" and done["refundedUsd"] == paid_order["totalUsd"]
    assert done["refunds"][0]["status"] == "confirmed"
    assert done["statusHistory"][-1]["cause"]["refundId"] == requested["refundId"]
    [entry] = [e for e in done["ledger"] if e["token"] == "USDC"]
    assert entry["refunded"] == str(due)
    assert_ledger_matches_chain(gateway, paid_order["receiptId"], balance_of)


def test_a_partial_refund_is_recorded_and_keeps_the_status(gateway, api, paid_order, w3, contracts, accounts):
    requested = refund(api, paid_order, amountBaseUnits="5000000")
    assert link(api, paid_order, requested["refundId"],
                send(w3, contracts, accounts, "USDC", accounts.shopper.address, 5_000_000)).status_code == 200
    gateway.run(2)
    done = gateway.receipt(paid_order["receiptId"])
    assert done["status"] == "completed" and str(done["refundedUsd"]) == "5.00"
    assert done["refunds"][0]["status"] == "confirmed"


@pytest.mark.parametrize("mistake, reason", [
    ("wrong_address", "not the refund's recipient"),
    ("wrong_token", "moves no USDC"),
    ("too_small", "less than the 5000000 requested"),
])
def test_a_wrong_transaction_is_rejected_with_its_reason_and_changes_nothing(gateway, api, paid_order, w3, contracts,
                                                                             accounts, mistake, reason):
    requested = refund(api, paid_order, amountBaseUnits="5000000")
    bystander = accounts.all[5].address
    tx = {"wrong_address": lambda: send(w3, contracts, accounts, "USDC", bystander, 5_000_000),
          "wrong_token": lambda: send(w3, contracts, accounts, "USDT", accounts.shopper.address, 5_000_000),
          "too_small": lambda: send(w3, contracts, accounts, "USDC", accounts.shopper.address, 4_999_999)}[mistake]()
    before = gateway.receipt(paid_order["receiptId"])

    response = link(api, paid_order, requested["refundId"], tx)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_input" and reason in response.json["message"]
    assert reason in response.json["fields"]["txHash"][0]
    gateway.run(2)
    after = gateway.receipt(paid_order["receiptId"])
    assert after["refunds"][0]["status"] == "requested" and after["refunds"][0]["txHash"] is None
    assert (after["status"], after["refundedUsd"]) == (before["status"], before["refundedUsd"])


def test_a_refund_whose_block_is_dropped_goes_back_to_requested_with_the_reason(gateway, api, paid_order, w3,
                                                                                 contracts, accounts):
    requested = refund(api, paid_order, amountBaseUnits="5000000")
    before_tx = w3.provider.make_request("evm_snapshot", [])["result"]
    tx = send(w3, contracts, accounts, "USDC", accounts.shopper.address, 5_000_000)
    assert link(api, paid_order, requested["refundId"], tx).status_code == 200

    w3.provider.make_request("evm_revert", [before_tx])
    mine(w3, 3)
    gateway.run(2)

    after = gateway.receipt(paid_order["receiptId"])
    [dropped] = after["refunds"]
    assert dropped["status"] == "requested" and dropped["txHash"] is None
    assert tx.to_0x_hex() in dropped["rejection"] and "no mined transaction" in dropped["rejection"]
    assert after["status"] == "completed" and str(after["refundedUsd"]) == "0.00"


def test_refunds_cannot_exceed_what_was_paid(api, paid_order):
    refund(api, paid_order, amount="10.00")
    response = api(f"receipts/{paid_order['receiptId']}/refund", {"token": "USDC", "amount": "5.00"})
    assert response.status_code == 400 and "cannot exceed" in response.json["message"]
    assert response.json["fields"]["amount"] == [f"At most {paid_order['totalUsd'] - 10:.2f} USD."]


def test_one_transaction_pays_one_refund(api, paid_order, w3, contracts, accounts):
    first = refund(api, paid_order, amountBaseUnits="1000000")
    second = refund(api, paid_order, amountBaseUnits="1000000")
    tx = send(w3, contracts, accounts, "USDC", accounts.shopper.address, 1_000_000)
    assert link(api, paid_order, first["refundId"], tx).status_code == 200
    reused = link(api, paid_order, second["refundId"], tx)
    assert reused.status_code == 409 and reused.json["error"] == "conflict"


def test_ledger_summary_totals_per_token_match_the_orders(gateway, api, paid_order, w3, contracts, accounts):
    other = gateway.order()
    pay_token(w3, contracts.usdc, accounts.shopper, other["depositAddress"], 3_000_000)  # partial, held
    gateway.run(2)
    summary = api("ledger/summary")
    assert summary.status_code == 200, summary.json
    [usdc] = summary.json["tokens"]
    due = quote(paid_order, "USDC")
    assert usdc["received"] == str(due + 3_000_000)
    assert usdc["toMerchant"] == str(due * 9900 // 10_000) and usdc["toPlatform"] == str(due * 100 // 10_000)
    assert usdc["held"] == "3000000" and usdc["inSplit"] == "0"
    assert str(usdc["usd"]["received"]) == f"{paid_order['totalUsd'] + 3:.2f}"
    empty = api("ledger/summary?start=1&end=2")
    assert empty.status_code == 200 and empty.json["tokens"] == []


@pytest.mark.parametrize("body, field", [
    ({"token": "USDC", "amount": "1.00", "amountBaseUnits": "100"}, "amount"),
    ({"token": "USDC"}, "amount"),
    ({"token": "DOGE", "amount": "1.00"}, "token"),
    ({"token": "USDC", "amountBaseUnits": "12.5"}, "amountBaseUnits"),
    ({"token": "USDC", "amountBaseUnits": 100}, "amountBaseUnits"),
    ({"token": "USDC", "amount": "0.001"}, "amount"),
    ({"token": "USDC", "amount": "1.00", "to": "0x123"}, "to"),
    ({"token": "USDC", "amount": "1.00", "items": [{"sku": "NOPE", "qty": 1}]}, "items"),
    ({"token": "USDC", "amount": "1.00", "items": [{"sku": "TEA", "qty": 2}]}, "items"),
    ({"token": "USDC", "amount": "0"}, "amount"),
    ({"token": "USDC", "amount": "1.00", "couponCode": "X"}, "couponCode"),
])
def test_bad_refund_requests_name_the_field_and_record_nothing(api, paid_order, body, field):
    response = api(f"receipts/{paid_order['receiptId']}/refund", body)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_input" and field in response.json["fields"]
    assert api(f"receipts/{paid_order['receiptId']}").json["receipt"]["refunds"] == []


def test_refund_routes_answer_404_for_unknown_ids_and_403_without_the_scope(api, paid_order, settle_app, factory):
    receipt_id = paid_order["receiptId"]
    assert api(f"receipts/{receipt_id}/refunds/rf_unknown/tx", {"txHash": "0x" + "ab" * 32}).status_code == 404
    assert api("receipts/R-AAAAAAAAAAAA/refund", {"token": "USDC", "amount": "1"}).status_code == 404
    requested = refund(api, paid_order, amount="1.00")
    assert link(api, paid_order, requested["refundId"], "0x1234").json["fields"]["txHash"]
    merchant = factory.merchant("Other Shop")
    client = settle_app.test_client()
    stranger = {"x-api-key": factory.key(merchant)}
    assert client.post(f"/api/receipts/{receipt_id}/refund", json={"token": "USDC", "amount": "1"},
                       headers=stranger).status_code == 404
    assert client.post(f"/api/receipts/{receipt_id}/refunds/{requested['refundId']}/tx",
                       json={"txHash": "0x" + "ab" * 32}, headers=stranger).status_code == 404
    reader = {"x-api-key": factory.key(merchant, ["receipts:read"])}
    assert client.post(f"/api/receipts/{receipt_id}/refund", json={"token": "USDC", "amount": "1"},
                       headers=reader).json["error"] == "insufficient_scope"


def test_an_unpaid_order_cannot_be_refunded(api, gateway):
    receipt = gateway.order()
    response = api(f"receipts/{receipt['receiptId']}/refund", {"token": "USDC", "amount": "1.00"})
    assert response.status_code == 400 and "0.00 USD received" in response.json["message"]


def test_an_order_refunded_before_settlement_is_still_swept_to_the_merchant(gateway, api, w3, contracts, accounts,
                                                                            balance_of):
    receipt = gateway.order()
    due = quote(receipt, "USDC")
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], due)
    for _ in range(3):  # watcher only: paid, not settled
        gateway.watch()
        mine(w3)
    transact(w3, contracts.usdc.functions.mint(accounts.merchant.address, due), accounts.platform)
    requested = refund(api, gateway.receipt(receipt["receiptId"]), amountBaseUnits=str(due))
    assert link(api, receipt, requested["refundId"],
                send(w3, contracts, accounts, "USDC", accounts.shopper.address, due)).status_code == 200
    mine(w3, 2)
    with gateway.app.app_context():
        refunds.verify_submitted(gateway.w3, gateway.settings)
    assert gateway.receipt(receipt["receiptId"])["status"] == "refunded"

    gateway.run()  # the shopper's payment is the merchant's now: swept, and the order stays refunded
    done = gateway.receipt(receipt["receiptId"])
    assert done["status"] == "refunded" and [s["amount"] for s in done["sweeps"]] == [str(due)]
    assert_ledger_matches_chain(gateway, receipt["receiptId"], balance_of)


def test_sub_cent_refunds_cannot_add_up_past_what_was_received(api, paid_order):
    refund(api, paid_order, amount=str(paid_order["totalUsd"] - Decimal("0.01")))  # all but the last cent
    left = quote(paid_order, "USDC") - int((paid_order["totalUsd"] - Decimal("0.01")) * 10**6)
    assert refund(api, paid_order, amountBaseUnits=str(left))["usd"] == Decimal("0.01")  # every unit received
    response = api(f"receipts/{paid_order['receiptId']}/refund", {"token": "USDC", "amountBaseUnits": "1"})
    assert response.status_code == 400 and "cannot exceed" in response.json["message"]


def test_concurrent_refund_requests_never_exceed_what_was_received(settle_app, merchant_key, paid_order):
    fifth = str((paid_order["totalUsd"] / 5).quantize(Decimal("0.01"), rounding="ROUND_DOWN"))

    def request(_):
        return settle_app.test_client().post(f"/api/receipts/{paid_order['receiptId']}/refund",
                                             json={"token": "USDC", "amount": fifth},
                                             headers={"x-api-key": merchant_key}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(request, range(8)))
    assert sorted(codes) == [201] * 5 + [400] * 3


# ---- refund proofs belong to the merchant (issue 12, item 4)

def test_a_merchant_cannot_link_another_merchants_refund_transaction(api, paid_order, w3, contracts, accounts, in_app):
    other = accounts.all[3]
    with in_app():
        shops.create_merchant(other.address, "Other Shop")
    transact(w3, contracts.usdc.functions.mint(other.address, 1_000_000), accounts.platform)
    theirs = pay_token(w3, contracts.usdc, other, accounts.shopper.address, 1_000_000)["transactionHash"]
    mine_ = refund(api, paid_order, amountBaseUnits="1000000")  # to the same shopper, who paid us

    response = link(api, paid_order, mine_["refundId"], theirs)

    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert f"sent from {other.address}" in response.json["fields"]["txHash"][0]
    assert api(f"receipts/{paid_order['receiptId']}").json["receipt"]["refunds"][0]["status"] == "requested"


def test_a_merchant_cannot_refund_to_itself(api, paid_order, accounts):
    for own in (accounts.merchant.address, "0x" + "ab" * 20):  # a registered refund wallet, a stranger
        response = api(f"receipts/{paid_order['receiptId']}/refund",
                       {"token": "USDC", "amountBaseUnits": "1000000", "to": own})
        assert (response.status_code, response.json["error"]) == (400, "invalid_input"), response.json
        assert "paid this order" in response.json["fields"]["to"][0]
    assert api(f"receipts/{paid_order['receiptId']}").json["receipt"]["refunds"] == []


def test_a_transaction_hash_proves_one_refund_even_after_rejection(gateway, api, paid_order, w3, contracts,
                                                                    accounts):
    first = refund(api, paid_order, amountBaseUnits="1000000")
    second = refund(api, paid_order, amountBaseUnits="1000000")
    before_tx = w3.provider.make_request("evm_snapshot", [])["result"]
    tx = send(w3, contracts, accounts, "USDC", accounts.shopper.address, 1_000_000)
    raw = w3.eth.get_raw_transaction(tx)
    assert link(api, paid_order, first["refundId"], tx).status_code == 200
    w3.provider.make_request("evm_revert", [before_tx])  # a reorg drops it: the first refund is rejected
    mine(w3, 3)
    gateway.run(2)
    assert gateway.receipt(paid_order["receiptId"])["refunds"][0]["status"] == "requested"
    assert wait(w3, w3.eth.send_raw_transaction(raw)).transactionHash == tx  # the same transaction, mined again

    reused = link(api, paid_order, second["refundId"], tx)

    assert (reused.status_code, reused.json["error"]) == (409, "conflict"), reused.json
    assert first["refundId"] in reused.json["message"]
    assert link(api, paid_order, first["refundId"], tx).status_code == 200, "it still proves the refund it was for"
