"""EIP-681 URIs: round trips, the EIP's own examples, and what must be refused."""
from __future__ import annotations

import pytest
from eth_utils import to_checksum_address as checksum

from hypothesis import given
from hypothesis import strategies as st

from app.chain.eip681 import PaymentRequest, erc20_uri, native_uri, parse, quote_uri

SPLIT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"


def test_native_uri_round_trip():
    uri = native_uri(SPLIT.lower(), 8453, 16663333000000000)
    assert uri == f"ethereum:{SPLIT}@8453?value=16663333000000000"
    assert parse(uri) == PaymentRequest(8453, SPLIT, 16663333000000000)


def test_erc20_uri_round_trip():
    uri = erc20_uri(USDC.lower(), 1, SPLIT, 49990000)
    assert uri == f"ethereum:{USDC}@1/transfer?address={SPLIT}&uint256=49990000"
    assert parse(uri) == PaymentRequest(1, SPLIT, 49990000, token=USDC)


@pytest.mark.parametrize("uri, expected", [
    ("ethereum:0xfb6916095ca1df60bb79Ce92ce3Ea74c37c5d359?value=2.014e18",
     PaymentRequest(1, checksum("0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"), 2014000000000000000)),
    ("ethereum:0x89205a3a3b2a69de6dbf7f01ed13b2108b2c43e7/transfer?address=0x8e23ee67d1332ad560396262c48ffbb01f93d052&uint256=1",
     PaymentRequest(1, checksum("0x8e23ee67d1332ad560396262c48ffbb01f93d052"), 1,
                    token=checksum("0x89205a3a3b2a69de6dbf7f01ed13b2108b2c43e7"))),
    ("ethereum:pay-0xfb6916095ca1df60bb79Ce92ce3Ea74c37c5d359@1?value=1e18",
     PaymentRequest(1, checksum("0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"), 10**18)),
], ids=["eip-value-scientific", "eip-erc20-transfer", "pay-prefix-with-chain"])
def test_the_eips_own_examples_parse(uri, expected):
    assert parse(uri) == expected


@pytest.mark.parametrize("uri", [
    "bitcoin:1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "ethereum:0x1234@1?value=1",
    f"ethereum:{SPLIT}@1?value=1.5", f"ethereum:{SPLIT}@1?value=-1",
    f"ethereum:{USDC}@1/approve?address={SPLIT}&uint256=1",
    f"ethereum:{USDC}@1/transfer?address=0x12&uint256=1", f"ethereum:{SPLIT}@1?value=1e999",
], ids=["bitcoin", "short-address", "fractional-wei", "negative", "approve", "bad-recipient", "absurd-exponent"])
def test_bad_uris_are_refused(uri):
    with pytest.raises(ValueError):
        parse(uri)


@pytest.mark.parametrize("amount", [-1, 1.5, True], ids=["negative", "float", "bool"])
def test_builders_take_only_whole_base_units(amount):
    with pytest.raises(ValueError):
        native_uri(SPLIT, 1, amount)


@given(to=st.binary(min_size=20, max_size=20), token=st.none() | st.binary(min_size=20, max_size=20),
       chain_id=st.integers(1, 2**32), amount=st.integers(0, 2**256 - 1))
def test_any_request_round_trips_exactly(to, token, chain_id, amount):
    token_address = checksum("0x" + token.hex()) if token else None
    uri = quote_uri(token_address, chain_id, "0x" + to.hex(), amount)
    assert parse(uri) == PaymentRequest(chain_id, checksum("0x" + to.hex()), amount, token=token_address)


@pytest.mark.parametrize("uri", ["ethereum:pay-tillpoint.eth@1?value=1",
                                 "ethereum:tillpoint.eth/transfer?address=0x1&uint256=1"],
                         ids=["ens-native", "ens-transfer"])
def test_ens_names_are_refused_a_deposit_address_is_always_hex(uri):
    with pytest.raises(ValueError):
        parse(uri)
