"""The shopper's side of an order: read it by receipt id (no key), explain its progress, requote it."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload

from app.chain import quotes
from app.chain.quotes import ETH_QUOTE_STEP
from app.chain.settings import ETH, ChainSettings
from app.domain.checkout import Progress
from app.domain.money import units_for_cents
from app.domain.ids import RECEIPT_ID_PATTERN
from app.domain import settlement
from app.domain.statuses import UNPAID, OrderStatus
from app.errors import ChainUnavailable, Conflict, NotFound
from app.extensions import db
from app.models import ChainCursor, Order, Payment, Quote, ShopConfig, utcnow
from app.services import lifecycle, media
from app.services.orders import OrderSettings, lock_order, quotes_for_chains
from app.services.payments import paid_cents

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """An order as the shopper sees it now: its payments, each chain's watcher block, and (for pages) its
    pictures."""

    order: Order
    paid: list[Payment]
    heads: dict[int, int]  # chain id → the last block its watcher processed
    thumbs: dict[str, str] = field(default_factory=dict)
    logo: str | None = None  # a data URI


def snapshot(receipt_id: str, with_media: bool = False) -> Snapshot:
    """Return the order's current snapshot (thumbnails and logo too when with_media); raises NotFound."""
    row = None
    if RECEIPT_ID_PATTERN.match(receipt_id):
        row = db.read(_snapshot_query(), {"receipt_id": receipt_id}).unique().first()
    if row is None:
        raise NotFound(f"No receipt {receipt_id}")
    order, media_version = row
    paid = payments_of(order)
    heads = watcher_blocks()
    if not with_media:
        return Snapshot(order, paid, heads)
    thumbs, logo = media.for_order(order.merchant_id, {line["itemId"] for line in order.line_items}, media_version)
    return Snapshot(order, paid, heads, thumbs, logo)


def watcher_blocks() -> dict[int, int]:
    """Return the last block each chain's watcher processed, by chain id (one row per chain)."""
    return dict(db.read(_cursors_query(), {}).all())


@cache
def _snapshot_query() -> Select:
    """Return the statement of a snapshot: the order with its quotes and payments and its shop's media version
    (built once: it is the hot path of every pay page and poll)."""
    media_version = select(ShopConfig.updated_at).where(ShopConfig.merchant_id == Order.merchant_id).scalar_subquery()
    return select(Order, media_version).where(Order.receipt_id == bindparam("receipt_id")).options(
        joinedload(Order.quotes), joinedload(Order.payments))


@cache
def _cursors_query() -> Select:
    return select(ChainCursor.chain_id, ChainCursor.block_number)


def find_order(receipt_id: str, lock: bool = False) -> Order:
    """Return the order with its quotes, by its unguessable receipt id; raises NotFound (malformed ids too).
    With lock, the order is re-read under a write lock (on SQLite too) held until the caller commits."""
    order = None
    if RECEIPT_ID_PATTERN.match(receipt_id):
        order = db.session.scalars(select(Order).where(Order.receipt_id == receipt_id)
                                   .options(joinedload(Order.quotes))).unique().first()
    if order is None:
        raise NotFound(f"No receipt {receipt_id}")
    return lock_order(order.id) if lock else order


def payments_of(order: Order) -> list[Payment]:
    """Return the order's recorded payments, oldest first: an unpaid order's stray receipts too (the snapshot
    loads them with the order, so this is no extra query)."""
    return list(order.payments)


def with_strays(order: Order, paid: list[Payment]) -> list[tuple[Payment, bool]]:
    """Return each payment with whether it is a stray receipt (domain.settlement.strays)."""
    stray = {id(p) for p in settlement.strays(settlement.rates(order.quotes), paid)}
    return [(p, id(p) in stray) for p in paid]


