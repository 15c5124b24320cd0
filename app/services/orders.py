"""Orders: a cart priced exactly from inventory, stored with its history, idempotent per key."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.chain import deposits, quotes
from app.chain.client import eth_price_reader
from app.chain.quotes import EthPrice
from app.chain.settings import ChainSettings
from app.domain import pricing
from app.domain.statuses import OrderStatus
from app.domain.ids import RECEIPT_ID_PATTERN, new_receipt_id
from app.domain.pricing import FeeTier, PricedLine
from app.errors import Conflict, InvalidInput, InventoryItemNotFound, NotFound, SplitRequired
from app.extensions import db
from app.models import IdempotencyRecord, InventoryItem, Merchant, Order, Quote, utcnow
from app.services import lifecycle, shops
from app.services.tax import TaxChoice, resolve_tax

logger = logging.getLogger(__name__)

VOLUME_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class OrderRequest:
    """A validated cart and tax choice, plus what is needed to make it idempotent."""

    items: list[dict]
    jurisdiction_code: str | None
    tax_rate: Decimal | None
    tax_components: list[str] | None
    idempotency_key: str | None = None
    request_hash: str = ""


@dataclass(frozen=True)
class OrderSettings:
    fee_tiers: tuple[FeeTier, ...]
    quote_ttl: timedelta
    chain: ChainSettings = field(default_factory=ChainSettings)
    read_eth_price: Callable[[], EthPrice | None] = lambda: None
    max_open_orders: int = 10_000

    @classmethod
    def from_config(cls, config) -> OrderSettings:
        """Return the settings an app's Config gives (ETH read from its feed when configured)."""
        return cls(fee_tiers=config.FEE_TIERS, quote_ttl=config.quote_ttl(), chain=config.CHAIN,
                   read_eth_price=eth_price_reader(config.CHAIN), max_open_orders=config.MAX_OPEN_ORDERS)


def create_order(merchant: Merchant, req: OrderRequest, settings: OrderSettings, actor: str) -> tuple[Order, bool]:
    """Return (order, replayed); raises SplitRequired, InvalidInput, InventoryItemNotFound or Conflict."""
    if req.idempotency_key:
        previous = _replay(merchant, req)
        if previous is not None:
            return previous, True
    if not merchant.split_address:
        raise SplitRequired()
    _refuse_beyond_open_limit(merchant, settings)
    order = _build_order(merchant, req, settings, actor)
    db.session.add(order)
    try:
        db.session.flush()
        if req.idempotency_key:
            db.session.add(IdempotencyRecord(merchant_id=merchant.id, key=req.idempotency_key,
                                             request_hash=req.request_hash, order_id=order.id))
        db.session.commit()
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key committed first: answer with its order.
        db.session.rollback()
        previous = _replay(merchant, req) if req.idempotency_key else None
        if previous is None:
            raise
        return previous, True
    logger.info("order created receipt=%s merchant=%s total_cents=%d", order.receipt_id, merchant.id,
                order.total_cents)
    return order, False


def _refuse_beyond_open_limit(merchant: Merchant, settings: OrderSettings) -> None:
    """Raise Conflict when the merchant has max_open_orders unpaid orders the watcher still watches (new, or
    expired within the monitor window): each costs the watcher work every tick, for every merchant.

    A soft limit (concurrent requests may pass it by a few); an attacker holding a key is bounded all the same.
    """
    since = utcnow() - settings.chain.monitor_window
    open_orders = db.session.scalar(select(func.count()).select_from(Order).where(
        Order.merchant_id == merchant.id, Order.status.in_([OrderStatus.GENERATED, OrderStatus.EXPIRED]),
        Order.expires_at >= since))
    if open_orders >= settings.max_open_orders:
        raise Conflict(f"This merchant already has {open_orders} open unpaid orders, the most allowed "
                       "(MAX_OPEN_ORDERS); unpaid orders stop counting once expired for longer than MONITOR_WINDOW")


def _replay(merchant: Merchant, req: OrderRequest) -> Order | None:
    record = db.session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.merchant_id == merchant.id, IdempotencyRecord.key == req.idempotency_key))
    if record is None:
        return None
    if record.request_hash != req.request_hash:
        raise Conflict("This Idempotency-Key was already used with a different request body")
    return db.session.get(Order, record.order_id)


def _build_order(merchant: Merchant, req: OrderRequest, settings: OrderSettings, actor: str) -> Order:
    config = shops.get_config(merchant)
    resolved = _resolve_items(merchant, req.items)
    tax = resolve_tax(config, TaxChoice(req.tax_rate, req.jurisdiction_code, req.tax_components))
    platform_bps = pricing.platform_bps_for_volume(settings.fee_tiers, settled_volume_cents(merchant))
    fee_bps = platform_bps + config.processing_fee_add_on_bps
    lines = [PricedLine(item.price_cents, qty, item.taxable) for item, qty in resolved]
    totals = pricing.price(lines, tax.rate, fee_bps)
    now = utcnow()
    order = Order(
        receipt_id=new_receipt_id(), merchant_id=merchant.id, currency="USD", order_metadata={}, event_sequence=0,
        brand_name=config.brand_name or merchant.name, line_items=_snapshot(resolved),
        subtotal_cents=totals.subtotal_cents, tax_cents=totals.tax_cents, fee_cents=totals.fee_cents,
        total_cents=totals.total_cents, tax_rate=tax.rate, jurisdiction_code=tax.jurisdiction_code,
        tax_components=tax.components, platform_fee_bps=platform_bps,
        merchant_fee_bps=config.processing_fee_add_on_bps, created_at=now,
        expires_at=now + settings.quote_ttl,
    )
    if settings.chain.enabled:
        _attach_payment_terms(order, merchant.split_address, config.accepted_tokens, settings)
    lifecycle.begin(order, actor, now)
    return order


