"""Chain and token settings, parsed from strings by Config.from_env (which alone reads the environment)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from eth_utils import is_address, to_checksum_address

ETH = "ETH"
FINALIZED = "finalized"  # ChainSettings.finality: completion waits for the chain's finalized block


@dataclass(frozen=True)
class Token:
    """An accepted ERC-20: only Transfers emitted by `address` are ever credited."""

    symbol: str
    address: str
    decimals: int
    usd_peg: Decimal = Decimal(1)


@dataclass(frozen=True)
class ChainSettings:
    chain_id: int = 31337
    rpc_url: str = ""
    network_name: str = "Local dev chain"
    confirmations: int = 2
    factory: str = ""
    eth_usd_feed: str = ""
    price_max_age_seconds: int = 3600
    tokens: tuple[Token, ...] = field(default_factory=tuple)
    start_block: int | None = None  # where a watcher with no cursor yet starts; None = the current head
    platform_payee: str = ""
    platform_share_bps: int = 100
    # Private key that deploys splits and (later) sends settlements; never logged, never in a response.
    operator_key: str = field(default="", repr=False)
    monitor_window_seconds: int = 24 * 3600
    watch_chunk: int = 200  # most blocks a watcher tick reads at once
    rpc_batch_max: int = 100  # most calls in one JSON-RPC batch (nodes refuse, or time out on, large ones)
    settle: bool = True  # the watcher also sweeps paid orders into their splits (needs operator_key)
    settle_stuck_seconds: int = 180  # a settle transaction unmined this long is replaced with higher fees
    explorer_url: str = ""  # block explorer base, e.g. https://basescan.org; transactions link to <base>/tx/<hash>
    rpc_fallbacks: tuple[str, ...] = ()  # further RPC URLs, tried in order when the one before fails
    block_time_seconds: float = 12.0  # the chain's usual block interval: how often its watcher polls
    fee_level: str = ""  # the network's fees in words for the pay page ("low fees"); empty: not shown
    # "confirmations": completed (and settled) at `confirmations` blocks; "finalized": also only once the
    # chain's `finalized` block (eth_getBlockByNumber("finalized")) has reached them. Paid stays at confirmations.
    finality: str = "confirmations"

    @property
    def enabled(self) -> bool:
        """Return True when deposit addresses can be computed (a factory is configured)."""
        return bool(self.factory)

    @property
    def rpc_urls(self) -> tuple[str, ...]:
        """Return every configured RPC URL, the primary first (failover goes down this list)."""
        return tuple(url for url in (self.rpc_url, *self.rpc_fallbacks) if url)

    @property
    def monitor_window(self) -> timedelta:
        """Return how long after quote expiry an order's deposit address is still watched and swept."""
        return timedelta(seconds=self.monitor_window_seconds)

    def token(self, symbol: str) -> Token | None:
        """Return the configured token with that symbol, or None."""
        return next((t for t in self.tokens if t.symbol == symbol), None)

    def offered(self, accepted: list[str]) -> list[str]:
        """Return the shop's accepted symbols this chain can take, in the shop's order."""
        return [s for s in accepted if self.token(s) or (s == ETH and self.eth_usd_feed)]


def parse_tokens(text: str) -> tuple[Token, ...]:
    """Return tokens from "SYMBOL:0xaddress:decimals[:usdPeg],..."; raises ValueError on bad input."""
    tokens = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        pieces = part.split(":")
        if len(pieces) not in (3, 4) or not is_address(pieces[1]) or not pieces[2].isdigit():
            raise ValueError(f"token {part!r} is not SYMBOL:0xaddress:decimals[:usdPeg]")
        peg = Decimal(pieces[3]) if len(pieces) == 4 else Decimal(1)
        if peg <= 0 or pieces[0] == ETH:
            raise ValueError(f"token {part!r}: peg must be positive and ETH is native")
        tokens.append(Token(pieces[0], to_checksum_address(pieces[1]), int(pieces[2]), peg))
    return tuple(tokens)


def checksum_or_empty(value: str) -> str:
    """Return value as a checksummed address, or "" when empty; raises ValueError if malformed."""
    if not value:
        return ""
    if not is_address(value):
        raise ValueError(f"{value!r} is not an address")
    return to_checksum_address(value)
