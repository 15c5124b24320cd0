"""Configuration: Config.from_env() is the only reader of os.environ."""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import limits
from flask import current_app

from app.chain.settings import ChainSettings, checksum_or_empty, parse_tokens
from app.domain.ids import WALLET_PATTERN
from app.domain.pricing import FeeTier, parse_fee_tiers

DEFAULT_FEE_TIERS = "0:50"
DEV_ENVS = ("dev", "test")
MIN_SECRET_KEY_LENGTH = 32  # HS256 keys shorter than the hash output are brute-forceable offline
Parser = Callable[[str], object]


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
    # The chains this deployment serves: CHAINS (from CHAINS_FILE) when set, else the one chain of the single-chain
    # variables. CHAIN is always the first (primary) chain: SIWE sign-in and single-chain callers use it.
    CHAIN: ChainSettings = field(default_factory=ChainSettings)
    CHAINS: tuple[ChainSettings, ...] = ()
    RATE_LIMIT: str = "600 per minute"  # per subscription key (or session, or gateway-stamped wallet)
    RATE_LIMIT_PUBLIC: str = "600 per minute"  # public reads (x-wallet) and keyless API calls, per client address
    RATE_LIMIT_AUTH: str = "60 per minute"  # /auth/* (sign-in nonces, login), per client address
    RATE_LIMIT_PAY: str = "300 per minute"  # shopper pages of one receipt, per (receipt, client address)
    RATE_LIMIT_KEY_PREFIX: str = "tillpoint"
    # Signs session JWTs (HS256); required outside dev/test. Secrets are kept out of repr (and so of logs).
    SECRET_KEY: str = field(default="", repr=False)
    SESSION_TTL_SECONDS: int = 3600
    NONCE_TTL_SECONDS: int = 300
    REFUND_CLAIM_TTL_SECONDS: int = 7 * 24 * 3600  # a refund claim link (/refund/<token>) is usable this long
    ADMIN_WALLETS: frozenset[str] = frozenset()  # lowercase wallets that sign in as platform_admin
    EDGE_SECRET: str = field(default="", repr=False)
    EDGE_ONLY: bool = False
    # A reverse proxy (nginx, deploy/) is in front: the client address is the last X-Forwarded-For hop it appended.
    BEHIND_PROXY: bool = False
    PAY_FRAME_ANCESTORS: tuple[str, ...] = ()  # origins allowed to frame /pay/ pages; none by default
    # Live status streams: each holds a server thread, so each process serves at most PAY_STREAMS at once
    # (the page polls /status beyond that) and closes each after PAY_STREAM_SECONDS (the browser reconnects).
    PAY_STREAMS: int = 2
    PAY_STREAM_SECONDS: int = 120
    LEDGER_MAX_DAYS: int = 366  # the longest window one /api/ledger/summary request reads
    # Webhook URLs naming private, loopback, link-local or metadata addresses: None = allowed in dev/test only.
    WEBHOOK_ALLOW_PRIVATE: bool | None = None
    WEBHOOK_TIMEOUT: float = 10.0  # seconds for a whole delivery attempt (connecting takes at most 5 of them)
    # Per merchant: unpaid orders the watcher still watches (its work grows with them; refused beyond with 409)
    # and unrevoked subscription keys (per-key rate limits mean nothing if keys are unlimited).
    MAX_OPEN_ORDERS: int = 10_000
    MAX_ACTIVE_KEYS: int = 100

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, instance_path: str = "") -> Config:
        """Return a Config from the environment variables that are set (the field defaults stand for the
        others); raises ValueError naming the setting on a bad value."""
        env = os.environ if environ is None else environ
        instance = env.get("TILLPOINT_INSTANCE", instance_path) or str(Path.cwd() / "instance")
        return cls(**read_settings(env, ENV_SETTINGS), INSTANCE_PATH=instance, CHAIN=chain_from_env(env))

    def __post_init__(self) -> None:
        if self.CHAINS and self.CHAIN is not self.CHAINS[0]:
            object.__setattr__(self, "CHAIN", self.CHAINS[0])

    @property
    def chains(self) -> tuple[ChainSettings, ...]:
        """Return every chain this deployment serves, the primary first."""
        return self.CHAINS or (self.CHAIN,)

    def chain(self, chain_id: int) -> ChainSettings | None:
        """Return the settings of the configured chain with that id, or None."""
        return next((c for c in self.chains if c.chain_id == chain_id), None)

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
        if self.SESSION_TTL_SECONDS <= 0 or self.NONCE_TTL_SECONDS <= 0 or self.REFUND_CLAIM_TTL_SECONDS <= 0:
            raise ValueError("SESSION_TTL, LOGIN_NONCE_TTL and REFUND_CLAIM_TTL must be positive numbers of seconds")

    def with_overrides(self, **overrides) -> Config:
        """Return a copy with the given settings replaced; raises TypeError on an unknown name."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        if "CHAIN" in overrides and "CHAINS" not in overrides:
            overrides["CHAINS"] = ()  # one chain given: the deployment serves that chain only
        return replace(self, **overrides)

    def webhooks_may_reach_private(self) -> bool:
        """Return True when webhook URLs may name private addresses (WEBHOOK_ALLOW_PRIVATE, else dev/test)."""
        return self.is_dev if self.WEBHOOK_ALLOW_PRIVATE is None else self.WEBHOOK_ALLOW_PRIVATE

    def webhooks_need_https(self) -> bool:
        """Return True when webhook URLs must be https:// (everywhere but dev/test)."""
        return not self.is_dev

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


