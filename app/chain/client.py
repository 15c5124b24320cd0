"""JSON-RPC access: a web3 client that retries refused connections, and raw feed reads."""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import TypeVar

import requests
from eth_abi import decode
from eth_abi.exceptions import DecodingError
from web3 import HTTPProvider, Web3
from web3.exceptions import (
    BadResponseFormat,
    ContractLogicError,
    ProviderConnectionError,
    Web3Exception,
    Web3RPCError,
)
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import RPCEndpoint

from app.chain.quotes import EthPrice
from app.chain.settings import ChainSettings
from app.errors import ChainUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")

LATEST_ROUND_DATA = "0xfeaf968c"
DECIMALS = "0x313ce567"
# web3's default retry misses requests.ConnectionError (not a builtin ConnectionError subclass).
RETRYABLE = (ConnectionError, requests.ConnectionError, requests.HTTPError, requests.Timeout)
RPC_ERRORS = (requests.RequestException, OSError, Web3RPCError, ProviderConnectionError, BadResponseFormat)
RPC_TIMEOUT_SECONDS = 5  # for reads and sends made while an API request waits

READ_METHODS = ["eth_chainId", "eth_blockNumber", "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getLogs",
                "eth_getBalance", "eth_call", "eth_getTransactionReceipt", "eth_getTransactionByHash",
                "eth_getCode", "eth_getTransactionCount", "eth_estimateGas", "eth_gasPrice", "eth_feeHistory",
                "eth_maxPriorityFeePerGas"]


def make_web3(rpc_url: str, timeout: float = 10, retries: int = 3) -> Web3:
    """Return a Web3 on rpc_url that retries connection failures with backoff (sends are never retried)."""
    retry = ExceptionRetryConfiguration(errors=RETRYABLE, retries=retries, backoff_factor=0.1,
                                        method_allowlist=READ_METHODS) if retries else None
    provider = HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=retry)
    return Web3(provider)


def batch_calls(w3: Web3, make: Callable[[T], object], items: Sequence[T], size: int) -> list:
    """Return the results of make(item) for each item, sent in JSON-RPC batches of at most size calls (a node
    refuses, or times out on, a batch as large as every open order); raises what web3 raises."""
    results: list = []
    for start in range(0, len(items), max(1, size)):
        with w3.batch_requests() as batch:
            for item in items[start:start + max(1, size)]:
                batch.add(make(item))
            results += batch.execute()
    return results


def balances_at(w3: Web3, addresses: Sequence[str], block: int, size: int) -> list[int]:
    """Return the wei balance of each address at block, in raw JSON-RPC batches of at most size calls (web3's
    per-call request building costs about a millisecond each, a minute for 50,000 open orders); raises
    Web3RPCError when the node answers an error."""
    balances: list[int] = []
    for start in range(0, len(addresses), max(1, size)):
        calls = [(RPCEndpoint("eth_getBalance"), [address, hex(block)])
                 for address in addresses[start:start + max(1, size)]]
        answers = w3.provider.make_batch_request(calls)
        if not isinstance(answers, list):  # the node refused the whole batch
            raise Web3RPCError(str(answers.get("error")), rpc_response=answers)
        for answer in answers:
            if "error" in answer or "result" not in answer:
                raise Web3RPCError(str(answer.get("error")), rpc_response=answer)
            balances.append(int(answer["result"], 16))
    return balances


def read_eth_price(w3: Web3, feed: str) -> EthPrice | None:
    """Return the feed's latest answer, or None when the RPC or the feed cannot be read."""
    try:
        decimals = decode(["uint8"], w3.eth.call({"to": feed, "data": DECIMALS}))[0]
        _, answer, _, updated_at, _ = decode(["uint80", "int256", "uint256", "uint256", "uint80"],
                                             w3.eth.call({"to": feed, "data": LATEST_ROUND_DATA}))
    except (Web3Exception, requests.RequestException, ValueError, OverflowError) as exc:
        logger.warning("eth price unavailable feed=%s error=%s", feed, exc)
        return None
    return EthPrice(answer, decimals, updated_at)


