"""Split, DepositFactory/DepositForwarder and the test mocks, on a real anvil."""
from __future__ import annotations

import subprocess
import sys

import pytest
import rlp
from eth_abi import encode
from eth_utils import keccak, to_canonical_address, to_checksum_address
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from app.chain import deposits
from app.chain.contracts import load_artifact

from app.chain.devchain import ROOT

from tests.helpers.chain import deploy, transact, wait

ETH = "0x0000000000000000000000000000000000000000"
# EIP-1167 minimal proxy: creation code = PREFIX + implementation + SUFFIX (as in OZ 4.9.6 Clones.sol).
PROXY_PREFIX = bytes.fromhex("3d602d80600a3d3981f3363d3d373d3d3d363d73")
PROXY_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")


def order_ref(receipt_id: str) -> bytes:
    return receipt_id.encode("ascii").ljust(32, b"\0")


def offchain_deposit_address(factory: str, implementation: str, split: str, ref: bytes) -> str:
    salt = keccak(encode(["address", "bytes32"], [split, ref]))
    init_code = PROXY_PREFIX + to_canonical_address(implementation) + PROXY_SUFFIX
    return to_checksum_address(keccak(b"\xff" + to_canonical_address(factory) + salt + keccak(init_code))[12:])


def forwarder_at(w3, address):
    return w3.eth.contract(address=address, abi=load_artifact("DepositForwarder")["abi"])


def settle(w3, c, ref: bytes, token: str, sender, split=None):
    split = split or c.split
    receipt = transact(w3, c.factory.functions.settle(split.address, ref, token), sender)
    assert receipt.status == 1
    return receipt


def settled_events(c, receipt):
    return [e.args for e in c.factory.events.Settled().process_receipt(receipt, errors=DISCARD)]


def test_predict_matches_offchain_create2(w3, accounts, contracts):
    c = contracts
    impl = c.factory.functions.implementation().call()
    # the factory's constructor CREATEs the implementation first: a contract's nonce starts at 1
    assert impl == to_checksum_address(keccak(rlp.encode([to_canonical_address(c.factory.address), 1]))[12:])
    for split in (c.split.address, accounts.merchant.address):
        for rid in ("R-ABCDEFGHIJKL", "R-ABCDEFGHIJKM", "R-" + "Z" * 30):
            ref = order_ref(rid)
            assert c.factory.functions.salt(split, ref).call() == keccak(encode(["address", "bytes32"], [split, ref]))
            predicted = c.factory.functions.predict(split, ref).call()
            assert predicted == offchain_deposit_address(c.factory.address, impl, split, ref)
            assert predicted == deposits.deposit_address(c.factory.address, split, rid), "the app's own formula"
    # after settlement the predicted address holds the EIP-1167 runtime code pointing at the implementation
    ref = order_ref("R-DEPLOYEDCHECK")
    deposit = c.factory.functions.predict(c.split.address, ref).call()
    assert w3.eth.get_code(deposit) == b""
    settle(w3, c, ref, c.usdc.address, accounts.all[3])
    runtime = bytes.fromhex("363d3d373d3d3d363d73") + to_canonical_address(impl) + PROXY_SUFFIX
    assert bytes(w3.eth.get_code(deposit)) == runtime