def chain_from_env(env: Mapping[str, str]) -> ChainSettings:
    """Return the chain settings from the variables of CHAIN_ENV_SETTINGS that env sets; raises ValueError."""
    return ChainSettings(**read_settings(env, CHAIN_ENV_SETTINGS))


def read_settings(env: Mapping[str, str], table: dict[str, tuple[str, Parser]]) -> dict[str, object]:
    """Return {field: parsed value} for each variable of table that env sets; raises ValueError naming it."""
    values = {}
    for variable, (name, parse) in table.items():
        if variable in env:
            try:
                values[name] = parse(env[variable])
            except (ValueError, ArithmeticError) as exc:  # ArithmeticError: decimal.InvalidOperation
                raise ValueError(f"{variable}: {exc}") from exc
    return values


def current_config() -> Config:
    """Return the Config of the current app; raises RuntimeError outside an app context."""
    return current_app.config["TILLPOINT"]


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


def parse_wallets(text: str) -> frozenset[str]:
    """Return comma-separated 0x wallets in lowercase; raises ValueError listing the bad ones."""
    wallets = [w.strip() for w in text.split(",") if w.strip()]
    bad = [w for w in wallets if not WALLET_PATTERN.match(w)]
    if bad:
        raise ValueError(f"must list 0x + 40 hex wallets separated by commas; bad: {bad}")
    return frozenset(w.lower() for w in wallets)


def parse_bool(text: str) -> bool:
    """Return true/false (also 1/0, yes/no, on/off) as a bool; raises ValueError on anything else."""
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off", ""):
        raise ValueError(f"must be true or false, not {text!r}")
    return value in ("true", "1", "yes", "on")


def bps_in_range(text: str) -> int:
    """Return text as basis points strictly between 0 and 10000; raises ValueError outside."""
    value = int(text)
    if not 0 < value < 10_000:
        raise ValueError(f"must be between 1 and 9999 basis points, not {value}")
    return value


