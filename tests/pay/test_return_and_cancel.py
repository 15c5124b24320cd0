"""The pay page's way back to the shop once paid (redirectUrl), and a cancelled order's page."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.domain.checkout import return_url
from app.domain.pricing import parse_fee_tiers
from app.services import orders
from app.services import live_status as events
from tests.helpers.pay import fixed_eth_price, usdc_units

SHOP_URL = "https://shop.example/orders/done?ref=a%20b&lang=en#top"


@pytest.fixture
def order_with_redirect(in_app, shop, chain):
    """Create the default $12.65 order with a redirectUrl; return its receipt id."""

    def make(redirect_url: str | None = SHOP_URL) -> str:
        settings = orders.OrderSettings(fee_tiers=parse_fee_tiers("0:50"), quote_ttl=timedelta(minutes=15),
                                        chains=(chain,), read_eth_price=lambda _chain: fixed_eth_price())
        request = orders.OrderRequest(items=[{"sku": "COFFEE-001", "qty": 2}, {"sku": "PASTRY-001", "qty": 1}],
                                      jurisdiction_code="US-CA", tax_rate=None, tax_components=None,
                                      redirect_url=redirect_url)
        with in_app():
            return orders.create_order(shop.merchant, request, settings, actor="test")[0].receipt_id

    return make


def html_of(client, receipt_id) -> tuple:
    response = client.get(f"/pay/{receipt_id}")
    assert response.status_code == 200
    return response, response.get_data(as_text=True)


def return_block(html: str) -> str | None:
    match = re.search(r'<p id="return"[^>]*>.*?</p>', html, re.S)
    return match.group(0) if match else None


@pytest.mark.parametrize("reach", [
    lambda rid, pay, set_status: pay(rid, "USDC", usdc_units("12.65")),
    lambda rid, pay, set_status: (pay(rid, "USDC", usdc_units("12.65")), set_status(rid, "completed")),
], ids=["paid", "completed"])
def test_a_paid_or_completed_order_links_back_to_the_shop(pay_client, order_with_redirect, pay, set_status, reach):
    receipt_id = order_with_redirect()
    reach(receipt_id, pay, set_status)
    response, html = html_of(pay_client, receipt_id)
    block = return_block(html)
    expected = f"https://shop.example/orders/done?ref=a%20b&amp;lang=en&amp;receiptId={receipt_id}#top"
    assert block is not None and "hidden" not in block.split(">")[0]
    assert re.search(rf'<a id="return-link" class="button primary" href="{re.escape(expected)}" rel="noopener">'
                     r"Return to My Coffee Shop</a>", block), block
    status = pay_client.get(f"/pay/{receipt_id}/status").json
    assert status["returnUrl"] == expected.replace("&amp;", "&")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [] and " style=" not in html


@pytest.mark.parametrize("reach", [
    lambda rid, pay, set_status: None,
    lambda rid, pay, set_status: pay(rid, "USDC", usdc_units("12.65"), block=100, head=100),
    lambda rid, pay, set_status: pay(rid, "USDC", usdc_units("5.00")),
    lambda rid, pay, set_status: set_status(rid, "expired"),
    lambda rid, pay, set_status: (pay(rid, "USDC", usdc_units("12.65")), set_status(rid, "refunded")),
    lambda rid, pay, set_status: set_status(rid, "cancelled"),
], ids=["waiting", "seen", "partial", "expired", "refunded", "cancelled"])
def test_no_way_back_in_any_other_state(pay_client, order_with_redirect, pay, set_status, reach):
    receipt_id = order_with_redirect()
    reach(receipt_id, pay, set_status)
    _, html = html_of(pay_client, receipt_id)
    block = return_block(html)
    assert block is not None and "hidden" in block.split(">")[0] and "href=" not in block
    assert "shop.example" not in html and "receiptId=" not in html
    assert pay_client.get(f"/pay/{receipt_id}/status").json["returnUrl"] is None


def test_an_order_without_redirect_url_has_no_return_link(pay_client, order_with_redirect, pay):
    receipt_id = order_with_redirect(None)
    pay(receipt_id, "USDC", usdc_units("12.65"))
    _, html = html_of(pay_client, receipt_id)
    assert return_block(html) is None and "Return to" not in html
    assert pay_client.get(f"/pay/{receipt_id}/status").json["returnUrl"] is None


@pytest.mark.parametrize("url, expected", [
    ("https://s.example", "https://s.example?receiptId=R-X"),
    ("https://s.example/done", "https://s.example/done?receiptId=R-X"),
    ("https://s.example/done?", "https://s.example/done?receiptId=R-X"),
    ("https://s.example/done?a=1&b=", "https://s.example/done?a=1&b=&receiptId=R-X"),
    ("https://s.example/done?q=%2B+x&flag", "https://s.example/done?q=%2B+x&flag&receiptId=R-X"),
    ("https://s.example/done?receiptId=old&a=1", "https://s.example/done?a=1&receiptId=R-X"),
    ("https://s.example/done?receipt%49d=old", "https://s.example/done?receiptId=R-X"),
    ("https://s.example/done#frag?x", "https://s.example/done?receiptId=R-X#frag?x"),
    ("https://s.example:8443/p;params?a=1#f", "https://s.example:8443/p;params?a=1&receiptId=R-X#f"),
], ids=["bare-host", "path", "empty-query", "query", "encoded-kept", "old-receipt-id-replaced",
        "encoded-name-replaced", "fragment", "port-params-fragment"])
def test_return_url_merges_the_receipt_id_into_the_query(url, expected):
    assert return_url(url, "paid", "R-X") == expected
    assert return_url(url, "pending", "R-X") is None


def cancel(pay_client, shop, receipt_id):
    return pay_client.post(f"/api/receipts/{receipt_id}/cancel", headers=shop.headers)


def test_a_cancelled_order_says_so_and_offers_no_payment(pay_app, pay_client, make_order, shop):
    receipt_id = make_order()
    with pay_app.app_context(), events.Subscription(receipt_id) as page:
        assert cancel(pay_client, shop, receipt_id).status_code == 200
        assert page.wait(0) is True, "an open page is told at once"
    _, html = html_of(pay_client, receipt_id)
    assert 'data-state="cancelled"' in html and '<h2 id="status-title">Cancelled</h2>' in html
    assert "The merchant cancelled this order. Do not send a payment" in html
    assert 'id="pay"' not in html and 'class="option"' not in html and "/qr/" not in html
    assert 'id="countdown"' not in html and "0x" not in html.split('id="status"')[1].split("</section>")[0]
    assert "hidden" in re.search(r'<form id="requote"[^>]*>', html).group(0)
    status = pay_client.get(f"/pay/{receipt_id}/status").json
    assert (status["state"], status["options"], status["title"]) == ("cancelled", [], "Cancelled")
    for fmt in ("png", "svg"):
        assert pay_client.get(f"/pay/{receipt_id}/qr/USDC.{fmt}").status_code == 404


def test_a_cancelled_expired_order_cannot_be_requoted(pay_client, make_order, shop, set_status):
    from app.models import utcnow

    receipt_id = make_order()
    set_status(receipt_id, "expired", utcnow() - timedelta(minutes=5))
    assert cancel(pay_client, shop, receipt_id).status_code == 200
    response = pay_client.post(f"/pay/{receipt_id}/requote")
    assert response.status_code == 409 and "cancelled" in response.get_data(as_text=True)
