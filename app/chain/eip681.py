"""EIP-681 payment URIs: build and parse the native and ERC-20 transfer forms, integers only."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, DecimalException
from functools import lru_cache
from urllib.parse import parse_qsl

from eth_utils import is_address, to_checksum_address

URI = re.compile(r"^ethereum:(?:pay-)?(?P<target>0x[0-9a-fA-F]{40})(?:@(?P<chain>\d+))?"
                 r"(?:/(?P<function>[A-Za-z_][A-Za-z0-9_]*))?(?:\?(?P<query>.*))?$")
checksummed = lru_cache(maxsize=4096)(to_checksum_address)  # a keccak per call: every pay page builds several


@dataclass(frozen=True)
class PaymentRequest:
    """What a wallet should send: value in wei to `to`, or `amount` base units of `token` to `to`."""

    chain_id: int
    to: str
    amount: int
    token: str | None = None


def native_uri(to: str, chain_id: int, wei: int) -> str:
    """Return ethereum:<to>@<chainId>?value=<wei>."""
    return f"ethereum:{checksummed(to)}@{int(chain_id)}?value={_whole(wei)}"


def erc20_uri(token: str, chain_id: int, to: str, amount: int) -> str:
    """Return ethereum:<token>@<chainId>/transfer?address=<to>&uint256=<amount>."""
    return (f"ethereum:{checksummed(token)}@{int(chain_id)}/transfer"
            f"?address={checksummed(to)}&uint256={_whole(amount)}")


def quote_uri(token: str | None, chain_id: int, to: str, amount: int) -> str:
    """Return the request for amount base units of token (None: native ETH) to `to`."""
    return erc20_uri(token, chain_id, to, amount) if token else native_uri(to, chain_id, amount)


def parse(uri: str, default_chain_id: int = 1) -> PaymentRequest:
    """Return the payment a URI asks for; raises ValueError unless it is a native or transfer request."""
    match = URI.match(uri)
    if match is None:
        raise ValueError("not an EIP-681 ethereum: URI with a hex address")
    chain_id = int(match["chain"]) if match["chain"] else default_chain_id
    params = dict(parse_qsl(match["query"] or "", keep_blank_values=True, strict_parsing=bool(match["query"])))
    target = to_checksum_address(match["target"])
    if match["function"] is None:
        return PaymentRequest(chain_id, target, _number(params.get("value", "0")))
    if match["function"] != "transfer" or not is_address(params.get("address", "")):
        raise ValueError("only transfer(address,uint256) is supported")
    return PaymentRequest(chain_id, to_checksum_address(params["address"]), _number(params.get("uint256", "0")),
                          token=target)


def _whole(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("amounts are non-negative integers in base units")
    return value


def _number(text: str) -> int:
    """Return an EIP-681 number (digits, or scientific notation such as 2.014e18) as an exact integer."""
    if not re.fullmatch(r"\d+(\.\d+)?([eE]\d+)?", text):
        raise ValueError(f"not an EIP-681 number: {text!r}")
    try:
        value = Decimal(text)
    except DecimalException as exc:
        raise ValueError(f"not a number: {text!r}") from exc
    if value.adjusted() > 80 or value != value.to_integral_value():
        raise ValueError(f"not a whole amount: {text!r}")
    return int(value)
