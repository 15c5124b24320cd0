"""Configuration: Config.from_env() is the only reader of os.environ."""
from __future__ import annotations

import os
from datetime import timedelta
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from app.chain.settings import ChainSettings, checksum_or_empty, parse_tokens
from app.domain.pricing import FeeTier, parse_fee_tiers

DEFAULT_FEE_TIERS = "0:50"


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
            PAY_STREAMS=int(env.get("PAY_STREAMS", "2")),
            PAY_STREAM_SECONDS=int(env.get("PAY_STREAM_SECONDS", "120")),
        )

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


def bps_in_range(text: str, name: str) -> int:
    """Return text as basis points strictly between 0 and 10000; raises ValueError naming the setting."""
    value = int(text)
    if not 0 < value < 10_000:
        raise ValueError(f"{name} must be between 1 and 9999 basis points, not {value}")
    return value
