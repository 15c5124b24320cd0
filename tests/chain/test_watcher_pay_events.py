"""The watcher tells open pay pages after it commits: on a payment and on each confirmation."""
from __future__ import annotations

from app.chain.client import make_web3
from app.services import live_status as events
from app.workers.watcher import Watcher
from tests.helpers.chain import CONFIRMATIONS, mine, pay_token, quote


def test_watcher_notifies_the_pay_page_of_a_payment_and_its_confirmations(w3, accounts, contracts, new_order,
                                                                          chain_app, chain_settings):
    receipt, bystander = new_order(), new_order()
    with chain_app.app_context(), events.Subscription(receipt["receiptId"]) as page, \
            events.Subscription(bystander["receiptId"]) as other:
        watcher = Watcher(make_web3(chain_settings.rpc_url), chain_settings)
        watcher.tick()
        assert page.wait(0) is False, "nothing happened to the order"
        pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC"))
        watcher.tick()
        assert page.wait(0) is True, "seen"
        mine(w3, CONFIRMATIONS - 1)
        watcher.tick()
        assert page.wait(0) is True, "paid"
        assert other.wait(0) is False
