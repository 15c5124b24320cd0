"""EIP-4361 messages: the grammar both ways, and verification with real eth-account signatures."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from app.domain import siwe

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
EXPECTED = siwe.Expected("shop.example", "https", 1)
# The example of EIP-4361 itself (the current grammar: two blank lines when there is no statement).
EIP_EXAMPLE = """example.com wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


def message(address: str, **overrides) -> siwe.SiweMessage:
    fields = {"domain": "shop.example", "address": address, "uri": "https://shop.example/admin", "chain_id": 1,
              "nonce": "abcdef123456", "issued_at": NOW, "expiration_time": NOW + timedelta(minutes=5),
              "statement": "Sign in to Tillpoint"}
    return siwe.SiweMessage(**{**fields, **overrides})


def signed(account, msg: siwe.SiweMessage) -> tuple[str, str]:
    text = msg.text()
    return text, Account.sign_message(encode_defunct(text=text), account.key).signature.to_0x_hex()


def test_the_eip_example_parses_and_prints_back_identically():
    parsed = siwe.parse(EIP_EXAMPLE)
    assert (parsed.domain, parsed.chain_id, parsed.nonce) == ("example.com", 1, "32891756")
    assert parsed.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=timezone.utc) and len(parsed.resources) == 2
    assert parsed.statement.startswith("I accept") and parsed.expiration_time is None


def test_built_messages_round_trip_with_and_without_statement():
    address = Account.create().address
    for msg in (message(address), message(address, statement=None, request_id="r-1", not_before=NOW,
                                          scheme="https", resources=("https://shop.example/a",))):
        assert siwe.parse(msg.text()) == msg


def test_a_message_without_statement_has_two_blank_lines_and_the_older_form_still_parses():
    text = message(Account.create().address, statement=None).text()
    assert "\n\n\nURI: " in text
    assert siwe.parse(text.replace("\n\n\nURI: ", "\n\nURI: ")).statement is None


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("wants you to sign in", "wants you to log in"),
    lambda t: t.replace("Version: 1", "Version: 2"),
    lambda t: t.replace("Chain ID: 1", "Chain ID: one"),
    lambda t: t.replace("Nonce: abcdef123456", "Nonce: abc"),
    lambda t: t.replace("Nonce: abcdef123456", "Nonce: abc-def-123"),
    lambda t: "\n".join(line for line in t.split("\n") if not line.startswith("URI")),
    lambda t: t.replace("Issued At: 2026-11-26T12:00:00.000Z", "Issued At: yesterday"),
    lambda t: t.replace("Issued At: 2026-11-26T12:00:00.000Z", "Issued At: 2026-11-26T12:00:00"),
    lambda t: t + "\nExtra: line",
    lambda t: t.replace("\nSign in to Tillpoint\n", "\nSign in to Tillpoint\nsecond line\n"),
    lambda t: "",
], ids=["preamble", "version", "chain-id", "short-nonce", "nonce-symbols", "no-uri", "bad-time", "naive-time",
        "extra-line", "two-line-statement", "empty"])
def test_malformed_messages_are_refused(edit):
    with pytest.raises(siwe.SiweError):
        siwe.parse(edit(message(Account.create().address).text()))


def test_a_lowercase_address_is_refused_as_eip55_requires_checksums():
    with pytest.raises(siwe.SiweError, match="checksum"):
        address = Account.create().address
        siwe.parse(message(address).text().replace(address, address.lower()))


def test_verify_returns_the_message_signed_by_its_address():
    account = Account.create()
    text, signature = signed(account, message(account.address))
    assert siwe.verify(text, signature, EXPECTED, NOW).address == account.address


@pytest.mark.parametrize("overrides, now", [
    ({"domain": "evil.example"}, NOW), ({"uri": "http://shop.example/admin"}, NOW),
    ({"uri": "https://shop.example.evil.example/"}, NOW), ({"scheme": "http"}, NOW), ({"chain_id": 8453}, NOW),
    ({}, NOW + timedelta(minutes=5)), ({"issued_at": NOW + timedelta(minutes=2)}, NOW),
    ({"not_before": NOW + timedelta(minutes=2)}, NOW), ({"uri": "http://[::1"}, NOW)],
    ids=["domain", "uri-scheme", "uri-host", "message-scheme", "chain", "expired", "issued-later", "not-before",
         "uri-unparsable"])
def test_verify_refuses_other_sites_chains_and_times(overrides, now):
    account = Account.create()
    text, signature = signed(account, message(account.address, **overrides))
    with pytest.raises(siwe.SiweError):
        siwe.verify(text, signature, EXPECTED, now)


def test_verify_refuses_a_signature_by_another_key_or_malformed():
    account, other = Account.create(), Account.create()
    text, _ = signed(account, message(account.address))
    _, foreign = signed(other, message(account.address))
    for bad in (foreign, "0x" + "00" * 65, "0x" + "ff" * 65, "0x12", None):
        with pytest.raises(siwe.SiweError):
            siwe.verify(text, bad, EXPECTED, NOW)
