"""Pay page fixtures: an app with a chain configured offline (deposit addresses and quotes need no RPC),
orders made through the real service with a fixed ETH price, and payments applied by the real service."""
from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest

from app import create_app
from app.chain.settings import ChainSettings, parse_tokens
from app.domain import settlement
from app.domain.pricing import parse_fee_tiers
from app.models import ChainCursor, Order, Payment, utcnow
from app.services import orders, payments
from app.services.checkout import find_order
from tests.helpers.pay import FACTORY, USDC, USDT, fixed_eth_price


@pytest.fixture(scope="session")
def chain() -> ChainSettings:
    return ChainSettings(factory=FACTORY, eth_usd_feed="0x" + "55" * 20, network_name="Base", chain_id=8453,
                         confirmations=2, explorer_url="https://basescan.org",
                         tokens=parse_tokens(f"USDC:{USDC}:6,USDT:{USDT}:6"))


@pytest.fixture(scope="session")
def pay_app(app, chain):
    return create_app(app.config["TILLPOINT"].with_overrides(CHAIN=chain))


@pytest.fixture
def pay_client(pay_app):
    return pay_app.test_client()


@pytest.fixture
def make_order(in_app, shop, chain):
    """Create an order for the shop's items (default: 2 coffees + 1 pastry in US-CA = $12.65); return its id."""

    def make(items=None, ttl=timedelta(minutes=15)) -> str:
        settings = orders.OrderSettings(fee_tiers=parse_fee_tiers("0:50"), quote_ttl=ttl, chains=(chain,),
                                        read_eth_price=lambda _chain: fixed_eth_price())
        request = orders.OrderRequest(items=items or [{"sku": "COFFEE-001", "qty": 2}, {"sku": "PASTRY-001", "qty": 1}],
                                      jurisdiction_code="US-CA", tax_rate=None, tax_components=None)
        with in_app():
            order, _ = orders.create_order(shop.merchant, request, settings, actor="test")
            return order.receipt_id

    return make


@pytest.fixture
def pay(in_app, chain):
    """Record a transfer to the order's deposit address at block, then refresh its status with the chain at head."""
    serial = count(1)

    def pay_(receipt_id: str, symbol: str, amount: int, block: int = 100, head: int = 101, late: bool = False) -> str:
        with in_app() as session:
            order = find_order(receipt_id, lock=True)
            tx = "0x" + f"{next(serial):064x}"
            session.add(Payment(order_id=order.id, chain_id=chain.chain_id, tx_hash=tx,
                                log_index=0 if symbol != "ETH" else -1, block_number=block, block_hash="0x" + "ab" * 32,
                                block_time=order.expires_at + timedelta(seconds=1) if late else utcnow(),
                                symbol=symbol, token_address=None, from_address="0x" + "77" * 20,
                                amount_base_units=amount, late=late,
                                usd_cents=settlement.usd_cents(settlement.rates(order.quotes), (chain.chain_id, symbol),
                                                              amount),
                                unquoted=symbol not in {q.symbol for q in order.quotes}))
            cursor = session.get(ChainCursor, chain.chain_id)
            if cursor is None:
                session.add(ChainCursor(chain_id=chain.chain_id, block_number=head))
            else:
                cursor.block_number = head
            session.flush()
            payments.refresh_status(order, {chain.chain_id: settlement.ChainView(head, chain.confirmations)})
            session.commit()
            return tx

    return pay_


@pytest.fixture
def set_status(in_app):
    """Force an order's status (for states other services reach: completed, refunded)."""

    def set_(receipt_id: str, status: str, expires_at=None) -> None:
        with in_app() as session:
            order = session.query(Order).filter_by(receipt_id=receipt_id).one()
            order.status = status
            if expires_at is not None:
                order.expires_at = expires_at
            session.commit()

    return set_