@pytest.mark.parametrize("amount, merchant_cut, platform_cut, dust", [
    (123_450_000, 122_215_500, 1_234_500, 0),  # 123.45 USDC: exact
    (123_456_789, 122_222_221, 1_234_567, 1),  # floors per payee; 1 base unit stays in the split
])
@pytest.mark.parametrize("token_name", ["usdc", "usdt"])
def test_token_payment_is_swept_and_split(w3, accounts, contracts, token_name, amount, merchant_cut,
                                          platform_cut, dust):
    c, a = contracts, accounts
    token = getattr(c, token_name)
    ref = order_ref("R-ABCDEFGHIJKL")
    deposit = c.factory.functions.predict(c.split.address, ref).call()
    assert w3.eth.get_code(deposit) == b""
    assert transact(w3, token.functions.transfer(deposit, amount), a.shopper).status == 1  # plain transfer
    before = {x: token.functions.balanceOf(x).call() for x in (a.merchant.address, a.platform.address)}

    receipt = settle(w3, c, ref, token.address, a.all[3])  # anyone may settle

    assert token.functions.balanceOf(a.merchant.address).call() - before[a.merchant.address] == merchant_cut
    assert token.functions.balanceOf(a.platform.address).call() - before[a.platform.address] == platform_cut
    assert token.functions.balanceOf(c.split.address).call() == dust
    assert token.functions.balanceOf(deposit).call() == 0
    assert settled_events(c, receipt) == [
        {"split": c.split.address, "orderRef": ref, "token": token.address, "amount": amount}]
    released = c.split.events.ERC20PaymentReleased().process_receipt(receipt, errors=DISCARD)
    assert [(e.args.to, e.args.amount) for e in released] == [
        (a.merchant.address, merchant_cut), (a.platform.address, platform_cut)]

    # a second payment to the same (now deployed) address: swept again; the dust is carried into it,
    # because OZ computes each payee's due from the cumulative total received
    top_up = 100 - amount % 100 if dust else 100
    assert transact(w3, token.functions.transfer(deposit, top_up), a.shopper).status == 1
    receipt = settle(w3, c, ref, token.address, a.all[4])
    total = amount + top_up
    assert c.split.functions.released(token.address, a.merchant.address).call() == total * 99 // 100
    assert c.split.functions.released(token.address, a.platform.address).call() == total // 100
    assert token.functions.balanceOf(c.split.address).call() == 0


def test_eth_payment_before_and_after_deployment(w3, accounts, contracts):
    c, a = contracts, accounts
    ref = order_ref("R-ETHORDER0001")
    deposit = c.factory.functions.predict(c.split.address, ref).call()
    half = w3.to_wei("0.5", "ether")

    # no code yet: a plain 21,000-gas transfer, as any wallet or exchange sends, goes through
    paid = wait(w3, w3.eth.send_transaction({"from": a.shopper.address, "to": deposit, "value": half, "gas": 21_000}))
    assert (paid.status, paid.gasUsed) == (1, 21_000)
    assert w3.eth.get_balance(deposit) == half
    before = {x: w3.eth.get_balance(x) for x in (a.merchant.address, a.platform.address)}

    receipt = settle(w3, c, ref, ETH, a.all[3])

    assert w3.eth.get_balance(a.merchant.address) - before[a.merchant.address] == w3.to_wei("0.495", "ether")
    assert w3.eth.get_balance(a.platform.address) - before[a.platform.address] == w3.to_wei("0.005", "ether")
    assert w3.eth.get_balance(deposit) == 0
    assert w3.eth.get_balance(c.split.address) == 0
    received = c.split.events.PaymentReceived().process_receipt(receipt, errors=DISCARD)
    assert [(e.address, e.args["from"], e.args.amount) for e in received] == [(c.split.address, deposit, half)]
    released = c.split.events.PaymentReleased().process_receipt(receipt, errors=DISCARD)
    assert [(e.args.to, e.args.amount) for e in released] == [
        (a.merchant.address, w3.to_wei("0.495", "ether")), (a.platform.address, w3.to_wei("0.005", "ether"))]
    assert settled_events(c, receipt) == [{"split": c.split.address, "orderRef": ref, "token": ETH, "amount": half}]

    # now the address has code: receive() runs through the proxy and 21,000 gas is not enough
    tenth = w3.to_wei("0.1", "ether")
    failed = wait(w3, w3.eth.send_transaction({"from": a.shopper.address, "to": deposit, "value": tenth,
                                               "gas": 21_000}))
    assert failed.status == 0
    assert w3.eth.get_balance(deposit) == 0
    late = wait(w3, w3.eth.send_transaction({"from": a.shopper.address, "to": deposit, "value": tenth,
                                             "gas": 30_000}))
    assert late.status == 1 and late.gasUsed > 21_000
    receipt = settle(w3, c, ref, ETH, a.all[4])
    assert settled_events(c, receipt)[0]["amount"] == tenth
    assert c.split.functions.released(a.merchant.address).call() == w3.to_wei("0.594", "ether")
    assert c.split.functions.released(a.platform.address).call() == w3.to_wei("0.006", "ether")
    assert w3.eth.get_balance(deposit) == 0