def eth_price_at(w3: Web3, feed: str, block: int) -> EthPrice | None:
    """Return the feed's answer as of block, or None when the feed has none there (not deployed yet, or state
    the node no longer keeps). An unreachable RPC raises, so the watcher retries rather than guessing."""
    try:
        decimals = decode(["uint8"], w3.eth.call({"to": feed, "data": DECIMALS}, block))[0]
        _, answer, _, updated_at, _ = decode(["uint80", "int256", "uint256", "uint256", "uint80"],
                                             w3.eth.call({"to": feed, "data": LATEST_ROUND_DATA}, block))
    except (DecodingError, ContractLogicError, Web3RPCError) as exc:
        logger.info("eth price has no history feed=%s block=%d error=%s", feed, block, type(exc).__name__)
        return None
    return EthPrice(answer, decimals, updated_at) if answer > 0 else None


def eth_price_reader(chain: ChainSettings):
    """Return a callable giving the ETH/USD reading, or None without RPC or feed (never waits long)."""
    if not (chain.rpc_url and chain.eth_usd_feed):
        return lambda: None
    return functools.partial(_cached_price, chain.rpc_url, chain.eth_usd_feed)


PRICE_CACHE_SECONDS = 5  # a feed updates on the order of minutes; an outage is not retried per order
_price_cache: dict[tuple[str, str], tuple[float, EthPrice | None]] = {}
_price_lock = threading.Lock()


def _cached_price(rpc_url: str, feed: str) -> EthPrice | None:
    """Return the feed reading taken within PRICE_CACHE_SECONDS, reading it again when older."""
    key = (rpc_url, feed)
    with _price_lock:  # concurrent requests share one read instead of each calling the node
        cached = _price_cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < PRICE_CACHE_SECONDS:
            return cached[1]
        price = read_eth_price(order_time_web3(rpc_url), feed)
        _price_cache[key] = (time.monotonic(), price)
        return price


def forget_prices() -> None:
    """Drop cached feed readings (the dev chain and the tests rewind chains under them)."""
    with _price_lock:
        _price_cache.clear()


@functools.lru_cache(maxsize=4)
def order_time_web3(rpc_url: str) -> Web3:
    """Return a shared Web3 for reads during a request: short timeout, no retries (the order must not wait)."""
    return make_web3(rpc_url, timeout=2, retries=0)


def connect(chain: ChainSettings) -> Web3:
    """Return a Web3 on the configured RPC, checked to be on chain_id; raises ChainUnavailable."""
    w3 = make_web3(chain.rpc_url, timeout=RPC_TIMEOUT_SECONDS, retries=1)
    with rpc_errors("read the chain id"):
        actual = w3.eth.chain_id
    if actual != chain.chain_id:
        raise ChainUnavailable(f"The RPC serves chain {actual} but this server is configured for {chain.chain_id}")
    return w3


@contextmanager
def rpc_errors(action: str):
    """Turn RPC failures inside the block into ChainUnavailable (never echoing the RPC URL, which may hold a key)."""
    try:
        yield
    except Web3RPCError as exc:
        logger.warning("rpc error action=%r error=%s", action, exc)
        raise ChainUnavailable(f"Could not {action}: the node answered {node_message(exc)}") from exc
    except RPC_ERRORS as exc:
        logger.warning("rpc unreachable action=%r error=%s", action, type(exc).__name__)
        raise ChainUnavailable(f"Could not {action}: the chain RPC is unreachable") from exc


def node_message(exc: Web3RPCError) -> str:
    """Return the node's own error text from a JSON-RPC error response."""
    error = (exc.rpc_response or {}).get("error")
    return str(error.get("message")) if isinstance(error, dict) and error.get("message") else str(exc.message)


def log_failure(log: logging.Logger, message: str, exc: Exception) -> None:
    """Log a failed step: an RPC failure by its type only (its text and traceback can hold the RPC URL, and
    so a provider's API key), anything else with its traceback."""
    if isinstance(exc, RPC_ERRORS):
        log.warning("%s: %s", message, type(exc).__name__)
    else:
        log.exception(message)