def progress(order: Order, paid: list[Payment], heads: dict[int, int], chains: tuple[ChainSettings, ...],
             now: datetime | None = None) -> Progress:
    """Return the order's payment progress for the shopper (confirmations counted on each payment's chain;
    the network named is the one of the latest payment, else the primary chain)."""
    missing = max((needed(chains, p.chain_id) - settlement.confirmations(heads.get(p.chain_id), p.block_number)
                   for p in paid), default=0)
    latest = max(paid, key=settlement.arrival, default=None)
    network = chain_named(chains, latest.chain_id if latest else chains[0].chain_id).network_name
    return Progress(status=order.status, exception_status=order.exception_status,
                    expired=order.expires_at <= (now or utcnow()), total_cents=order.total_cents,
                    paid_cents=paid_cents(order, paid), confirmations_missing=max(0, missing), network=network)


def needed(chains: tuple[ChainSettings, ...], chain_id: int) -> int:
    """Return the confirmations a payment needs on that chain."""
    return chain_named(chains, chain_id).confirmations


def chain_named(chains: tuple[ChainSettings, ...], chain_id: int) -> ChainSettings:
    """Return the configured chain with that id; a chain no longer configured keeps its id and nothing else."""
    return next((c for c in chains if c.chain_id == chain_id),
                ChainSettings(chain_id=chain_id, network_name=f"Chain {chain_id}"))


def due_units(quote: Quote, due_cents: int) -> int:
    """Return what is still due in the quote's token: the quote itself while nothing is paid."""
    step = ETH_QUOTE_STEP if quote.symbol == ETH else 1
    return units_for_cents(due_cents, quote.decimals, quote.usd_rate, step)


def requote(receipt_id: str, settings: OrderSettings, now: datetime | None = None) -> Order:
    """Give an expired, unpaid order fresh quotes and a new expiry (same deposit address); return it.

    Raises NotFound; Conflict if anything that counts was received or the quote is still valid; ChainUnavailable
    when no token can be quoted now.
    """
    now = now or utcnow()
    order = find_order(receipt_id, lock=True)
    if order.deposit_address is None:
        raise Conflict("This order has no on-chain payment terms")
    if order.status == OrderStatus.CANCELLED:
        raise Conflict("The merchant cancelled this order")
    # Stray receipts (an unquoted token, dust) do not count, so they never keep an order from a new quote.
    if order.status not in UNPAID or paid_cents(order, order.payments) > 0:
        raise Conflict("A payment was received for this order, so it keeps its quote")
    if order.expires_at > now:
        raise Conflict("The quote is still valid")
    shop = db.session.get(ShopConfig, order.merchant_id)
    fresh = quotes_for_chains(settings, shop.accepted_tokens, shop.accepted_chains, order.total_cents)
    if not fresh:
        raise ChainUnavailable("No token can be quoted right now; try again shortly")
    _replace_quotes(order, fresh, now, now + settings.quote_ttl)
    if order.status == OrderStatus.EXPIRED:
        lifecycle.move(order, OrderStatus.GENERATED, "shopper", {"reason": "requoted"}, now)
    else:  # its quote lapsed before the watcher marked it expired
        lifecycle.note(order, "shopper", {"reason": "requoted"}, now)
    db.session.commit()
    logger.info("order requoted receipt=%s expires=%s tokens=%s", order.receipt_id, order.expires_at,
                [f"{q.symbol}@{q.chain_id}" for q in order.quotes])
    return order


def _replace_quotes(order: Order, fresh: list[quotes.Quote], now: datetime, expires_at: datetime) -> None:
    """Update the order's quotes in place (one row per chain and token stays unique), dropping those no
    longer offered."""
    current = {(q.chain_id, q.symbol): q for q in order.quotes}
    for quote in fresh:
        row = current.pop((quote.chain_id, quote.symbol), None)
        if row is None:
            row = Quote(chain_id=quote.chain_id, symbol=quote.symbol)
            order.quotes.append(row)
        row.offered = True
        row.token_address, row.decimals, row.usd_rate = quote.token_address, quote.decimals, quote.usd_rate
        row.amount_base_units, row.created_at, row.expires_at = quote.amount_base_units, now, expires_at
    for stale in current.values():
        order.quotes.remove(stale)
    order.expires_at = expires_at
