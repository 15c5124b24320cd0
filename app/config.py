"""Configuration: Config.from_env() is the only reader of os.environ."""
from __future__ import annotations

import os
from datetime import timedelta
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from app.chain.settings import ChainSettings, checksum_or_empty, parse_tokens
from app.domain.ids import WALLET_PATTERN
from app.domain.pricing import FeeTier, parse_fee_tiers

DEFAULT_FEE_TIERS = "0:50"
DEV_ENVS = ("dev", "test")
MIN_SECRET_KEY_LENGTH = 32  # HS256 keys shorter than the hash output are brute-forceable offline


@dataclass(frozen=True)
class Config:
    """Settings for one app instance; build with from_env() or override in tests."""

    ENV: str = "production"
    DATABASE_URL: str = ""
    REDIS_URL: str = ""
    PUBLIC_URL: str = ""
    QUOTE_TTL_SECONDS: int = 900
    MAX_CONTENT_LENGTH: int = 64 * 1024
    FEE_TIERS: tuple[FeeTier, ...] = field(default_factory=lambda: parse_fee_tiers(DEFAULT_FEE_TIERS))
    INSTANCE_PATH: str = ""
    CHAIN: ChainSettings = field(default_factory=ChainSettings)
    RATE_LIMIT: str = "600 per minute"  # per subscription key, or per client address without one
    RATE_LIMIT_KEY_PREFIX: str = "tillpoint"
    # Signs session JWTs (HS256); required outside dev/test. Secrets are kept out of repr (and so of logs).
    SECRET_KEY: str = field(default="", repr=False)
    SESSION_TTL_SECONDS: int = 3600
    NONCE_TTL_SECONDS: int = 300
    ADMIN_WALLETS: frozenset[str] = frozenset()  # lowercase wallets that sign in as platform_admin
    EDGE_SECRET: str = field(default="", repr=False)
    EDGE_ONLY: bool = False
    PAY_FRAME_ANCESTORS: tuple[str, ...] = ()  # origins allowed to frame /pay/ pages; none by default
    # Live status streams: each holds a server thread, so each process serves at most PAY_STREAMS at once
    # (the page polls /status beyond that) and closes each after PAY_STREAM_SECONDS (the browser reconnects).
    PAY_STREAMS: int = 2
    PAY_STREAM_SECONDS: int = 120

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, instance_path: str = "") -> Config:
        """Return a Config from environment variables; raises ValueError on a bad value."""
        env = os.environ if environ is None else environ
        instance = env.get("TILLPOINT_INSTANCE", instance_path) or str(Path.cwd() / "instance")
        return cls(
            ENV=env.get("TILLPOINT_ENV", "production"),
            DATABASE_URL=env.get("DATABASE_URL", ""),
            REDIS_URL=env.get("REDIS_URL", ""),
            PUBLIC_URL=env.get("PUBLIC_URL", "").rstrip("/"),
            QUOTE_TTL_SECONDS=int(env.get("QUOTE_TTL", "900")),
            FEE_TIERS=parse_fee_tiers(env.get("FEE_TIERS", DEFAULT_FEE_TIERS)),
            INSTANCE_PATH=instance,
            CHAIN=chain_from_env(env),
            RATE_LIMIT=env.get("RATE_LIMIT", "600 per minute"),
            RATE_LIMIT_KEY_PREFIX=env.get("RATE_LIMIT_KEY_PREFIX", "tillpoint"),
            SECRET_KEY=env.get("SECRET_KEY", ""),
            SESSION_TTL_SECONDS=int(env.get("SESSION_TTL", "3600")),
            NONCE_TTL_SECONDS=int(env.get("LOGIN_NONCE_TTL", "300")),
            ADMIN_WALLETS=parse_wallets(env.get("ADMIN_WALLETS", ""), "ADMIN_WALLETS"),
            EDGE_SECRET=env.get("EDGE_SECRET", ""),
            EDGE_ONLY=parse_bool(env.get("EDGE_ONLY", "false"), "EDGE_ONLY"),
            PAY_FRAME_ANCESTORS=tuple(env.get("PAY_FRAME_ANCESTORS", "").split()),
            PAY_STREAMS=int(env.get("PAY_STREAMS", "2")),
            PAY_STREAM_SECONDS=int(env.get("PAY_STREAM_SECONDS", "120")),
        )

    @property
    def is_dev(self) -> bool:
        """Return True in dev and test, where cookies may go over plain HTTP and SECRET_KEY may be generated."""
        return self.ENV in DEV_ENVS

    def validate(self) -> None:
        """Raise ValueError naming the setting when this configuration is unsafe to serve with."""
        if not self.is_dev and len(self.SECRET_KEY) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"SECRET_KEY must be set to at least {MIN_SECRET_KEY_LENGTH} random characters "
                             f"outside dev/test (TILLPOINT_ENV={self.ENV}); generate one with "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
        if self.EDGE_ONLY and not self.EDGE_SECRET:
            raise ValueError("EDGE_ONLY=true needs EDGE_SECRET (the secret the gateway sends in x-edge-secret)")
        if self.SESSION_TTL_SECONDS <= 0 or self.NONCE_TTL_SECONDS <= 0:
            raise ValueError("SESSION_TTL and LOGIN_NONCE_TTL must be positive numbers of seconds")

    def with_overrides(self, **overrides) -> Config:
        """Return a copy with the given settings replaced; raises TypeError on an unknown name."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **overrides)

    def quote_ttl(self) -> timedelta:
        """Return how long an order's quotes stay valid."""
        return timedelta(seconds=self.QUOTE_TTL_SECONDS)

    def database_url(self) -> str:
        """Return DATABASE_URL, or the embedded SQLite file in the instance folder."""
        if self.DATABASE_URL:
            return normalize_database_url(self.DATABASE_URL)
        Path(self.INSTANCE_PATH).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(self.INSTANCE_PATH) / 'tillpoint.db'}"


