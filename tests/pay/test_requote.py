"""Get a new quote: only for an expired order that received nothing; same deposit address, fresh amounts."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.chain.quotes import EthPrice
from app.models import Order, utcnow
from app.services import live_status as events
from tests.helpers import pay as pay_helpers
from tests.helpers.pay import usdc_units


def order_row(in_app, receipt_id) -> Order:
    with in_app() as session:
        order = session.query(Order).filter_by(receipt_id=receipt_id).one()
        _ = order.quotes, order.history
        return order


@pytest.mark.parametrize("status", ["expired", "generated"], ids=["marked-expired", "lapsed-not-yet-marked"])
def test_expired_unpaid_order_gets_fresh_quotes_at_the_same_address(pay_client, pay_app, in_app, make_order,
                                                                     set_status, monkeypatch, status):
    receipt_id = make_order()
    before = order_row(in_app, receipt_id)
    set_status(receipt_id, status, utcnow() - timedelta(minutes=5))
    monkeypatch.setattr(pay_helpers, "ETH_PRICE", EthPrice(2500_00000000, 8, 0))  # ETH fell to $2,500
    monkeypatch.setattr("app.services.orders.eth_price_reader", lambda chain: pay_helpers.fixed_eth_price)
    with pay_app.app_context(), events.Subscription(receipt_id) as page:
        response = pay_client.post(f"/pay/{receipt_id}/requote")
        assert page.wait(0) is True, "open pages are told"
    assert response.status_code == 303 and response.headers["Location"] == f"/pay/{receipt_id}"
    after = order_row(in_app, receipt_id)
    assert after.status == "generated" and after.expires_at > utcnow() + timedelta(minutes=14)
    assert after.deposit_address == before.deposit_address
    amounts = {q.symbol: q.amount_base_units for q in after.quotes}
    assert amounts == {"USDC": 12_650_000, "USDT": 12_650_000, "ETH": 5_060_000_000_000_000}  # $12.65 / $2,500
    assert all(q.expires_at == after.expires_at for q in after.quotes)
    assert after.history[-1].actor == "shopper" and after.history[-1].cause == {"reason": "requoted"}
    assert pay_client.get(f"/pay/{receipt_id}/status").json["state"] == "waiting"


def test_requote_drops_a_token_that_cannot_be_quoted_now(pay_client, in_app, make_order, set_status, monkeypatch):
    receipt_id = make_order()
    set_status(receipt_id, "expired", utcnow() - timedelta(minutes=5))
    monkeypatch.setattr("app.services.orders.eth_price_reader", lambda chain: lambda: None)  # feed unreadable
    assert pay_client.post(f"/pay/{receipt_id}/requote").status_code == 303
    assert [q.symbol for q in order_row(in_app, receipt_id).quotes] == ["USDC", "USDT"]


def test_page_offers_a_new_quote_as_a_plain_form(pay_client, make_order, set_status):
    receipt_id = make_order()
    set_status(receipt_id, "expired", utcnow() - timedelta(minutes=5))
    html = pay_client.get(f"/pay/{receipt_id}").get_data(as_text=True)
    assert f'<form id="requote" class="requote" method="post" action="/pay/{receipt_id}/requote" >' in html


@pytest.mark.parametrize("setup, message", [
    (lambda rid, pay, set_status: None, "still valid"),
    (lambda rid, pay, set_status: (pay(rid, "USDC", usdc_units("5.00")),
                                   set_status(rid, "pending", utcnow() - timedelta(minutes=5))), "keeps its quote"),
    (lambda rid, pay, set_status: (pay(rid, "USDC", usdc_units("12.65")),
                                   set_status(rid, "paid", utcnow() - timedelta(minutes=5))), "keeps its quote"),
], ids=["quote-still-valid", "partly-paid-and-expired", "paid"])
def test_requote_never_takes_away_what_was_received(pay_client, in_app, make_order, pay, set_status, setup, message):
    receipt_id = make_order()
    setup(receipt_id, pay, set_status)
    before = order_row(in_app, receipt_id)
    response = pay_client.post(f"/pay/{receipt_id}/requote")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert message in html and f'href="/pay/{receipt_id}"' in html and response.headers["Content-Security-Policy"]
    after = order_row(in_app, receipt_id)
    assert (after.status, after.expires_at, [q.amount_base_units for q in after.quotes]) == (
        before.status, before.expires_at, [q.amount_base_units for q in before.quotes])


def test_requote_of_unknown_receipt_is_404(pay_client):
    response = pay_client.post("/pay/R-AAAAAAAAAAAA/requote")
    assert response.status_code == 404 and "Receipt not found" in response.get_data(as_text=True)


def test_dust_and_unaccepted_tokens_never_keep_an_expired_order_from_a_new_quote(pay_client, in_app, make_order, pay,
                                                                                 set_status):
    receipt_id = make_order()
    pay(receipt_id, "USDC", 1)  # one base unit: less than a cent
    pay(receipt_id, "DAI", 10**18)  # a token the order was never quoted in
    assert order_row(in_app, receipt_id).status == "generated"
    set_status(receipt_id, "expired", utcnow() - timedelta(minutes=5))
    status = pay_client.get(f"/pay/{receipt_id}/status").json
    assert status["state"] == "expired" and [p["stray"] for p in status["payments"]] == [True, True]
    html = pay_client.get(f"/pay/{receipt_id}").get_data(as_text=True)
    assert f'<form id="requote" class="requote" method="post" action="/pay/{receipt_id}/requote" >' in html
    assert "does not count towards this order" in html
    assert pay_client.post(f"/pay/{receipt_id}/requote").status_code == 303
    assert order_row(in_app, receipt_id).status == "generated"