def _attach_payment_terms(order: Order, split: str, accepted: list[str], settings: OrderSettings) -> None:
    """Fix the order's deposit address (computed offline) and one quote per token it can be paid in."""
    chain = settings.chain
    order.chain_id, order.split_address = chain.chain_id, split
    order.deposit_address = deposits.deposit_address(chain.factory, split, order.receipt_id)
    for quote in quotes.quotes_for(chain, accepted, order.total_cents, settings.read_eth_price):
        order.quotes.append(Quote(symbol=quote.symbol, token_address=quote.token_address, decimals=quote.decimals,
                                  amount_base_units=quote.amount_base_units, usd_rate=quote.usd_rate,
                                  created_at=order.created_at, expires_at=order.expires_at))


def _resolve_items(merchant: Merchant, cart: list[dict]) -> list[tuple[InventoryItem, int]]:
    ids = {line["id"] for line in cart if "id" in line}
    skus = {line["sku"] for line in cart if "sku" in line}
    found = db.session.scalars(select(InventoryItem).where(
        InventoryItem.merchant_id == merchant.id,
        InventoryItem.id.in_(ids) | InventoryItem.sku.in_(skus))).all()
    by_id = {item.id: item for item in found}
    by_sku = {item.sku: item for item in found}
    resolved = []
    for index, line in enumerate(cart):
        item = by_id.get(line["id"]) if "id" in line else by_sku.get(line["sku"])
        if item is None:
            ref = {"id": line["id"]} if "id" in line else {"sku": line["sku"]}
            name = next(iter(ref.values()))
            raise InventoryItemNotFound(f"Inventory item {name} not found", item=ref, line=index)
        resolved.append((item, line["qty"]))
    _check_stock(resolved)
    return resolved


def _check_stock(resolved: list[tuple[InventoryItem, int]]) -> None:
    wanted: dict[str, int] = {}
    for item, qty in resolved:
        wanted[item.id] = wanted.get(item.id, 0) + qty
    for item, _ in resolved:
        if 0 <= item.stock_qty < wanted[item.id]:
            raise InvalidInput(f"Only {item.stock_qty} of {item.sku} in stock",
                               fields={"items": {item.sku: [f"only {item.stock_qty} in stock"]}})


def _snapshot(resolved: list[tuple[InventoryItem, int]]) -> list[dict]:
    return [{"itemId": item.id, "sku": item.sku, "label": item.name, "qty": qty,
             "unitCents": item.price_cents, "totalCents": item.price_cents * qty,
             "taxable": item.taxable} for item, qty in resolved]


def settled_volume_cents(merchant: Merchant, now: datetime | None = None) -> int:
    """Return the total of the merchant's orders settled in the trailing 30 days, in cents."""
    since = (now or utcnow()) - VOLUME_WINDOW
    total = db.session.scalar(select(func.coalesce(func.sum(Order.total_cents), 0)).where(
        Order.merchant_id == merchant.id, Order.settled_at >= since))
    return int(total)


# What a receipt shows, each loaded for all listed orders in one statement (never one per order).
RECEIPT_RELATIONS = (selectinload(Order.quotes), selectinload(Order.payments), selectinload(Order.sweeps),
                     selectinload(Order.refunds), selectinload(Order.history))


def get_receipt(merchant: Merchant, receipt_id: str) -> Order:
    """Return the merchant's order with what its receipt shows; another merchant's or a malformed id is NotFound."""
    order = None
    if RECEIPT_ID_PATTERN.match(receipt_id):
        order = db.session.scalar(select(Order).options(*RECEIPT_RELATIONS).where(
            Order.receipt_id == receipt_id, Order.merchant_id == merchant.id))
    if order is None:
        raise NotFound(f"No receipt {receipt_id}")
    return order


def list_receipts(merchant: Merchant, limit: int, start: datetime | None, end: datetime | None) -> list[Order]:
    """Return the merchant's orders created in [start, end), newest first, with what their receipts show."""
    query = select(Order).options(*RECEIPT_RELATIONS).where(Order.merchant_id == merchant.id)
    if start is not None:
        query = query.where(Order.created_at >= start)
    if end is not None:
        query = query.where(Order.created_at < end)
    return list(db.session.scalars(query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit)))


def lock_order(order_id: int) -> Order:
    """Return the order re-read under a write lock held until the caller commits: a row lock on PostgreSQL,
    the database write lock on SQLite (which ignores FOR UPDATE). It opens the caller's unit of work: the
    read-only transaction before it ends (db.end_reads raises if that held changes)."""
    db.end_reads()
    db.session.execute(update(Order).where(Order.id == order_id).values(id=Order.id))
    return db.session.get(Order, order_id, with_for_update=True, populate_existing=True)