def test_forwarder_is_bound_to_its_split_and_only_the_factory_drives_it(w3, accounts, contracts):
    c, a = contracts, accounts
    ref = order_ref("R-LOCKEDDOWN01")
    deposit = c.factory.functions.predict(c.split.address, ref).call()
    settle(w3, c, ref, c.usdc.address, a.all[3])  # deploys and inits; nothing to forward yet
    fwd = forwarder_at(w3, deposit)
    impl = forwarder_at(w3, c.factory.functions.implementation().call())
    assert fwd.functions.split().call() == c.split.address
    assert fwd.functions.factory().call() == impl.functions.factory().call() == c.factory.address

    for who in (a.platform, a.merchant, a.shopper, a.all[3]):
        for target in (fwd, impl):
            with pytest.raises(ContractLogicError, match="not factory"):
                target.functions.init(who.address).call({"from": who.address})
            with pytest.raises(ContractLogicError, match="not factory"):
                target.functions.forward(c.usdc.address).call({"from": who.address})
    # even the factory could not re-bind it (settle never calls init on a deployed address anyway)
    with pytest.raises(ContractLogicError, match="already initialized"):
        fwd.functions.init(a.all[3].address).call({"from": c.factory.address})


def test_another_split_for_the_same_order_ref_is_another_address(w3, accounts, contracts):
    c, a = contracts, accounts
    thief = a.all[5]
    other = deploy(w3, "Split", [thief.address], [1], sender=thief)
    ref = order_ref("R-ABCDEFGHIJKL")
    deposit = c.factory.functions.predict(c.split.address, ref).call()
    assert c.factory.functions.predict(other.address, ref).call() != deposit
    assert transact(w3, c.usdc.functions.transfer(deposit, 5_000_000), a.shopper).status == 1

    receipt = settle(w3, c, ref, c.usdc.address, thief, split=other)  # sweeps a different (empty) address

    assert settled_events(c, receipt)[0]["amount"] == 0
    assert c.usdc.functions.balanceOf(thief.address).call() == 0
    assert c.usdc.functions.balanceOf(deposit).call() == 5_000_000
    settle(w3, c, ref, c.usdc.address, thief)  # the real split: funds go to merchant and platform only
    assert c.usdc.functions.balanceOf(a.merchant.address).call() == 4_950_000
    assert c.usdc.functions.balanceOf(thief.address).call() == 0


def test_distribute_with_nothing_owed_is_a_no_op(w3, accounts, contracts):
    c = contracts
    assert c.split.functions.payeeCount().call() == 2
    for fn in (c.split.functions.distribute(), c.split.functions.distribute(c.usdc.address)):
        receipt = transact(w3, fn, accounts.all[6])
        assert receipt.status == 1 and receipt.logs == []


def test_mock_price_feed(w3, accounts, contracts):
    feed = contracts.feed
    assert feed.functions.decimals().call() == 8
    assert feed.functions.version().call() == 4
    assert feed.functions.description().call()
    round_id, answer, started_at, updated_at, answered_in = feed.functions.latestRoundData().call()
    assert (round_id, answer, answered_in) == (1, 3000 * 10**8, 1)
    assert 0 < started_at == updated_at <= w3.eth.get_block("latest").timestamp

    receipt = transact(w3, feed.functions.updateAnswer(2500 * 10**8), accounts.all[3])
    now = w3.eth.get_block(receipt.blockNumber).timestamp
    assert feed.functions.latestRoundData().call() == [2, 2500 * 10**8, now, now, 2]
    transact(w3, feed.functions.setUpdatedAt(now - 7200), accounts.all[3])  # a stale feed
    assert feed.functions.latestRoundData().call()[1:4] == [2500 * 10**8, now, now - 7200]
    assert feed.functions.getRoundData(1).call()[1] == 3000 * 10**8


@pytest.mark.slow
def test_artifacts_are_fresh():
    """The committed contracts_abi/*.json match a fresh compile of contracts_abi/src (about 3 s of solc)."""
    proc = subprocess.run([sys.executable, str(ROOT / "contracts_abi" / "build.py"), "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
