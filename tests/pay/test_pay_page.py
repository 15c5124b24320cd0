"""The pay page and the printable receipt, in every state, rendered by the real app from real orders."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from PIL import Image

from app import create_app
from app.models import Order, Refund, utcnow
from tests.helpers.db import drop_connections
from tests.helpers.pay import usdc_units

ETH_QUOTE = 4_217_000_000_000_000  # $12.65 at $3,000.00, rounded up to a multiple of 10^12 wei


def page(client, receipt_id, **query):
    response = client.get(f"/pay/{receipt_id}", query_string=query)
    assert response.status_code == 200
    return response, response.get_data(as_text=True)


def option(html: str, token: str) -> str:
    match = re.search(rf'<div class="option" id="option-{token}"[^>]*>(.*?)</div>'
                      r'\s*(?=<div class="option"|<p class="note")', html, re.S)
    assert match, token
    return match.group(0)


def test_page_shows_merchant_lines_totals_and_what_to_send(pay_client, make_order):
    receipt_id = make_order()
    response, html = page(pay_client, receipt_id)
    assert "My Coffee Shop" in html and receipt_id in html
    for text in ("COFFEE-001", "PASTRY-001", "$7.00", "$4.50", "Subtotal", "$11.50", "Tax (9.5%, US-CA)", "$1.09",
                 "Processing fee", "$0.06", "$12.65"):
        assert text in html, text
    usdc = option(html, "USDC")
    assert "hidden" not in usdc.split(">")[0], "the first token is chosen"
    assert '<code class="amount">12.65</code> USDC' in usdc
    assert "Base <span class=\"muted\">(chain id 8453)" in usdc
    assert re.search(r'<code class="address">0x[0-9a-fA-F]{40}</code>', usdc)
    assert f"/pay/{receipt_id}/qr/USDC.png?v=" in usdc
    assert usdc.count('class="copy"') == 3, "amount, address and token contract"
    assert 'class="button wallet-pay" hidden' in usdc and 'data-amount="12650000"' in usdc
    assert 'id="countdown"' in html and "min left)" in html
    assert "Waiting for payment" in html


def test_token_choice_works_without_javascript(pay_client, make_order):
    receipt_id = make_order()
    _, html = page(pay_client, receipt_id, token="ETH")
    assert "hidden" not in option(html, "ETH").split(">")[0]
    assert "hidden" in option(html, "USDC").split(">")[0]
    assert '<code class="amount">0.004217</code> ETH' in option(html, "ETH")
    assert f'data-amount="{ETH_QUOTE}"' in option(html, "ETH") and 'data-token-address=""' in option(html, "ETH")
    _, html = page(pay_client, receipt_id, token="DOGE")
    assert "hidden" not in option(html, "USDC").split(">")[0], "an unknown token falls back to the first"


def test_page_sends_strict_csp_and_has_no_inline_script_or_style(pay_client, make_order):
    response, html = page(pay_client, make_order())
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert " style=" not in html and "<style" not in html and " on" + "click=" not in html


# state → (how to reach it, title, words in the message)
STATES = {
    "waiting": (lambda rid, pay, set_status: None, "Waiting for payment", "before the quote expires"),
    "seen": (lambda rid, pay, set_status: pay(rid, "USDC", usdc_units("12.65"), block=100, head=100),
             "Payment seen", "Waiting for 1 more confirmation on Base"),
    "partial": (lambda rid, pay, set_status: pay(rid, "USDC", usdc_units("5.00")),
                "Partially paid", "Received $5.00; $7.65 is still due"),
    "settling": (lambda rid, pay, set_status: pay(rid, "ETH", ETH_QUOTE), "Paid — settling", "being settled"),
    "overpaid": (lambda rid, pay, set_status: pay(rid, "USDT", usdc_units("20.00")),
                 "Overpaid", "Received $20.00, $7.35 more than the total"),
    "late": (lambda rid, pay, set_status: pay(rid, "USDC", usdc_units("12.65"), late=True),
             "Paid late", "arrived after the quote expired"),
    "completed": (lambda rid, pay, set_status: (pay(rid, "USDC", usdc_units("12.65")), set_status(rid, "completed")),
                  "Completed", "settled to the merchant"),
    "refunded": (lambda rid, pay, set_status: (pay(rid, "USDC", usdc_units("12.65")), set_status(rid, "refunded")),
                 "Refunded", "refunded this order"),
    "expired": (lambda rid, pay, set_status: set_status(rid, "expired", utcnow() - timedelta(minutes=1)),
                "Expired", "Get a new quote"),
    "expired-not-yet-marked": (lambda rid, pay, set_status: set_status(rid, "generated",
                                                                       utcnow() - timedelta(seconds=1)),
                               "Expired", "Get a new quote"),
}


@pytest.mark.parametrize("state", list(STATES), ids=list(STATES))
def test_every_state_is_told_in_plain_words(pay_client, make_order, pay, set_status, state):
    reach, title, words = STATES[state]
    receipt_id = make_order()
    reach(receipt_id, pay, set_status)
    _, html = page(pay_client, receipt_id)
    assert f'data-state="{state.removesuffix("-not-yet-marked")}"' in html
    assert f'<h2 id="status-title">{title}</h2>' in html
    assert words in html
    requote_form = re.search(r'<form id="requote"[^>]*>', html).group(0)
    assert ("hidden" not in requote_form) == state.startswith("expired")


def test_partial_payment_asks_for_exactly_what_is_due_in_each_token(pay_client, make_order, pay):
    receipt_id = make_order()
    pay(receipt_id, "USDC", usdc_units("5.00"))
    _, html = page(pay_client, receipt_id)
    assert '<code class="amount">7.65</code> USDC' in option(html, "USDC")
    assert 'data-amount="2550000000000000"' in option(html, "ETH"), "$7.65 at $3,000, rounded up to 10^12 wei"


def test_thumbnails_and_logo_are_shown(pay_client, make_order, shop, client):
    image = io.BytesIO()
    Image.new("RGB", (200, 200), (10, 120, 200)).save(image, "PNG")
    headers = {**shop.headers, "Content-Type": "image/png"}
    thumb = client.post(f"/api/inventory/{shop.items['COFFEE-001'].id}/image", data=image.getvalue(),
                        headers=headers).json
    logo = client.post("/api/shop/logo", data=image.getvalue(), headers=headers).json
    _, html = page(pay_client, make_order())
    assert f'<img class="thumb" src="{thumb["image"]}"' in html
    assert f'<img class="logo" src="{logo["image"]}"' in html
    assert html.count('class="thumb placeholder"') == 1, "the croissant has no picture"


def test_changed_or_removed_pictures_replace_the_ones_a_page_already_showed(pay_client, make_order, shop, client):
    def upload(path: str, colour: tuple) -> str:
        image = io.BytesIO()
        Image.new("RGB", (200, 200), colour).save(image, "PNG")
        headers = {**shop.headers, "Content-Type": "image/png"}
        return client.post(path, data=image.getvalue(), headers=headers).json["image"]

    coffee = f"/api/inventory/{shop.items['COFFEE-001'].id}"
    old_thumb, old_logo = upload(f"{coffee}/image", (10, 120, 200)), upload("/api/shop/logo", (10, 120, 200))
    receipt_id = make_order()
    assert old_thumb in page(pay_client, receipt_id)[1], "the pictures are now cached by this process"
    new_thumb, new_logo = upload(f"{coffee}/image", (200, 40, 10)), upload("/api/shop/logo", (200, 40, 10))
    _, html = page(pay_client, receipt_id)
    assert new_thumb != old_thumb and new_logo != old_logo
    assert new_thumb in html and new_logo in html and old_thumb not in html and old_logo not in html
    assert client.delete(coffee, headers=shop.headers).status_code == 200
    _, html = page(pay_client, receipt_id)
    assert new_thumb not in html and html.count('class="thumb placeholder"') == 2, "a removed item shows no picture"


@pytest.mark.postgresql  # a connection the server drops needs a database server
def test_page_and_status_survive_the_database_dropping_their_pooled_connections(pay_client, make_order,
                                                                                database_url):
    receipt_id = make_order()
    for path in (f"/pay/{receipt_id}", f"/pay/{receipt_id}/status"):
        assert pay_client.get(path).status_code == 200, "the pool holds a connection used a moment ago"
        drop_connections(database_url)
        assert pay_client.get(path).status_code == 200, "the read is retried on a fresh connection"


@pytest.mark.parametrize("path", ["/pay/{}", "/receipt/{}", "/pay/{}/status", "/pay/{}/qr/USDC.png"],
                         ids=["page", "receipt", "status", "qr"])
@pytest.mark.parametrize("receipt_id", ["R-AAAAAAAAAAAA", "R-123456", "demo", "R-aaaaaaaaaaaa"],
                         ids=["unknown", "reference-demo-id", "word", "lowercase"])
def test_unknown_or_malformed_receipt_is_404_never_a_demo(pay_client, make_order, path, receipt_id):
    make_order()
    response = pay_client.get(path.format(receipt_id))
    assert response.status_code == 404
    assert response.headers["Content-Security-Policy"] and response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    if path.startswith("/pay/{}/"):
        assert response.json["error"] == "not_found"
    else:
        assert "Receipt not found" in body and "My Coffee Shop" not in body and "0x" not in body


def test_printable_receipt_lists_payments_with_explorer_links(pay_client, make_order, pay):
    receipt_id = make_order()
    first = pay(receipt_id, "USDC", usdc_units("5.00"))
    second = pay(receipt_id, "ETH", 2_550_000_000_000_000)
    response = pay_client.get(f"/receipt/{receipt_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Content-Security-Policy"]
    assert 'href="/static/pay/print.css" media="print"' in html
    for tx, amount in ((first, "5 USDC"), (second, "0.00255 ETH")):
        assert f'<a href="https://basescan.org/tx/{tx}" rel="noreferrer noopener">{tx}</a>' in html
        assert amount in html
    assert "Paid — settling" in html and "$12.65" in html and "Refunds" in html and "None." in html


def test_receipt_without_explorer_shows_plain_hashes(app, make_order, pay, chain):
    from app import create_app

    receipt_id = make_order()
    tx = pay(receipt_id, "USDC", usdc_units("12.65"))
    no_explorer = chain.__class__(**{**chain.__dict__, "explorer_url": ""})
    plain = create_app(app.config["TILLPOINT"].with_overrides(CHAIN=no_explorer))
    html = plain.test_client().get(f"/receipt/{receipt_id}").get_data(as_text=True)
    assert tx in html and "/tx/" not in html


def test_static_assets_are_served(pay_client):
    for name, kind in (("pay.js", "javascript"), ("pay.css", "css"), ("print.css", "css")):
        response = pay_client.get(f"/static/pay/{name}")
        assert response.status_code == 200 and kind in response.content_type


def test_pay_pages_may_be_framed_only_by_the_configured_origins(app, chain, make_order):
    receipt_id = make_order()
    framed = create_app(app.config["TILLPOINT"].with_overrides(CHAIN=chain, PAY_FRAME_ANCESTORS=(
        "https://shop.example",))).test_client()
    for client, sources in ((framed, "https://shop.example"), (create_app(app.config["TILLPOINT"].with_overrides(
            CHAIN=chain)).test_client(), "'none'")):
        response = client.get(f"/pay/{receipt_id}")
        assert response.status_code == 200
        policy = response.headers["Content-Security-Policy"]
        assert policy.count("frame-ancestors") == 1 and f"frame-ancestors {sources}" in policy
        assert ("X-Frame-Options" in response.headers) == (sources == "'none'")
    printable = framed.get(f"/receipt/{receipt_id}")
    assert "frame-ancestors 'none'" in printable.headers["Content-Security-Policy"]


def test_a_paid_order_offers_nothing_more_to_send(pay_client, make_order, pay):
    receipt_id = make_order()
    pay(receipt_id, "USDC", usdc_units("12.65"))
    status = pay_client.get(f"/pay/{receipt_id}/status").json
    assert status["options"] == [] and status["dueUsd"] == 0
    assert pay_client.get(f"/pay/{receipt_id}/qr/USDC.png").status_code == 404
    assert 'id="option-USDC"' not in pay_client.get(f"/pay/{receipt_id}").get_data(as_text=True)


def test_printable_receipt_lists_confirmed_refunds_only(pay_client, make_order, pay, in_app):
    receipt_id = make_order()
    pay(receipt_id, "USDC", usdc_units("12.65"))
    confirmed_tx, requested_to = "0x" + "cd" * 32, "0x" + "99" * 20
    with in_app() as session:
        order = session.scalar(select(Order).where(Order.receipt_id == receipt_id))
        session.add_all([
            Refund(id="rf_confirmed", order_id=order.id, status="confirmed", chain_id=8453, symbol="USDC",
                   amount_base_units=5_000_000,
                   paid_base_units=5_000_000, usd_cents=500, to_address="0x" + "77" * 20, tx_hash=confirmed_tx),
            Refund(id="rf_requested", order_id=order.id, status="requested", chain_id=8453, symbol="USDC",
                   amount_base_units=1_000_000, usd_cents=100, to_address=requested_to)])
        session.commit()
    html = pay_client.get(f"/receipt/{receipt_id}").get_data(as_text=True)
    assert f'<a href="https://basescan.org/tx/{confirmed_tx}" rel="noreferrer noopener">{confirmed_tx}</a>' in html
    assert "5 USDC" in html and "$5.00" in html
    assert "rf_requested" not in html and "$1.00" not in html


def test_payments_show_their_confirmations_until_confirmed(pay_client, make_order, pay):
    receipt_id = make_order()
    pay(receipt_id, "USDC", usdc_units("5.00"), block=100, head=100)
    assert "1/2 confirmations" in pay_client.get(f"/pay/{receipt_id}").get_data(as_text=True)
    pay(receipt_id, "USDC", usdc_units("1.00"), block=101, head=102)
    html = pay_client.get(f"/pay/{receipt_id}").get_data(as_text=True)
    assert "· confirmed</li>" in html and "2/2" not in html and "3/2" not in html
