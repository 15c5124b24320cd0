"""/api/ledger/summary: summed by the database over a bounded window, with the same answer as order by order."""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.domain.settlement import AMOUNTS, TokenLedger
from app.domain.statuses import RefundStatus
from app.extensions import db
from app.models import Order, Payment, Quote, Refund, Sweep, utcnow
from app.services import ledger, orders
from tests.api.test_receipts import OFFLINE_CHAIN, counting_statements
from app.domain.pricing import parse_fee_tiers

ETH_RATE = Decimal("3456.789012")
HUGE_WEI = 2**63 + 12_345  # above SQLite's integer range: the sum must stay exact


def reference_summary(merchant, start: datetime | None, end: datetime | None):
    """The summary as it was computed before: every order loaded with its moves, then added up in Python."""
    query = select(Order).options(selectinload(Order.quotes), selectinload(Order.payments),
                                  selectinload(Order.sweeps), selectinload(Order.refunds)).where(
        Order.merchant_id == merchant.id)
    if start is not None:
        query = query.where(Order.created_at >= start)
    if end is not None:
        query = query.where(Order.created_at < end)
    units: dict[tuple[int, str], TokenLedger] = {}
    cents: dict[tuple[int, str], dict[str, int]] = {}
    for order in db.session.scalars(query):
        for asset, entry in ledger.order_ledger(order).items():
            units.setdefault(asset, TokenLedger(token=asset[1], chain_id=asset[0])).add(entry)
            totals = cents.setdefault(asset, dict.fromkeys(AMOUNTS, 0))
            for name, value in ledger.in_usd(order, entry).items():
                totals[name] += value
    return units, cents


def _move(kind, order, serial: int, symbol: str, amount: int, **extra):
    common = dict(order_id=order.id, symbol=symbol, amount_base_units=amount)
    chain = dict(chain_id=8453, tx_hash=f"0x{serial:064x}", log_index=serial % 7, block_number=100 + serial,
                 block_hash="0x" + "ab" * 32, block_time=utcnow())
    if kind is Payment:
        return Payment(**common, **chain, from_address="0x" + "77" * 20, usd_cents=0, **extra)
    if kind is Sweep:
        return Sweep(**common, **chain, verified=True, **extra)
    return Refund(id=f"rf_{serial}", chain_id=8453, **common, usd_cents=0, to_address="0x" + "77" * 20, **extra)


@pytest.fixture
def varied_orders(in_app, shop) -> int:
    """40 orders, some with an ETH quote, paid, swept and refunded in USDC, ETH (beyond 2^63 wei) and an
    unquoted token, with creation times spread over 80 days; returns how many."""
    rng = random.Random(12)
    settings = orders.OrderSettings(fee_tiers=parse_fee_tiers("0:50"), quote_ttl=timedelta(minutes=15),
                                    chains=(OFFLINE_CHAIN,))
    request = orders.OrderRequest(items=[{"sku": "FOOD-001", "qty": 1}], jurisdiction_code=None, tax_rate=None,
                                  tax_components=None)
    serial = 0
    with in_app() as session:
        for n in range(40):
            order, _ = orders.create_order(shop.merchant, request, settings, actor="test")
            order.created_at = utcnow() - timedelta(days=2 * n, minutes=1)
            if n % 2:
                session.add(Quote(order_id=order.id, chain_id=8453, symbol="ETH", decimals=18, amount_base_units=10**16,
                                  usd_rate=ETH_RATE + n, expires_at=utcnow()))
            for symbol, size in (("USDC", 10**7), ("ETH", HUGE_WEI), ("USDT", 10**6)):
                for _ in range(rng.randint(0, 2)):
                    serial += 1
                    paid = rng.randint(1, size)
                    session.add(_move(Payment, order, serial, symbol, paid))
                    if rng.random() < 0.6:
                        serial += 1
                        platform = paid // 100
                        session.add(_move(Sweep, order, serial, symbol, paid, merchant_base_units=paid - platform - 1,
                                          platform_base_units=platform))
                    serial += 1
                    status = rng.choice([RefundStatus.CONFIRMED, RefundStatus.REQUESTED])
                    session.add(_move(Refund, order, serial, symbol, rng.randint(1, paid), status=status))
        session.commit()
    return 40


@pytest.mark.parametrize("days", [(None, None), (10, 0), (79, 30), (200, 0)], ids=["default", "recent", "middle",
                                                                                      "all"])
def test_ledger_summary_summed_in_sql_equals_the_order_by_order_answer(in_app, shop, varied_orders, days):
    now = utcnow()
    start = None if days[0] is None else now - timedelta(days=days[0])
    end = None if days[1] is None else now - timedelta(days=days[1])
    with in_app():
        window_start, window_end = ledger.bounded_window(start, end, timedelta(days=366))
        expected = reference_summary(shop.merchant, window_start, window_end)
        assert expected[0], "the window holds money"
        assert ledger.merchant_summary(shop.merchant, window_start, window_end) == expected


def test_ledger_summary_costs_the_same_statements_for_few_or_many_orders(in_app, shop, varied_orders):
    with in_app(), counting_statements() as sent:
        ledger.merchant_summary(shop.merchant, utcnow() - timedelta(days=366), None)
    selects = [s for s in sent if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4, selects  # payments, sweeps, confirmed refunds, strays: each grouped by order and token


def test_ledger_summary_refuses_a_window_longer_than_ledger_max_days(client, shop):
    response = client.get("/api/ledger/summary?start=0&end=100000000", headers=shop.headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert "start" in response.json["fields"]


def test_ledger_summary_without_start_reads_only_the_last_ledger_max_days(client, shop, varied_orders, in_app, app):
    with in_app() as session:
        oldest = session.scalars(select(Order).order_by(Order.created_at)).first()
        oldest.created_at = utcnow() - timedelta(days=400)
        session.add(_move(Payment, oldest, 10**6, "USDC", 10**12))  # only the old order received this much
        session.commit()
    tokens = {t["token"]: t for t in client.get("/api/ledger/summary", headers=shop.headers).json["tokens"]}
    assert int(tokens["USDC"]["received"]) < 10**12