def normalize_database_url(url: str) -> str:
    """Return url with a plain postgresql:// scheme mapped to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def chain_from_env(env) -> ChainSettings:
    """Return the chain settings: CHAIN_ID, RPC_URL, CONFIRMATIONS, DEPOSIT_FACTORY, TOKENS, ETH_USD_FEED…"""
    return ChainSettings(
        chain_id=int(env.get("CHAIN_ID", "31337")),
        rpc_url=env.get("RPC_URL", ""),
        network_name=env.get("NETWORK_NAME", "Local dev chain"),
        confirmations=int(env.get("CONFIRMATIONS", "2")),
        factory=checksum_or_empty(env.get("DEPOSIT_FACTORY", "")),
        eth_usd_feed=checksum_or_empty(env.get("ETH_USD_FEED", "")),
        price_max_age_seconds=int(env.get("PRICE_MAX_AGE", "3600")),
        tokens=parse_tokens(env.get("TOKENS", "")),
        start_block=int(env["START_BLOCK"]) if env.get("START_BLOCK") else None,
        platform_payee=checksum_or_empty(env.get("PLATFORM_PAYEE", "")),
        platform_share_bps=bps_in_range(env.get("PLATFORM_SHARE_BPS", "100"), "PLATFORM_SHARE_BPS"),
        operator_key=env.get("OPERATOR_PRIVATE_KEY", ""),
        monitor_window_seconds=int(env.get("MONITOR_WINDOW", str(24 * 3600))),
        watch_chunk=int(env.get("WATCH_CHUNK", "200")),
        settle=parse_bool(env.get("SETTLER", "on"), "SETTLER"),
        settle_stuck_seconds=int(env.get("SETTLE_STUCK_SECONDS", "180")),
        explorer_url=env.get("EXPLORER_URL", "").rstrip("/"),
    )


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    """Return this process's environment with overrides, for the processes `tillpoint dev` starts."""
    return {**os.environ, **overrides}


def read_env_file(path: Path) -> dict[str, str]:
    """Return KEY=VALUE pairs of a file `tillpoint dev` wrote (blank lines and # comments skipped)."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def parse_wallets(text: str, name: str) -> frozenset[str]:
    """Return comma-separated 0x wallets in lowercase; raises ValueError naming the setting."""
    wallets = [w.strip() for w in text.split(",") if w.strip()]
    bad = [w for w in wallets if not WALLET_PATTERN.match(w)]
    if bad:
        raise ValueError(f"{name} must list 0x + 40 hex wallets separated by commas; bad: {bad}")
    return frozenset(w.lower() for w in wallets)


def parse_bool(text: str, name: str) -> bool:
    """Return true/false (also 1/0, yes/no, on/off) as a bool; raises ValueError naming the setting."""
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off", ""):
        raise ValueError(f"{name} must be true or false, not {text!r}")
    return value in ("true", "1", "yes", "on")


def bps_in_range(text: str, name: str) -> int:
    """Return text as basis points strictly between 0 and 10000; raises ValueError naming the setting."""
    value = int(text)
    if not 0 < value < 10_000:
        raise ValueError(f"{name} must be between 1 and 9999 basis points, not {value}")
    return value
