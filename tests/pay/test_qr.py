"""QR images: a real decoder reads back the EIP-681 URI; ETags and year-long caching for versioned URLs."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import zxingcpp
from PIL import Image

from app.chain import eip681
from tests.helpers.pay import USDC, usdc_units


def decode(png: bytes) -> str:
    image = Image.open(io.BytesIO(png))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


def status(client, receipt_id) -> dict:
    return {o["token"]: o for o in client.get(f"/pay/{receipt_id}/status").json["options"]}


def test_png_decodes_to_the_quotes_eip681_uri(pay_client, make_order):
    receipt_id = make_order()
    options = status(pay_client, receipt_id)
    for token in ("USDC", "ETH"):
        response = pay_client.get(f"/pay/{receipt_id}/qr/{token}.png")
        assert response.status_code == 200 and response.content_type == "image/png"
        assert decode(response.data) == options[token]["uri"]
    usdc = eip681.parse(decode(pay_client.get(f"/pay/{receipt_id}/qr/USDC.png").data))
    assert (usdc.token, usdc.amount, usdc.chain_id) == (eip681.to_checksum_address(USDC), 12_650_000, 8453)
    eth = eip681.parse(decode(pay_client.get(f"/pay/{receipt_id}/qr/ETH.png").data))
    assert eth.token is None and eth.amount == 4_217_000_000_000_000 and eth.amount % 10**12 == 0


def test_svg_is_a_vector_qr(pay_client, make_order):
    response = pay_client.get(f"/pay/{make_order()}/qr/USDT.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    root = ET.fromstring(response.data)
    assert root.tag.endswith("svg") and any(child.tag.endswith("path") for child in root)


def test_versioned_url_is_cached_for_a_year_with_an_etag(pay_client, make_order):
    receipt_id = make_order()
    version = status(pay_client, receipt_id)["USDC"]["qrVersion"]
    response = pay_client.get(f"/pay/{receipt_id}/qr/USDC.png?v={version}")
    assert response.headers["ETag"] == f'"{version}"'
    cache = response.headers["Cache-Control"]
    assert "max-age=31536000" in cache and "immutable" in cache and "public" in cache
    again = pay_client.get(f"/pay/{receipt_id}/qr/USDC.png?v={version}", headers={"If-None-Match": f'"{version}"'})
    assert again.status_code == 304 and again.data == b""
    for url in (f"/pay/{receipt_id}/qr/USDC.png", f"/pay/{receipt_id}/qr/USDC.png?v=stale"):
        assert pay_client.get(url).headers["Cache-Control"] == "no-cache", "an unversioned URL must revalidate"


def test_after_a_partial_payment_the_qr_asks_for_what_is_due(pay_client, make_order, pay):
    receipt_id = make_order()
    before = status(pay_client, receipt_id)["USDC"]["qrVersion"]
    pay(receipt_id, "USDC", usdc_units("5.00"))
    after = status(pay_client, receipt_id)["USDC"]
    assert after["qrVersion"] != before
    request = eip681.parse(decode(pay_client.get(f"/pay/{receipt_id}/qr/USDC.png?v={after['qrVersion']}").data))
    assert request.amount == usdc_units("7.65")
    stale = pay_client.get(f"/pay/{receipt_id}/qr/USDC.png?v={before}", headers={"If-None-Match": f'"{before}"'})
    assert stale.status_code == 200, "the old image's ETag no longer matches"


def test_unknown_token_or_format_is_not_found(pay_client, make_order):
    receipt_id = make_order()
    response = pay_client.get(f"/pay/{receipt_id}/qr/DOGE.png")
    assert response.status_code == 404 and response.json["error"] == "not_found"
    assert pay_client.get(f"/pay/{receipt_id}/qr/USDC.gif").status_code == 404


def test_a_versioned_url_once_served_is_answered_from_memory_and_never_changes(pay_client, make_order, pay):
    receipt_id = make_order()
    version = status(pay_client, receipt_id)["USDC"]["qrVersion"]
    first = pay_client.get(f"/pay/{receipt_id}/qr/USDC.png?v={version}")
    pay(receipt_id, "USDC", usdc_units("5.00"))  # what is due changes; that URL still names the old URI
    again = pay_client.get(f"/pay/{receipt_id}/qr/USDC.png?v={version}")
    assert again.data == first.data and "immutable" in again.headers["Cache-Control"]
    current = pay_client.get(f"/pay/{receipt_id}/qr/USDC.png")
    assert eip681.parse(decode(current.data)).amount == usdc_units("7.65")
    assert pay_client.get(f"/pay/R-AAAAAAAAAAAA/qr/USDC.png?v={version}").status_code == 404, "keyed by receipt"
