"""The money rules of issue 12 on a real anvil: stray receipts never strand an order, a late ETH payment is
valued at the market when it arrived, refunds count confirmed money in exact units, and a top-up after
completion is paid_over."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import Order, ShopConfig
from tests.helpers.chain import CONFIRMATIONS, assert_ledger_matches_chain, deploy, mine, pay_token, quote, transact


@pytest.fixture
def api(settle_app, merchant_key):
    client = settle_app.test_client()

    def call(path: str, body: dict | None = None):
        headers = {"x-api-key": merchant_key}
        return client.get(f"/api/{path}", headers=headers) if body is None else client.post(
            f"/api/{path}", json=body, headers=headers)

    return call


def expire(app, w3, receipt_id: str) -> None:
    """Let the order's quote lapse, by the wall clock and by the chain's (tests before may have moved it)."""
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.receipt_id == receipt_id))
        chain_now = datetime.fromtimestamp(w3.eth.get_block("latest")["timestamp"], tz=timezone.utc)
        order.expires_at = min(order.created_at, chain_now) - timedelta(minutes=1)
        db.session.commit()


def accept_only(app, tokens: list[str]) -> None:
    with app.app_context():
        db.session.execute(update(ShopConfig).values(accepted_tokens=tokens))
        db.session.commit()


def send_eth(w3, sender, to: str, wei: int) -> None:
    w3.eth.send_transaction({"from": sender.address, "to": to, "value": wei})


def set_eth_price(w3, contracts, accounts, dollars: int) -> None:
    assert transact(w3, contracts.feed.functions.updateAnswer(dollars * 10**8), accounts.platform).status == 1


# ---- item 2: stray receipts

def test_a_listed_token_the_shop_does_not_offer_is_credited_at_its_peg_and_eth_at_the_feed(gateway, api, w3,
                                                                                            contracts, accounts):
    accept_only(gateway.app, ["USDC"])
    receipt = gateway.order()
    receipt_id, deposit = receipt["receiptId"], receipt["depositAddress"]
    assert [q["token"] for q in receipt["quotes"]] == ["USDC"]
    pay_token(w3, contracts.usdt, accounts.shopper, deposit, 5_000_000)  # listed on this chain, not offered
    send_eth(w3, accounts.shopper, deposit, 10**15)  # 0.001 ETH at the feed's $3,000
    gateway.watch()
    mine(w3, CONFIRMATIONS)
    gateway.watch()

    seen = gateway.receipt(receipt_id)
    assert (seen["status"], seen["exceptionStatus"]) == ("pending", "paid_partial")
    assert sorted((p["token"], p["stray"], p["usd"]) for p in seen["payments"]) == [
        ("ETH", False, Decimal("3.00")), ("USDT", False, Decimal("5.00"))]
    assert [q["token"] for q in seen["quotes"]] == ["USDC"], "the pay page still offers only what the shop accepts"
    pay_token(w3, contracts.usdc, accounts.shopper, deposit, quote(receipt, "USDC") - 8_000_000)  # the rest
    gateway.run()
    done = gateway.receipt(receipt_id)
    assert (done["status"], done["exceptionStatus"]) == ("completed", None)
    assert sorted(s["token"] for s in done["sweeps"]) == ["ETH", "USDC", "USDT"]


def test_dust_and_eth_without_a_feed_never_strand_an_order(gateway, api, w3, contracts, accounts, balance_of):
    accept_only(gateway.app, ["USDC"])
    gateway.settings = replace(gateway.settings, eth_usd_feed="")  # the watcher has no ETH/USD rate on this chain
    receipt = gateway.order()
    receipt_id, deposit = receipt["receiptId"], receipt["depositAddress"]
    pay_token(w3, contracts.usdc, accounts.shopper, deposit, 1)  # dust
    send_eth(w3, accounts.shopper, deposit, 10**15)  # ETH, with no rate to credit it at
    gateway.watch()
    mine(w3, CONFIRMATIONS)
    gateway.watch()

    seen = gateway.receipt(receipt_id)
    assert (seen["status"], seen["exceptionStatus"]) == ("generated", None)
    assert sorted((p["token"], p["stray"], p["usd"]) for p in seen["payments"]) == [("ETH", True, 0), ("USDC", True, 0)]
    assert {e["token"]: e["stray"] for e in seen["ledger"]} == {"ETH": str(10**15), "USDC": "1"}
    page = gateway.app.test_client().get(f"/pay/{receipt_id}/status").json
    assert page["state"] == "waiting" and [p["stray"] for p in page["payments"]] == [True] * 2
    assert "does not count towards this order" in gateway.app.test_client().get(f"/pay/{receipt_id}").get_data(
        as_text=True)

    refund = api(f"receipts/{receipt_id}/refund", {"token": "ETH", "amountBaseUnits": str(10**15)})
    assert refund.status_code == 201, refund.json
    assert (refund.json["refund"]["usd"], refund.json["refund"]["to"]) == (0, accounts.shopper.address)
    too_much = api(f"receipts/{receipt_id}/refund", {"token": "ETH", "amountBaseUnits": "1"})
    assert too_much.status_code == 400 and too_much.json["fields"]["amount"]

    expire(gateway.app, w3, receipt_id)
    gateway.run()
    swept = gateway.receipt(receipt_id)
    assert swept["status"] == "expired"
    assert sorted(s["token"] for s in swept["sweeps"]) == ["ETH", "USDC"]
    assert all(e["held"] == "0" for e in swept["ledger"])
    assert_ledger_matches_chain(gateway, receipt_id, balance_of)

    requoted = gateway.app.test_client().post(f"/pay/{receipt_id}/requote")
    assert requoted.status_code == 303
    assert gateway.receipt(receipt_id)["status"] == "generated"


# ---- item 3: a late ETH payment at the market when it arrived

def eth_receipt(api, receipt_id: str) -> dict:
    receipt = api(f"receipts/{receipt_id}").json["receipt"]
    [payment] = [p for p in receipt["payments"] if p["token"] == "ETH"]
    return {"status": receipt["status"], "exception": receipt["exceptionStatus"], "rate": payment.get("usdRate"),
            "usd": payment["usd"]}


def test_a_late_eth_payment_is_valued_at_the_feed_at_its_block_never_above_the_quote(gateway, api, w3, contracts,
                                                                                        accounts):
    fell, rose = gateway.order(), gateway.order()  # quoted at $3,000
    for receipt in (fell, rose):
        expire(gateway.app, w3, receipt["receiptId"])
    set_eth_price(w3, contracts, accounts, 2000)
    send_eth(w3, accounts.shopper, fell["depositAddress"], quote(fell, "ETH"))
    set_eth_price(w3, contracts, accounts, 4000)
    send_eth(w3, accounts.shopper, rose["depositAddress"], quote(rose, "ETH"))
    set_eth_price(w3, contracts, accounts, 3500)  # now: neither payment's price
    mine(w3, CONFIRMATIONS)
    gateway.watch()

    total = Decimal(fell["totalUsd"])
    short = (total * 2 / 3).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    assert eth_receipt(api, fell["receiptId"]) == {"status": "pending", "exception": "paid_partial", "rate": 2000,
                                                   "usd": short}
    assert eth_receipt(api, rose["receiptId"]) == {"status": "paid", "exception": "paid_late", "rate": 3000,
                                                   "usd": total}
    page = gateway.app.test_client().get(f"/pay/{fell['receiptId']}/status").json
    assert page["state"] == "partial" and Decimal(str(page["dueUsd"])) == total - short


def test_a_late_eth_payment_is_valued_at_the_current_price_when_the_feed_has_no_history(gateway, api, w3,
                                                                                          contracts, accounts):
    receipt = gateway.order()
    expire(gateway.app, w3, receipt["receiptId"])
    send_eth(w3, accounts.shopper, receipt["depositAddress"], quote(receipt, "ETH"))
    newer = deploy(w3, "MockV3Aggregator", 8, 2500 * 10**8, sender=accounts.platform)  # after the payment
    mine(w3, CONFIRMATIONS)
    gateway.settings = replace(gateway.settings, eth_usd_feed=newer.address)
    gateway.watch()
    valued = eth_receipt(api, receipt["receiptId"])
    assert (valued["rate"], valued["status"], valued["exception"]) == (2500, "pending", "paid_partial")


# ---- item 5: refunds against confirmed money, in exact units

def test_a_refund_request_counts_only_confirmed_payments(gateway, api, w3, contracts, accounts):
    receipt = gateway.order()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    gateway.watch()  # seen, not yet confirmed: a reorg may still take it away
    body = {"token": "USDC", "amount": str(receipt["totalUsd"])}
    early = api(f"receipts/{receipt['receiptId']}/refund", body)
    assert early.status_code == 400 and "0.00 USD received" in early.json["message"]
    mine(w3, CONFIRMATIONS)
    gateway.watch()
    assert api(f"receipts/{receipt['receiptId']}/refund", body).status_code == 201


@pytest.fixture
def eth_paid(gateway, w3, accounts):
    receipt = gateway.order()
    send_eth(w3, accounts.shopper, receipt["depositAddress"], quote(receipt, "ETH"))
    gateway.run()
    paid = gateway.receipt(receipt["receiptId"])
    assert paid["status"] == "completed" and paid["exceptionStatus"] is None
    return paid


def test_an_eth_refund_of_exactly_the_wei_received_is_accepted(api, eth_paid):
    wei = quote(eth_paid, "ETH")
    response = api(f"receipts/{eth_paid['receiptId']}/refund", {"token": "ETH", "amountBaseUnits": str(wei)})
    assert response.status_code == 201, response.json
    assert Decimal(str(response.json["refund"]["usd"])) == Decimal(str(eth_paid["totalUsd"]))


def test_a_usd_refund_of_everything_received_pays_back_every_wei(api, eth_paid):
    response = api(f"receipts/{eth_paid['receiptId']}/refund", {"token": "ETH", "amount": str(eth_paid["totalUsd"])})
    assert response.status_code == 201, response.json
    assert response.json["refund"]["amount"] == str(quote(eth_paid, "ETH"))


# ---- item 6: paid_over after completion, late or not

def test_a_top_up_after_completion_past_expiry_is_flagged_paid_over(gateway, w3, contracts, accounts):
    receipt = gateway.order()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
    gateway.run()
    assert gateway.receipt(receipt["receiptId"])["status"] == "completed"
    expire(gateway.app, w3, receipt["receiptId"])
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], 1_000_000)
    mine(w3, CONFIRMATIONS)
    gateway.watch()
    topped = gateway.receipt(receipt["receiptId"])
    assert (topped["status"], topped["exceptionStatus"]) == ("completed", "paid_over")
    assert [p["late"] for p in topped["payments"]] == [False, True]
