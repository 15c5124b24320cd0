"""Sign-In with Ethereum (EIP-4361): build, parse and verify the message a wallet signs.

Only what a login needs: the message grammar of the EIP, checked strictly, and the signer recovered
with eth-account (EIP-191 personal_sign). Pure: the caller passes the time; nonce bookkeeping lives
in app.services.sessions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import is_checksum_address

PREAMBLE = " wants you to sign in with your Ethereum account:"
HEADER = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<domain>[^\s/?#]+)" + re.escape(PREAMBLE) + "$")
NONCE = re.compile(r"^[A-Za-z0-9]{8,64}$")
SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")
CLOCK_SKEW = timedelta(seconds=60)
# (label, attribute, required), in the order EIP-4361 fixes.
FIELDS = (("URI", "uri", True), ("Version", "version", True), ("Chain ID", "chain_id", True),
          ("Nonce", "nonce", True), ("Issued At", "issued_at", True), ("Expiration Time", "expiration_time", False),
          ("Not Before", "not_before", False), ("Request ID", "request_id", False))


class SiweError(ValueError):
    """The message is malformed, for another site or chain, out of its validity window, or not signed by its address."""


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    statement: str | None = None
    version: str = "1"
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()
    scheme: str | None = None

    def text(self) -> str:
        """Return the message exactly as the wallet shows and signs it."""
        lines = [f"{self.scheme + '://' if self.scheme else ''}{self.domain}{PREAMBLE}", self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines.append("")
        for label, attribute, _ in FIELDS:
            value = getattr(self, attribute)
            if value is not None:
                lines.append(f"{label}: {format_time(value) if isinstance(value, datetime) else value}")
        if self.resources:
            lines += ["Resources:", *(f"- {resource}" for resource in self.resources)]
        return "\n".join(lines)


@dataclass(frozen=True)
class Expected:
    """What a login here must name: our domain (host[:port]), our URI scheme, our chain."""

    domain: str
    scheme: str
    chain_id: int


def format_time(moment: datetime) -> str:
    """Return an RFC 3339 UTC timestamp with milliseconds, as browsers' toISOString() writes it."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str, label: str) -> datetime:
    """Return an RFC 3339 timestamp as an aware datetime; raises SiweError."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SiweError(f"{label} is not an RFC 3339 timestamp") from exc
    if moment.tzinfo is None or "T" not in text:
        raise SiweError(f"{label} must be an RFC 3339 timestamp with a time zone")
    return moment


def parse(text: str) -> SiweMessage:
    """Return the message's fields; raises SiweError unless it follows the EIP-4361 grammar."""
    lines = text.split("\n")
    header = HEADER.match(lines[0]) if lines else None
    if header is None or len(lines) < 4:
        raise SiweError("not an EIP-4361 message")
    address, rest = lines[1], lines[2:]
    if not is_checksum_address(address):
        raise SiweError("the address must be EIP-55 checksummed")
    statement, rest = _statement(rest)
    values, rest = _fields(rest)
    resources = _resources(rest)
    try:
        chain_id = int(values["chain_id"])
    except ValueError as exc:
        raise SiweError("Chain ID must be a number") from exc
    if values["version"] != "1" or not NONCE.match(values["nonce"]):
        raise SiweError("Version must be 1 and Nonce 8 to 64 letters or digits")
    times = {name: parse_time(values[name], name) for name in ("issued_at", "expiration_time", "not_before")
             if values.get(name) is not None}
    return SiweMessage(domain=header["domain"], scheme=header["scheme"], address=address, statement=statement,
                       uri=values["uri"], version="1", chain_id=chain_id, nonce=values["nonce"],
                       request_id=values.get("request_id"), resources=resources, **times)


def _statement(rest: list[str]) -> tuple[str | None, list[str]]:
    """Return the optional statement and the lines after the blank line that closes it."""
    if rest[0] != "":
        raise SiweError("a blank line must follow the address")
    if rest[1] == "":
        return None, rest[2:]
    if rest[1].startswith("URI: "):
        return None, rest[1:]  # older messages omit the second blank line when there is no statement
    if "\n" in rest[1] or len(rest) < 3 or rest[2] != "":
        raise SiweError("the statement must be one line followed by a blank line")
    return rest[1], rest[3:]


def _fields(rest: list[str]) -> tuple[dict[str, str], list[str]]:
    """Return the labelled fields, in the fixed order, and the lines left after them."""
    values: dict[str, str] = {}
    for label, attribute, required in FIELDS:
        if rest and rest[0].startswith(f"{label}: "):
            values[attribute], rest = rest[0][len(label) + 2:], rest[1:]
        elif required:
            raise SiweError(f"missing or misplaced field {label}")
    return values, rest


def _resources(rest: list[str]) -> tuple[str, ...]:
    if not rest:
        return ()
    if rest[0] != "Resources:" or not all(line.startswith("- ") for line in rest[1:]):
        raise SiweError("unexpected lines after the fields")
    return tuple(line[2:] for line in rest[1:])


def verify(text: str, signature: str, expected: Expected, now: datetime) -> SiweMessage:
    """Return the parsed message if it is for us, valid now, and signed by its address; raises SiweError."""
    message = parse(text)
    try:
        uri = urlsplit(message.uri)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise SiweError("URI is not a valid URI") from exc
    if message.domain.lower() != expected.domain.lower():
        raise SiweError(f"the message is for {message.domain}, not {expected.domain}")
    if (uri.scheme.lower(), uri.netloc.lower()) != (expected.scheme, expected.domain.lower()):
        raise SiweError(f"URI must be on {expected.scheme}://{expected.domain}")
    if message.scheme is not None and message.scheme.lower() != expected.scheme:
        raise SiweError(f"the message's scheme must be {expected.scheme}")
    if message.chain_id != expected.chain_id:
        raise SiweError(f"the message is for chain {message.chain_id}, not {expected.chain_id}")
    _check_window(message, now)
    if recover(text, signature) != message.address:
        raise SiweError("the signature is not the address's")
    return message


def _check_window(message: SiweMessage, now: datetime) -> None:
    if message.issued_at > now + CLOCK_SKEW:
        raise SiweError("Issued At is in the future")
    if message.expiration_time is not None and message.expiration_time <= now:
        raise SiweError("the message has expired")
    if message.not_before is not None and message.not_before > now + CLOCK_SKEW:
        raise SiweError("the message is not valid yet (Not Before)")


def recover(text: str, signature: str) -> str:
    """Return the checksummed address that signed text (EIP-191); raises SiweError on a malformed signature."""
    if not isinstance(signature, str) or not SIGNATURE.match(signature):
        raise SiweError("signature must be 0x followed by 130 hex characters")
    try:
        return Account.recover_message(encode_defunct(text=text), signature=signature)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise SiweError("the signature cannot be recovered") from exc