def positive_seconds(text: str) -> float:
    """Return text as a positive number of seconds; raises ValueError otherwise."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(f"must be a positive number of seconds, not {text!r}")
    return value


def rate_limit_text(text: str) -> str:
    """Return text if it is a rate limit such as `600 per minute` (or `10/second;100/hour`); raises ValueError."""
    try:
        limits.parse_many(text)
    except ValueError as exc:
        raise ValueError(f"must be a rate limit such as '600 per minute', not {text!r}") from exc
    return text


def _without_trailing_slash(text: str) -> str:
    return text.rstrip("/")


def _block_or_none(text: str) -> int | None:
    return int(text) if text else None


# Each environment variable: the field it sets and the parser of its text. A variable that is not set
# leaves the field's default, so every default is written once, on the dataclass.
ENV_SETTINGS: dict[str, tuple[str, Parser]] = {
    "TILLPOINT_ENV": ("ENV", str),
    "DATABASE_URL": ("DATABASE_URL", str),
    "REDIS_URL": ("REDIS_URL", str),
    "PUBLIC_URL": ("PUBLIC_URL", _without_trailing_slash),
    "QUOTE_TTL": ("QUOTE_TTL_SECONDS", int),
    "FEE_TIERS": ("FEE_TIERS", parse_fee_tiers),
    "RATE_LIMIT": ("RATE_LIMIT", rate_limit_text),
    "RATE_LIMIT_PUBLIC": ("RATE_LIMIT_PUBLIC", rate_limit_text),
    "RATE_LIMIT_AUTH": ("RATE_LIMIT_AUTH", rate_limit_text),
    "RATE_LIMIT_PAY": ("RATE_LIMIT_PAY", rate_limit_text),
    "RATE_LIMIT_KEY_PREFIX": ("RATE_LIMIT_KEY_PREFIX", str),
    "SECRET_KEY": ("SECRET_KEY", str),
    "SESSION_TTL": ("SESSION_TTL_SECONDS", int),
    "LOGIN_NONCE_TTL": ("NONCE_TTL_SECONDS", int),
    "REFUND_CLAIM_TTL": ("REFUND_CLAIM_TTL_SECONDS", int),
    "ADMIN_WALLETS": ("ADMIN_WALLETS", parse_wallets),
    "EDGE_SECRET": ("EDGE_SECRET", str),
    "EDGE_ONLY": ("EDGE_ONLY", parse_bool),
    "BEHIND_PROXY": ("BEHIND_PROXY", parse_bool),
    "PAY_FRAME_ANCESTORS": ("PAY_FRAME_ANCESTORS", lambda text: tuple(text.split())),
    "PAY_STREAMS": ("PAY_STREAMS", int),
    "PAY_STREAM_SECONDS": ("PAY_STREAM_SECONDS", int),
    "LEDGER_MAX_DAYS": ("LEDGER_MAX_DAYS", int),
    "WEBHOOK_ALLOW_PRIVATE": ("WEBHOOK_ALLOW_PRIVATE", lambda text: parse_bool(text) if text.strip() else None),
    "WEBHOOK_TIMEOUT": ("WEBHOOK_TIMEOUT", positive_seconds),
    "MAX_OPEN_ORDERS": ("MAX_OPEN_ORDERS", int),
    "MAX_ACTIVE_KEYS": ("MAX_ACTIVE_KEYS", int),
}
CHAIN_ENV_SETTINGS: dict[str, tuple[str, Parser]] = {
    "CHAIN_ID": ("chain_id", int),
    "RPC_URL": ("rpc_url", str),
    "NETWORK_NAME": ("network_name", str),
    "CONFIRMATIONS": ("confirmations", int),
    "DEPOSIT_FACTORY": ("factory", checksum_or_empty),
    "ETH_USD_FEED": ("eth_usd_feed", checksum_or_empty),
    "PRICE_MAX_AGE": ("price_max_age_seconds", int),
    "TOKENS": ("tokens", parse_tokens),
    "START_BLOCK": ("start_block", _block_or_none),
    "PLATFORM_PAYEE": ("platform_payee", checksum_or_empty),
    "PLATFORM_SHARE_BPS": ("platform_share_bps", bps_in_range),
    "OPERATOR_PRIVATE_KEY": ("operator_key", str),
    "MONITOR_WINDOW": ("monitor_window_seconds", int),
    "WATCH_CHUNK": ("watch_chunk", int),
    "RPC_BATCH_MAX": ("rpc_batch_max", int),
    "SETTLER": ("settle", parse_bool),
    "SETTLE_STUCK_SECONDS": ("settle_stuck_seconds", int),
    "EXPLORER_URL": ("explorer_url", _without_trailing_slash),
}
