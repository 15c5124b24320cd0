"""The watcher under load on a real anvil: one merchant's flood of open orders must not stall everyone's payments."""
from __future__ import annotations

import secrets
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from eth_utils import to_checksum_address
from sqlalchemy import insert, select

from app.chain.client import make_web3
from app.extensions import db
from app.models import Order, Quote, utcnow
from app.workers.watcher import Watcher
from tests.helpers.chain import CONFIRMATIONS, mine, pay_token, quote
from tests.helpers.rpc import RecordingRpc

FLOOD = 50_000


def flood_open_orders(in_app, factory, chain_settings, count: int) -> None:
    """Store count unpaid orders of another merchant, each with a deposit address and an ETH quote, in bulk
    (as the API would, without count API calls)."""
    flooder = factory.merchant("Flooder")
    now = utcnow()
    orders = [dict(receipt_id=f"R-FLOOD{n:09d}", merchant_id=flooder.id, status="generated", currency="USD",
                   brand_name="Flooder", line_items=[], subtotal_cents=100, tax_cents=0, fee_cents=0, total_cents=100,
                   tax_rate=Decimal(0), tax_components=[], platform_fee_bps=50, merchant_fee_bps=0, created_at=now,
                   expires_at=now + timedelta(minutes=15), chain_id=chain_settings.chain_id,
                   split_address=flooder.split_address,
                   deposit_address=to_checksum_address("0x" + secrets.token_hex(20)), order_metadata={},
                   event_sequence=0) for n in range(count)]
    with in_app() as session:
        session.execute(insert(Order), orders)
        ids = session.scalars(select(Order.id).where(Order.merchant_id == flooder.id)).all()
        session.execute(insert(Quote), [dict(order_id=i, chain_id=chain_settings.chain_id, symbol="ETH",
                                             token_address=None, decimals=18, amount_base_units=10**15,
                                             usd_rate=Decimal(3000), created_at=now,
                                             expires_at=now + timedelta(minutes=15)) for i in ids])
        session.commit()


@pytest.mark.slow
def test_a_watcher_with_50000_open_orders_keeps_crediting_payments(w3, accounts, contracts, chain_app, chain_settings,
                                                                   new_order, in_app, factory):
    flood_open_orders(in_app, factory, chain_settings, FLOOD)
    receipt = new_order()
    pay_token(w3, contracts.usdc, accounts.shopper, receipt["depositAddress"], quote(receipt, "USDC") // 2)
    w3.eth.send_transaction({"from": accounts.shopper.address, "to": receipt["depositAddress"],
                             "value": quote(receipt, "ETH"), "gas": 21_000})
    mine(w3, CONFIRMATIONS)
    rpc = RecordingRpc(chain_settings.rpc_url)
    try:
        with chain_app.app_context():
            watcher = Watcher(make_web3(rpc.url), replace(chain_settings, rpc_url=rpc.url))
            started = time.monotonic()
            watcher.tick()
            seconds = time.monotonic() - started
            order = db.session.scalar(select(Order).where(Order.receipt_id == receipt["receiptId"]))
            credited = sorted(p.symbol for p in order.payments)
            status = order.status
    finally:
        rpc.close()
    assert credited == ["ETH", "USDC"] and status == "paid"
    assert max(rpc.batch_sizes) <= 100, "every JSON-RPC batch is bounded by RPC_BATCH_MAX"
    print(f"tick over {FLOOD} open orders: {seconds:.1f} s, {len(rpc.batch_sizes)} batches")
