"""Orders: a cart priced exactly from inventory, stored with its history, idempotent per key."""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.chain import deposits, quotes
from app.chain.client import eth_price_reader
from app.chain.quotes import EthPrice
from app.chain.settings import ChainSettings
from app.domain import pricing
from app.domain.ids import RECEIPT_ID_PATTERN, new_receipt_id
from app.domain.pricing import FeeTier, PricedLine
from app.domain.statuses import UNPAID, OrderStatus
from app.errors import Conflict, InvalidInput, InventoryItemNotFound, NotFound, SplitRequired
from app.extensions import db
from app.models import IdempotencyRecord, InventoryItem, Merchant, Order, Quote, ShopConfig, utcnow
from app.services import cursors, lifecycle, shops
from app.services.tax import TaxChoice, resolve_tax

logger = logging.getLogger(__name__)

VOLUME_WINDOW = timedelta(days=30)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
RECEIPTS_CURSOR = "receipts"


@dataclass(frozen=True)
class OrderRequest:
    """A validated cart and tax choice, plus what is needed to make it idempotent."""

    items: list[dict]
    jurisdiction_code: str | None
    tax_rate: Decimal | None
    tax_components: list[str] | None
    metadata: dict[str, str] = field(default_factory=dict)
    redirect_url: str | None = None
    idempotency_key: str | None = None
    request_hash: str = ""


@dataclass(frozen=True)
class OrderSettings:
    fee_tiers: tuple[FeeTier, ...]
    quote_ttl: timedelta
    chains: tuple[ChainSettings, ...] = (ChainSettings(),)  # the primary first
    read_eth_price: Callable[[ChainSettings], EthPrice | None] = lambda chain: None  # that chain's ETH/USD
    max_open_orders: int = 10_000

    @classmethod
    def from_config(cls, config) -> OrderSettings:
        """Return the settings an app's Config gives (ETH read from each chain's feed when configured)."""
        return cls(fee_tiers=config.FEE_TIERS, quote_ttl=config.quote_ttl(), chains=config.chains,
                   read_eth_price=read_feed, max_open_orders=config.MAX_OPEN_ORDERS)

    @property
    def chain(self) -> ChainSettings:
        """Return the primary chain (its factory computes deposit addresses; its monitor window counts)."""
        return self.chains[0]


def read_feed(chain: ChainSettings) -> EthPrice | None:
    """Return chain's ETH/USD feed reading (cached a few seconds), or None without RPC or feed."""
    return eth_price_reader(chain)()


def quotes_for_chains(settings: OrderSettings, accepted_tokens: list[str], accepted_chains: list[int] | None,
                      total_cents: int) -> list[quotes.Quote]:
    """Return a quote for each accepted token on each accepted chain with a factory, chains in configuration
    order (accepted_chains None or empty: every configured chain)."""
    found = []
    for chain in settings.chains:
        if chain.enabled and (not accepted_chains or chain.chain_id in accepted_chains):
            found += quotes.quotes_for(chain, accepted_tokens, total_cents,
                                       functools.partial(settings.read_eth_price, chain))
    return found


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
        receipt_id=new_receipt_id(), merchant_id=merchant.id, currency="USD", event_sequence=0,
        brand_name=config.brand_name or merchant.name, line_items=_snapshot(resolved),
        subtotal_cents=totals.subtotal_cents, tax_cents=totals.tax_cents, fee_cents=totals.fee_cents,
        total_cents=totals.total_cents, tax_rate=tax.rate, jurisdiction_code=tax.jurisdiction_code,
        tax_components=tax.components, platform_fee_bps=platform_bps,
        merchant_fee_bps=config.processing_fee_add_on_bps, created_at=now,
        expires_at=now + settings.quote_ttl, order_metadata=dict(req.metadata), redirect_url=req.redirect_url,
    )
    if settings.chain.enabled:
        _attach_payment_terms(order, merchant.split_address, config, settings)
    lifecycle.begin(order, actor, now)
    return order


def _attach_payment_terms(order: Order, split: str, config: ShopConfig, settings: OrderSettings) -> None:
    """Fix the order's deposit address (computed offline; the same on every chain) and one quote per token and
    chain it can be paid in."""
    chain = settings.chain
    order.chain_id, order.split_address, order.factory_address = chain.chain_id, split, chain.factory
    order.deposit_address = deposits.deposit_address(chain.factory, split, order.receipt_id)
    for quote in quotes_for_chains(settings, config.accepted_tokens, config.accepted_chains, order.total_cents):
        order.quotes.append(quote_row(quote, order.created_at, order.expires_at))


