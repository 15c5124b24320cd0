"""SQLAlchemy 2 typed models. Money is integer cents; rates are exact decimal text."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.domain.statuses import DeliveryState, ExceptionStatus, OrderStatus, RefundStatus, SettleState

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class DecimalText(TypeDecorator):
    """An exact Decimal stored as text, so no backend turns a tax rate into a float."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value)


class BaseUnits(TypeDecorator):
    """A token amount in base units: NUMERIC(78,0) on PostgreSQL, exact decimal text elsewhere."""

    impl = String(80)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0))
        return dialect.type_descriptor(String(80))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("base units are non-negative integers")
        return Decimal(value) if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value, dialect):
        return None if value is None else int(value)


def status_enum(enum: type, name: str) -> Enum:
    """Return a column type storing enum's values as VARCHAR(16) with a CHECK constraint (no native enum type:
    adding a status later is a plain migration on every backend)."""
    return Enum(enum, name=name, native_enum=False, create_constraint=True, length=16, validate_strings=True,
                values_callable=lambda members: [m.value for m in members])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    split_address: Mapped[str | None] = mapped_column(String(42))
    # Set while a request deploys this merchant's split, so concurrent requests send no second deployment.
    split_deploy_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    shop_config: Mapped[ShopConfig] = relationship(lazy="joined", innerjoin=True, viewonly=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Loaded with the key in one query: every authenticated request needs both.
    merchant: Mapped[Merchant] = relationship(lazy="joined", innerjoin=True)


class InventoryItem(Base):
    __tablename__ = "inventory_items"
    __table_args__ = (UniqueConstraint("merchant_id", "sku"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    taxable: Mapped[bool] = mapped_column(Boolean, default=False)
    stock_qty: Mapped[int] = mapped_column(Integer, default=-1)
    # A 96x96 JPEG, metadata stripped; deferred so lists of items never load it.
    thumbnail_jpeg: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ShopConfig(Base):
    """A merchant's shop settings; jurisdictions keep rates as decimal strings inside the JSON."""

    __tablename__ = "shop_configs"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    brand_name: Mapped[str] = mapped_column(String(200), default="")
    jurisdictions: Mapped[list[dict]] = mapped_column(JSON, default=list)
    default_jurisdiction_code: Mapped[str | None] = mapped_column(String(16))
    processing_fee_add_on_bps: Mapped[int] = mapped_column(Integer, default=0)
    accepted_tokens: Mapped[list[str]] = mapped_column(JSON, default=list)
    accepted_chains: Mapped[list[int] | None] = mapped_column(JSON)  # chain ids; None or empty: every configured chain
    logo_png: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # at most 240x96, metadata stripped
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt_id: Mapped[str] = mapped_column(String(16), unique=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(status_enum(OrderStatus, "order_status"))
    exception_status: Mapped[ExceptionStatus | None] = mapped_column(status_enum(ExceptionStatus, "exception_status"))
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    brand_name: Mapped[str] = mapped_column(String(200))
    line_items: Mapped[list[dict]] = mapped_column(JSON)
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)
    tax_cents: Mapped[int] = mapped_column(BigInteger)
    fee_cents: Mapped[int] = mapped_column(BigInteger)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    tax_rate: Mapped[Decimal] = mapped_column(DecimalText)
    jurisdiction_code: Mapped[str | None] = mapped_column(String(16))
    tax_components: Mapped[list[str]] = mapped_column(JSON, default=list)
    platform_fee_bps: Mapped[int] = mapped_column(Integer)
    merchant_fee_bps: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    chain_id: Mapped[int | None] = mapped_column(Integer)  # the primary chain when it was created
    split_address: Mapped[str | None] = mapped_column(String(42))
    deposit_address: Mapped[str | None] = mapped_column(String(42), unique=True)  # the same on every chain
    # The DepositFactory its deposit address was computed with (None: the configured one, for orders created
    # before this was recorded), so a new factory changes deposit addresses for new orders only.
    factory_address: Mapped[str | None] = mapped_column(String(42))
    # The integrator's own context, returned in the receipt and in every webhook event ("metadata" is
    # SQLAlchemy's own attribute on a model, hence the Python name).
    order_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    redirect_url: Mapped[str | None] = mapped_column(String(2048))
    event_sequence: Mapped[int] = mapped_column(Integer, default=0)  # of its last webhook event

    quotes: Mapped[list[Quote]] = relationship(order_by="Quote.id", cascade="all, delete-orphan")
    payments: Mapped[list[Payment]] = relationship(order_by="Payment.id", viewonly=True)
    sweeps: Mapped[list[Sweep]] = relationship(order_by="Sweep.id", viewonly=True)
    refunds: Mapped[list[Refund]] = relationship(order_by="Refund.created_at", viewonly=True)

    history: Mapped[list[OrderStatusChange]] = relationship(
        order_by="OrderStatusChange.id", cascade="all, delete-orphan"
    )


class Quote(Base):
    """The exact amount of one token on one chain that pays an order, fixed at order time until expires_at."""

    __tablename__ = "quotes"
    __table_args__ = (UniqueConstraint("order_id", "chain_id", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    chain_id: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(16))
    token_address: Mapped[str | None] = mapped_column(String(42))
    decimals: Mapped[int] = mapped_column(Integer)
    amount_base_units: Mapped[int] = mapped_column(BaseUnits)
    usd_rate: Mapped[Decimal] = mapped_column(DecimalText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # False for a quote the pay page never showed: fixed when a payment arrived on a chain or in a token the
    # order was not offered in (a wrong-network payment, credited at that chain's peg or feed).
    offered: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class OrderStatusChange(Base):
    __tablename__ = "order_status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(status_enum(OrderStatus, "order_status"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    cause: Mapped[dict] = mapped_column(JSON, default=dict)


class IdempotencyRecord(Base):
    """One Idempotency-Key per merchant, bound to the request body's hash and the order it made."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("merchant_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """A transfer to an order's deposit address, seen on chain; unique by (chain, tx hash, log index)."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("chain_id", "tx_hash", "log_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    chain_id: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)  # -1 for a native ETH transaction
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    block_time: Mapped[datetime] = mapped_column(UTCDateTime)
    symbol: Mapped[str] = mapped_column(String(16))
    token_address: Mapped[str | None] = mapped_column(String(42))
    from_address: Mapped[str] = mapped_column(String(42))
    amount_base_units: Mapped[int] = mapped_column(BaseUnits)
    usd_cents: Mapped[int] = mapped_column(BigInteger)  # what it was credited alone, rounded down
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fixed when it arrives (domain.settlement.payment_rate), so a requote never revalues it: no quote in its
    # token then (a stray receipt, worth nothing), and the rate of a late one without a peg (None = the quote's).
    unquoted: Mapped[bool] = mapped_column(Boolean, default=False)
    usd_rate: Mapped[Decimal | None] = mapped_column(DecimalText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChainBlock(Base):
    """The hash of a block the watcher processed, kept to notice reorgs."""

    __tablename__ = "chain_blocks"

    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))


class ChainCursor(Base):
    """The last block the watcher processed completely; moved in the same transaction as its payments."""

    __tablename__ = "chain_cursors"

    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    # The hash of block 0 of the chain the cursor counts blocks on: another chain behind the RPC is refused.
    genesis_hash: Mapped[str | None] = mapped_column(String(66))
    finalized_block: Mapped[int | None] = mapped_column(BigInteger)  # the chain's `finalized` block, when it has one
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Sweep(Base):
    """A `Settled` event of our factory for an order: its deposit balance of one token moved into the split
    and distributed. Seen on chain (whoever sent it); unique by (chain, tx hash, log index)."""

    __tablename__ = "sweeps"
    __table_args__ = (UniqueConstraint("chain_id", "tx_hash", "log_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    chain_id: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    block_time: Mapped[datetime] = mapped_column(UTCDateTime)
    symbol: Mapped[str] = mapped_column(String(16))
    token_address: Mapped[str | None] = mapped_column(String(42))
    amount_base_units: Mapped[int] = mapped_column(BaseUnits)  # forwarded from the deposit address
    merchant_base_units: Mapped[int] = mapped_column(BaseUnits)  # released to the payees other than the platform
    platform_base_units: Mapped[int] = mapped_column(BaseUnits)  # released to the platform payee
    # True when each payee got at least its exact share of amount (floored, as PaymentSplitter pays).
    verified: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SettleTx(Base):
    """A settle transaction the settler signed: recorded before it is broadcast, so a restart finds it.

    Replacements share the nonce; state is pending until the nonce is final on chain, then done
    (or replaced, for the attempts that lost to a replacement)."""

    __tablename__ = "settle_txs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    symbol: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw_tx: Mapped[str] = mapped_column(Text)
    max_fee_per_gas: Mapped[int] = mapped_column(BaseUnits)
    priority_fee_per_gas: Mapped[int] = mapped_column(BaseUnits)
    state: Mapped[SettleState] = mapped_column(status_enum(SettleState, "settle_state"), default=SettleState.PENDING,
                                               index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OperatorLock(Base):
    """One row per operator account: taken with a write lock while a nonce is chosen and its transaction
    recorded, so two processes never use the same nonce (app/chain/operator.py)."""

    __tablename__ = "operator_locks"

    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)


class Refund(Base):
    """A refund the merchant pays from its own wallet: requested, then its transaction submitted and
    verified on chain (confirmed). Never custodial: Tillpoint only checks the transaction."""

    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    status: Mapped[RefundStatus] = mapped_column(status_enum(RefundStatus, "refund_status"))
    chain_id: Mapped[int] = mapped_column(Integer)  # where it is paid: the chain of the payments it gives back
    symbol: Mapped[str] = mapped_column(String(16))
    token_address: Mapped[str | None] = mapped_column(String(42))
    amount_base_units: Mapped[int] = mapped_column(BaseUnits)
    usd_cents: Mapped[int] = mapped_column(BigInteger)
    # Who paid the order (to_source "payer"), or where the shopper asked to be paid through a claim link
    # ("claim"); None until a claim link is used when no payer is known. Never a free choice of the merchant.
    to_address: Mapped[str | None] = mapped_column(String(42))
    to_source: Mapped[str] = mapped_column(String(16), default="payer", server_default="payer")
    reason: Mapped[str | None] = mapped_column(Text)
    items: Mapped[list[dict]] = mapped_column(JSON, default=list)
    tx_hash: Mapped[str | None] = mapped_column(String(66), unique=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    paid_base_units: Mapped[int | None] = mapped_column(BaseUnits)
    rejection: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RefundProof(Base):
    """A transaction hash linked to a refund: it proves that refund and no other, ever (kept when the refund's
    link is rejected, so a dropped and re-mined transaction can only prove the refund it was linked to)."""

    __tablename__ = "refund_proofs"

    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    refund_id: Mapped[str] = mapped_column(ForeignKey("refunds.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RefundWallet(Base):
    """A wallet a merchant pays refunds from besides its own, registered with that wallet's signature."""

    __tablename__ = "refund_wallets"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RefundClaim(Base):
    """A refund claim link (/refund/<token>): the shopper gives the address to refund to. Stored as the token's
    SHA-256; single use (used_at) and expiring."""

    __tablename__ = "refund_claims"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    refund_id: Mapped[str] = mapped_column(ForeignKey("refunds.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(String(42))


class LoginNonce(Base):
    """A Sign-In with Ethereum nonce: issued by GET /auth/nonce, deleted when a login uses it (single use)."""

    __tablename__ = "login_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AdminSession(Base):
    """A signed-in admin session, by its JWT id: a token is honoured only while its row exists (logout deletes it)."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WebhookEndpoint(Base):
    """Where a merchant wants its events: a URL, the event types (["*"] = all), its signing secret sealed
    (app/webhooks/vault.py), and during a rotation the previous secret until previous_until."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    events: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["*"])
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret_sealed: Mapped[str] = mapped_column(Text)
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first failure since the last success
    # Deleted endpoints stay (disabled, hidden from the API) so the delivery log of past events stays whole.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookEvent(Base):
    """One event of the outbox, written in the same transaction as the change it reports; its id is the
    `webhook-id` of every delivery and retry. body is the exact JSON text every delivery sends (and signs),
    frozen when written; decimals in it are exact JSON numbers."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("order_id", "sequence"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    sequence: Mapped[int | None] = mapped_column(Integer)  # per order: 1, 2, 3… (a receiver drops stale events)
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    order: Mapped[Order | None] = relationship()  # set with the event, so a new order needs no flush first
    deliveries: Mapped[list[WebhookDelivery]] = relationship(order_by="WebhookDelivery.id", cascade="all")


class WebhookDelivery(Base):
    """One event to one endpoint: due at next_attempt_at until it succeeds, or fails for good (dead)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    state: Mapped[DeliveryState] = mapped_column(status_enum(DeliveryState, "delivery_state"),
                                                 default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # None once finished
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a worker is sending it until then
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery, for the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_kind: Mapped[str | None] = mapped_column(String(32))  # timeout, connect, refused_address, tls, …
    response_excerpt: Mapped[str | None] = mapped_column(Text)  # the first 1 KiB of the reply
