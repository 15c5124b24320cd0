"""The pay page in a real headless Chromium (Debian's, driven by Playwright) against `tillpoint dev`:
read the QR off the rendered page, pay on anvil, and watch the open page turn paid without a reload.

Screenshots (phone-sized) go to tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect, sync_playwright
from web3 import HTTPProvider, Web3

from app.chain import devchain, eip681
from app.config import read_env_file
from tests.helpers.processes import TILLPOINT, call

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
# Known to work on these machines: without the networking flags Chromium keeps calling home and is refused.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CART = {"items": [{"sku": "COFFEE-001", "qty": 2}, {"sku": "PASTRY-001", "qty": 1}], "jurisdictionCode": "US-CA"}
PAID_WITHIN_MS = 30_000  # one block a second, two confirmations, on a loaded two-core machine
PAID_OR_SETTLED = re.compile(r"^(Paid — settling|Completed)$")


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install -y chromium); .ci/run does"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("response", lambda r: page.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    yield page
    context.close()


def new_order(demo) -> dict:
    return call(demo["Server"] + "/api/orders", demo["API key"], CART)["receipt"]


def read_qr(page, token: str) -> str:
    """Return the text of the QR code as the browser rendered it (an element screenshot, decoded)."""
    shot = ARTIFACTS / f"qr-{token}.png"
    page.locator(f"#option-{token} .qr img").screenshot(path=str(shot))
    found = zxingcpp.read_barcodes(Image.open(shot))
    assert len(found) == 1, "exactly one QR code on the image"
    return found[0].text


def test_shopper_scans_pays_and_sees_it_paid_without_reload(demo, demo_env, phone):
    ARTIFACTS.mkdir(exist_ok=True)
    receipt = new_order(demo)
    phone.goto(receipt["paymentUrl"])
    expect(phone.locator("#status-title")).to_have_text("Waiting for payment")
    expect(phone.locator("#countdown-left")).to_contain_text(":")  # pay.js ticks it in m:ss
    expect(phone.locator("#option-USDC .copy").first).to_be_visible()
    phone.screenshot(path=str(ARTIFACTS / "pay-page-before.png"), full_page=True)

    usdc = next(q for q in receipt["quotes"] if q["token"] == "USDC")
    assert read_qr(phone, "USDC") == usdc["uri"]
    request = eip681.parse(usdc["uri"])
    assert (request.to, request.amount) == (receipt["depositAddress"], 12_650_000)

    phone.locator('.token[data-token="ETH"]').click()
    expect(phone.locator("#option-ETH")).to_be_visible()
    expect(phone.locator("#option-USDC")).to_be_hidden()
    eth = next(q for q in receipt["quotes"] if q["token"] == "ETH")
    assert read_qr(phone, "ETH") == eth["uri"]

    phone.evaluate("window.__sameDocument = true")
    paid = subprocess.run([str(TILLPOINT), "simulate-payment", receipt["receiptId"], "--token", "USDC", "--json"],
                          env=demo_env, capture_output=True, text=True, timeout=60)
    assert paid.returncode == 0 and json.loads(paid.stdout)["status"] == 1, paid.stderr
    # Paid, then swept into the split by the settler a few blocks later: the page follows both.
    expect(phone.locator("#status-title")).to_have_text("Completed", timeout=PAID_WITHIN_MS)
    assert phone.evaluate("window.__sameDocument") is True, "updated in place, never reloaded"
    expect(phone.locator("#pay")).to_be_hidden()
    expect(phone.locator("#payments li")).to_contain_text(json.loads(paid.stdout)["txHash"][:10])
    phone.screenshot(path=str(ARTIFACTS / "pay-page-after.png"), full_page=True)
    assert phone.problems == [], "no console error (a CSP violation would show here)"


def test_browser_wallet_switches_chain_and_sends_exactly_the_quote(demo, demo_env, phone):
    """An EIP-1193 provider injected into the page, forwarding to anvil from the dev shopper's account."""
    settings = read_env_file(Path(demo_env["TILLPOINT_INSTANCE"]) / "dev.env")
    w3 = Web3(HTTPProvider(settings["RPC_URL"]))
    shopper = w3.eth.accounts[devchain.SHOPPER]
    asked = []

    def wallet(source, method: str, params):
        asked.append(method)
        if method == "eth_requestAccounts":
            return [shopper]
        if method == "eth_chainId":
            return "0x1"  # the wallet starts on mainnet, so the page must ask to switch
        if method == "wallet_switchEthereumChain":
            assert params == [{"chainId": hex(w3.eth.chain_id)}]
            return None
        assert method == "eth_sendTransaction" and params[0]["from"] == shopper
        answer = w3.provider.make_request("eth_sendTransaction", params)  # exactly what the page built
        assert "result" in answer, answer
        return answer["result"]

    phone.expose_binding("walletRequest", lambda source, m, p: wallet(source, m, p))
    phone.add_init_script(
        "window.ethereum = { request: ({ method, params }) => window.walletRequest(method, params || []) };")
    receipt = new_order(demo)
    phone.goto(receipt["paymentUrl"] + "?token=USDC")
    button = phone.locator("#option-USDC .wallet-pay")
    expect(button).to_be_visible()
    button.click()
    expect(phone.locator("#option-USDC .wallet-status")).to_contain_text("Sent")
    assert asked == ["eth_requestAccounts", "eth_chainId", "wallet_switchEthereumChain", "eth_sendTransaction"]
    expect(phone.locator("#status-title")).to_have_text(PAID_OR_SETTLED, timeout=PAID_WITHIN_MS)
    assert phone.problems == []
