"""Refund claim links on a real anvil: the shopper (who paid from an exchange) says where the refund goes."""
# The refund fixtures (api, paid_order, refund_wallet) are test_refunds.py's, imported: F811 is pytest's usual.
# ruff: noqa: F811
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from sqlalchemy import select, update

from app.models import RefundClaim, utcnow
from tests.chain.test_refunds import api, link, paid_order, refund, refund_wallet, send  # noqa: F401  (fixtures)


def claim_link(api, receipt: dict, refund_id: str) -> str:
    """Return the path of a new claim link for the refund."""
    response = api(f"receipts/{receipt['receiptId']}/refunds/{refund_id}/claim-link", {})
    assert response.status_code == 201, response.json
    assert response.json["expiresAt"] > 0
    return re.sub(r"^https?://[^/]+", "", response.json["url"])


def open_form(client, path: str) -> str:
    """Open the claim page; return its form's CSRF token."""
    page = client.get(path)
    assert page.status_code == 200, page.data
    return re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_the_shopper_gives_the_address_and_the_merchant_refunds_there(gateway, api, paid_order, settle_app, w3,
                                                                      contracts, accounts):
    requested = refund(api, paid_order, amountBaseUnits="2000000")
    assert requested["to"] == accounts.shopper.address and requested["toSource"] == "payer"
    path = claim_link(api, paid_order, requested["refundId"])
    shopper = settle_app.test_client()
    page = shopper.get(path)
    html = page.get_data(as_text=True)
    assert "2 USDC" in html and paid_order["receiptId"] in html and "<script" not in html
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    own_wallet = accounts.all[6].address

    done = shopper.post(path, data={"address": own_wallet, "csrf": open_form(shopper, path)})

    assert done.status_code == 200 and own_wallet in done.get_data(as_text=True)
    claimed = api(f"receipts/{paid_order['receiptId']}").json["receipt"]["refunds"][0]
    assert (claimed["to"], claimed["toSource"]) == (own_wallet, "claim")
    to_payer = send(w3, contracts, accounts, "USDC", accounts.shopper.address, 2_000_000)
    assert link(api, paid_order, requested["refundId"], to_payer).status_code == 400, "the payer is no longer it"
    assert link(api, paid_order, requested["refundId"],
                send(w3, contracts, accounts, "USDC", own_wallet, 2_000_000)).status_code == 200
    gateway.run(2)
    assert gateway.receipt(paid_order["receiptId"])["refunds"][0]["status"] == "confirmed"


def test_a_claim_link_works_once(api, paid_order, settle_app, accounts):
    requested = refund(api, paid_order, amountBaseUnits="1000000")
    path = claim_link(api, paid_order, requested["refundId"])
    shopper = settle_app.test_client()
    csrf = open_form(shopper, path)
    assert shopper.post(path, data={"address": accounts.all[6].address, "csrf": csrf}).status_code == 200

    again = shopper.post(path, data={"address": accounts.all[7].address, "csrf": csrf})

    assert again.status_code == 404 and "already used" in again.get_data(as_text=True)
    assert shopper.get(path).status_code == 404
    assert api(f"receipts/{paid_order['receiptId']}").json["receipt"]["refunds"][0]["to"] == accounts.all[6].address


def test_a_claim_link_expires(api, paid_order, settle_app, accounts, in_app):
    requested = refund(api, paid_order, amountBaseUnits="1000000")
    path = claim_link(api, paid_order, requested["refundId"])
    shopper = settle_app.test_client()
    csrf = open_form(shopper, path)
    with in_app() as session:
        session.execute(update(RefundClaim).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()

    late = shopper.post(path, data={"address": accounts.all[6].address, "csrf": csrf})

    assert late.status_code == 404 and shopper.get(path).status_code == 404
    assert api(f"receipts/{paid_order['receiptId']}").json["receipt"]["refunds"][0]["to"] == accounts.shopper.address


def test_a_claim_link_is_stored_hashed_and_a_new_one_replaces_the_unused_one(api, paid_order, settle_app, in_app):
    requested = refund(api, paid_order, amountBaseUnits="1000000")
    first = claim_link(api, paid_order, requested["refundId"])
    second = claim_link(api, paid_order, requested["refundId"])
    with in_app() as session:
        stored = session.scalars(select(RefundClaim.token_hash)).all()
    assert stored == [hashlib.sha256(second.rsplit("/", 1)[1].encode()).hexdigest()]
    assert settle_app.test_client().get(first).status_code == 404
    assert settle_app.test_client().get("/refund/" + "A" * 43).status_code == 404


def test_the_claim_form_needs_its_csrf_token(api, paid_order, settle_app, accounts):
    requested = refund(api, paid_order, amountBaseUnits="1000000")
    path = claim_link(api, paid_order, requested["refundId"])
    victim = settle_app.test_client()
    csrf = open_form(victim, path)
    forged = settle_app.test_client()  # another site's form: no cookie of this path
    for client, data in ((forged, {"address": accounts.all[7].address, "csrf": csrf}),
                         (victim, {"address": accounts.all[7].address}),
                         (victim, {"address": accounts.all[7].address, "csrf": "guess"})):
        response = client.post(path, data=data)
        assert response.status_code == 403 and "text/html" in response.content_type
    assert api(f"receipts/{paid_order['receiptId']}").json["receipt"]["refunds"][0]["toSource"] == "payer"


def test_the_shopper_cannot_be_steered_to_the_merchants_own_addresses(api, paid_order, settle_app, accounts,
                                                                       contracts):
    requested = refund(api, paid_order, amountBaseUnits="1000000")
    path = claim_link(api, paid_order, requested["refundId"])
    shopper = settle_app.test_client()
    csrf = open_form(shopper, path)
    mixed = accounts.all[6].address
    letter = next(i for i, c in enumerate(mixed) if i > 1 and c.isalpha())
    typo = mixed[:letter] + mixed[letter].swapcase() + mixed[letter + 1:]  # one letter's case: a broken checksum
    for address, says in ((accounts.merchant.address, "belongs to the shop"),
                          (paid_order["depositAddress"], "belongs to the shop"),
                          (contracts.split.address, "belongs to the shop"),
                          ("0x1234", "0x followed by 40 hex"), (typo, "checksum")):
        response = shopper.post(path, data={"address": address, "csrf": csrf})
        assert response.status_code == 400 and says in response.get_data(as_text=True), address
    assert shopper.post(path, data={"address": mixed, "csrf": csrf}).status_code == 200, "the link was not used up"


def test_a_claim_link_needs_a_requested_refund_of_the_callers_order(api, paid_order, settle_app, factory, w3,
                                                                     contracts, accounts):
    requested = refund(api, paid_order, amountBaseUnits="1000000")
    stranger = {"x-api-key": factory.key(factory.merchant("Other Shop"))}
    url = f"/api/receipts/{paid_order['receiptId']}/refunds/{requested['refundId']}/claim-link"
    assert settle_app.test_client().post(url, headers=stranger).status_code == 404
    assert link(api, paid_order, requested["refundId"],
                send(w3, contracts, accounts, "USDC", accounts.shopper.address, 1_000_000)).status_code == 200
    submitted = api(url[len("/api/"):], {})
    assert (submitted.status_code, submitted.json["error"]) == (409, "conflict")