def quote_row(quote: quotes.Quote, created_at: datetime, expires_at: datetime, offered: bool = True) -> Quote:
    """Return a quote as stored with an order."""
    return Quote(chain_id=quote.chain_id, symbol=quote.symbol, token_address=quote.token_address,
                 decimals=quote.decimals, amount_base_units=quote.amount_base_units, usd_rate=quote.usd_rate,
                 created_at=created_at, expires_at=expires_at, offered=offered)


def _resolve_items(merchant: Merchant, cart: list[dict]) -> list[tuple[InventoryItem, int]]:
    ids = {line["id"] for line in cart if "id" in line}
    skus = {line["sku"] for line in cart if "sku" in line}
    found = db.session.scalars(select(InventoryItem).where(
        InventoryItem.merchant_id == merchant.id,
        InventoryItem.id.in_(ids) | InventoryItem.sku.in_(skus))).all()
    by_id = {item.id: item for item in found}
    by_sku = {item.sku: item for item in found}
    resolved, unknown = [], {}
    for index, line in enumerate(cart):
        item = by_id.get(line["id"]) if "id" in line else by_sku.get(line["sku"])
        if item is None:
            unknown[index] = {"id": line["id"]} if "id" in line else {"sku": line["sku"]}
        else:
            resolved.append((item, line["qty"]))
    if unknown:
        raise _not_found(unknown)
    _check_stock(resolved)
    return resolved


def _not_found(unknown: dict[int, dict]) -> InventoryItemNotFound:
    """Return the error naming every unknown line in fields (items.<line>.id|sku, as marshmallow nests
    list errors); item and line name the first, as before."""
    names = [next(iter(ref.values())) for ref in unknown.values()]
    message = (f"Inventory item {names[0]} not found" if len(names) == 1
               else f"Inventory items {', '.join(names)} not found")
    first = next(iter(unknown))
    return InventoryItemNotFound(message, fields={"items": {
        str(index): {field: ["No inventory item with this value."] for field in ref} for index, ref in unknown.items()}},
        item=unknown[first], line=first)


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


@dataclass(frozen=True)
class ReceiptQuery:
    """Which of a merchant's receipts to list: created in [start, end), in a status, with metadata holding
    each key → value given, after a cursor, at most limit of them."""

    limit: int = 100
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    cursor: str | None = None


def list_receipts(merchant: Merchant, query: ReceiptQuery) -> tuple[list[Order], str | None]:
    """Return (orders, next cursor or None when no more match), newest first, with what their receipts show;
    raises InvalidInput for a cursor this server did not give out."""
    statement = select(Order).options(*RECEIPT_RELATIONS).where(Order.merchant_id == merchant.id)
    if query.start is not None:
        statement = statement.where(Order.created_at >= query.start)
    if query.end is not None:
        statement = statement.where(Order.created_at < query.end)
    if query.status is not None:
        statement = statement.where(Order.status == query.status)
    for key, value in query.metadata.items():  # JSON extraction as each database spells it
        statement = statement.where(Order.order_metadata[key].as_string() == value)
    if query.cursor is not None:
        micros, order_id = cursors.decode(RECEIPTS_CURSOR, query.cursor, (int, int))
        created = EPOCH + timedelta(microseconds=micros)
        statement = statement.where(or_(Order.created_at < created,
                                        and_(Order.created_at == created, Order.id < order_id)))
    found = list(db.session.scalars(
        statement.order_by(Order.created_at.desc(), Order.id.desc()).limit(query.limit + 1)))
    if len(found) <= query.limit:
        return found, None
    last = found[query.limit - 1]
    position = [(last.created_at - EPOCH) // timedelta(microseconds=1), last.id]
    return found[:query.limit], cursors.encode(RECEIPTS_CURSOR, position)


def cancel_order(order: Order, actor: str, reason: str | None) -> Order:
    """Cancel an order that received nothing (generated or expired; its address is no longer watched) and
    return it; raises Conflict when a payment was recorded or it is in another status."""
    order = lock_order(order.id)  # the watcher locks it too before recording a payment
    if order.payments or order.status not in UNPAID:
        raise Conflict(f"{order.receipt_id} is {order.status}"
                       f"{' and received a payment' if order.payments else ''}: only an order that received "
                       f"nothing can be cancelled")
    lifecycle.move(order, OrderStatus.CANCELLED, actor, {"reason": reason} if reason else {})
    db.session.commit()
    logger.info("order cancelled receipt=%s actor=%s", order.receipt_id, actor)
    return order


def lock_order(order_id: int) -> Order:
    """Return the order re-read under a write lock held until the caller commits: a row lock on PostgreSQL,
    the database write lock on SQLite (which ignores FOR UPDATE). It opens the caller's unit of work: the
    read-only transaction before it ends (db.end_reads raises if that held changes)."""
    db.end_reads()
    db.session.execute(update(Order).where(Order.id == order_id).values(id=Order.id))
    return db.session.get(Order, order_id, with_for_update=True, populate_existing=True)
