"""GET|POST /api/split on a real anvil: deploy, register after an on-chain check, read live, and refuse the rest."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from eth_account import Account

from app import create_app
from app.models import Merchant
from app.services import shops, splits
from tests.helpers.chain import deploy, mine, pay_token

PLATFORM_BPS = 100


@pytest.fixture
def split_settings(chain_settings, accounts):
    return replace(chain_settings, platform_payee=accounts.platform.address, platform_share_bps=PLATFORM_BPS,
                   operator_key=accounts.platform.key.hex())


def app_with(app, settings):
    return create_app(app.config["TILLPOINT"].with_overrides(CHAIN=settings))


@pytest.fixture
def api(app, split_settings):
    return app_with(app, split_settings).test_client()


@pytest.fixture
def merchant(in_app, accounts):
    """A merchant whose wallet is anvil account 1 (a key we hold), with no split yet."""
    with in_app():
        return shops.create_merchant(accounts.merchant.address, "Split Shop")


@pytest.fixture
def headers(factory, merchant):
    return {"x-api-key": factory.key(merchant)}


@pytest.fixture
def stored_split(in_app, merchant):
    def read() -> str | None:
        with in_app() as session:
            return session.get(Merchant, merchant.id).split_address

    return read


def split_contract(w3, address):
    from app.chain.contracts import load_artifact

    return w3.eth.contract(address=address, abi=load_artifact("Split")["abi"])


def test_deploy_creates_the_split_and_clears_split_required(api, w3, accounts, factory, merchant, headers,
                                                            stored_split):
    factory.item(merchant, "TEA", "12.65")
    order = {"items": [{"sku": "TEA", "qty": 1}]}
    assert api.post("/api/orders", json=order, headers=headers).json["error"] == "split_required"

    response = api.post("/api/split", json={}, headers=headers)

    assert response.status_code == 201, response.json
    split = response.json["split"]
    assert response.json["ok"] is True and w3.eth.get_code(split["address"]) != b""
    assert split["payees"] == [
        {"address": accounts.merchant.address, "shares": 10_000 - PLATFORM_BPS, "role": "merchant"},
        {"address": accounts.platform.address, "shares": PLATFORM_BPS, "role": "platform"}]
    assert split["totalShares"] == 10_000 and split["balances"] == {"ETH": "0", "USDC": "0", "USDT": "0"}
    onchain = split_contract(w3, split["address"]).functions
    assert [onchain.payee(0).call(), onchain.payee(1).call()] == [accounts.merchant.address, accounts.platform.address]
    assert onchain.shares(accounts.platform.address).call() == PLATFORM_BPS
    assert stored_split() == split["address"]
    created = api.post("/api/orders", json=order, headers=headers)
    assert created.status_code == 200, created.json


def test_an_empty_body_also_deploys(api, headers, stored_split):
    response = api.post("/api/split", headers=headers)
    assert response.status_code == 201 and stored_split() == response.json["split"]["address"]


def test_get_reads_balances_live_from_chain(api, w3, accounts, contracts, headers):
    assert api.get("/api/split", headers=headers).json == {"split": None}
    address = api.post("/api/split", json={}, headers=headers).json["split"]["address"]
    pay_token(w3, contracts.usdc, accounts.shopper, address, 12_650_000)
    w3.eth.send_transaction({"from": accounts.shopper.address, "to": address, "value": 10**18})

    response = api.get("/api/split", headers=headers)

    assert response.status_code == 200
    assert response.json["split"]["address"] == address
    assert response.json["split"]["balances"] == {"ETH": str(10**18), "USDC": "12650000", "USDT": "0"}


@pytest.mark.parametrize("payee_order", ["merchant-first", "platform-first"])
def test_registering_a_correct_existing_split_stores_it_and_is_idempotent(api, w3, accounts, headers,
                                                                        stored_split, payee_order):
    payees = [accounts.merchant.address, accounts.platform.address]
    shares = [10_000 - PLATFORM_BPS, PLATFORM_BPS]
    if payee_order == "platform-first":
        payees, shares = payees[::-1], shares[::-1]
    existing = deploy(w3, "Split", payees, shares, sender=accounts.shopper)

    first = api.post("/api/split", json={"address": existing.address.lower()}, headers=headers)
    again = api.post("/api/split", json={"address": existing.address}, headers=headers)

    assert first.status_code == 201, first.json
    assert first.json["split"]["address"] == existing.address and stored_split() == existing.address
    assert again.status_code == 200 and again.json == first.json
    assert api.get("/api/split", headers=headers).json == {"split": first.json["split"]}


def split_with(w3, accounts, payees, shares):
    return deploy(w3, "Split", payees, shares, sender=accounts.shopper).address


MISMATCHES = {
    "wrong-payee": (lambda w3, a: split_with(w3, a, [a.all[3].address, a.platform.address], [9900, 100]),
                    lambda a: f"payee 0 is {a.all[3].address} but the merchant wallet is {a.merchant.address}"),
    "wrong-platform-payee": (lambda w3, a: split_with(w3, a, [a.merchant.address, a.all[3].address], [9900, 100]),
                             lambda a: f"payee 1 is {a.all[3].address} but the platform payee is {a.platform.address}"),
    "wrong-shares": (lambda w3, a: split_with(w3, a, [a.merchant.address, a.platform.address], [9950, 50]),
                     lambda a: "platform share is 50 bps, expected 100"),
    "scaled-shares": (lambda w3, a: split_with(w3, a, [a.merchant.address, a.platform.address], [19800, 200]),
                      lambda a: "merchant share is 19800 bps, expected 9900"),
    "three-payees": (lambda w3, a: split_with(w3, a, [a.merchant.address, a.platform.address, a.all[3].address],
                                              [9800, 100, 100]),
                     lambda a: "the split has 3 payees, expected 2"),
    "an-account-without-code": (lambda w3, a: a.all[4].address, lambda a: f"{a.all[4].address} has no contract code"),
    "another-contract": (lambda w3, a: deploy(w3, "DepositFactory", sender=a.shopper).address,
                         lambda a: "is not a Split contract"),
}


@pytest.mark.parametrize("case", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_registering_a_split_that_does_not_match_is_refused_and_nothing_is_stored(api, w3, accounts, headers,
                                                                                  stored_split, case):
    make, expected = case
    response = api.post("/api/split", json={"address": make(w3, accounts)}, headers=headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert expected(accounts) in response.json["message"]
    assert stored_split() is None


def test_a_look_alike_whose_code_differs_from_our_split_is_refused(api, w3, accounts, headers, stored_split):
    """Same storage and same answers, different code: views cannot be trusted unless the code is ours."""
    address = split_with(w3, accounts, [accounts.merchant.address, accounts.platform.address], [9900, 100])
    code = bytearray(w3.eth.get_code(address))
    code[-3] ^= 0xFF  # inside the metadata hash: behaviour unchanged, code no longer our artifact's
    w3.provider.make_request("anvil_setCode", [address, "0x" + code.hex()])

    response = api.post("/api/split", json={"address": address}, headers=headers)

    assert response.status_code == 400 and "is not Tillpoint's Split contract" in response.json["message"]
    assert stored_split() is None


@pytest.mark.parametrize("address", ["0x1234", "not an address", 42, "0x" + "g" * 40,
                                     "0x52908400098527886E0F7030069857D2E4169EE7"],
                         ids=["short", "text", "number", "not-hex", "bad-checksum"])
def test_a_malformed_address_is_refused_naming_the_field(api, headers, stored_split, address):
    response = api.post("/api/split", json={"address": address}, headers=headers)
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert "address" in response.json["fields"] and stored_split() is None


@pytest.mark.parametrize("body", [b"[]", b"{not json", b'{"address": null, "extra": 1}'],
                         ids=["array", "not-json", "unknown-field"])
def test_a_body_that_is_not_a_split_request_is_refused(api, headers, stored_split, body):
    response = api.post("/api/split", data=body, headers={**headers, "Content-Type": "application/json"})
    assert (response.status_code, response.json["error"]) == (400, "invalid_input") and stored_split() is None


def test_a_merchant_with_a_split_cannot_switch_to_another(api, w3, accounts, headers, stored_split):
    current = api.post("/api/split", json={}, headers=headers).json["split"]["address"]
    other = split_with(w3, accounts, [accounts.merchant.address, accounts.platform.address], [9900, 100])

    for body in ({"address": other}, {}):
        response = api.post("/api/split", json=body, headers=headers)
        assert (response.status_code, response.json["error"]) == (409, "conflict")
        assert current in response.json["message"] and "platform operator" in response.json["message"]
    assert stored_split() == current


@pytest.mark.parametrize("method, scopes", [("post", ["split:read"]), ("get", ["split:write"])],
                         ids=["post-needs-split-write", "get-needs-split-read"])
def test_split_routes_need_their_scope(api, factory, merchant, stored_split, method, scopes):
    key = factory.key(merchant, scopes)
    response = getattr(api, method)("/api/split", json={}, headers={"x-api-key": key})
    assert (response.status_code, response.json["error"]) == (403, "insufficient_scope")
    assert api.get("/api/split").status_code == 401 and stored_split() is None


def test_a_key_sees_only_its_own_merchants_split(api, factory, headers):
    assert api.post("/api/split", json={}, headers=headers).status_code == 201
    other = factory.key(factory.merchant("Other Shop", split=False))
    assert api.get("/api/split", headers={"x-api-key": other}).json == {"split": None}


@pytest.mark.parametrize("missing, named", [
    ({"rpc_url": ""}, "RPC_URL"), ({"platform_payee": ""}, "PLATFORM_PAYEE"),
    ({"operator_key": ""}, "OPERATOR_PRIVATE_KEY")], ids=["no-rpc", "no-platform-payee", "no-operator-key"])
def test_deploying_without_chain_configuration_is_503(app, split_settings, headers, stored_split, missing, named):
    client = app_with(app, replace(split_settings, **missing)).test_client()
    response = client.post("/api/split", json={}, headers=headers)
    assert (response.status_code, response.json["error"]) == (503, "chain_unavailable")
    assert named in response.json["message"] and stored_split() is None


def test_an_unconfigured_server_answers_get_without_a_split_and_503_with_one(client, api, headers):
    assert client.get("/api/split", headers=headers).json == {"split": None}
    assert client.post("/api/split", json={}, headers=headers).json["error"] == "chain_unavailable"
    api.post("/api/split", json={}, headers=headers)
    response = client.get("/api/split", headers=headers)
    assert (response.status_code, response.json["error"]) == (503, "chain_unavailable")


@pytest.mark.parametrize("change", [{"rpc_url": "http://127.0.0.1:1"}, {"chain_id": 1}],
                         ids=["rpc-unreachable", "wrong-chain"])
def test_an_unreachable_or_wrong_chain_is_503_for_every_route(app, api, factory, split_settings, headers,
                                                             stored_split, change):
    api.post("/api/split", json={}, headers=headers)
    stored = stored_split()
    newcomer = {"x-api-key": factory.key(factory.merchant("New Shop", split=False))}
    broken = app_with(app, replace(split_settings, **change)).test_client()
    for method, body, who in (("get", None, headers), ("post", {"address": stored}, headers),
                              ("post", {}, newcomer)):
        response = getattr(broken, method)("/api/split", json=body, headers=who)
        assert (response.status_code, response.json["error"]) == (503, "chain_unavailable"), (method, body)
        assert "127.0.0.1:1" not in response.json["message"]
    assert stored_split() == stored


def test_an_operator_without_funds_gets_503_and_nothing_is_stored(app, split_settings, headers, stored_split):
    poor = app_with(app, replace(split_settings, operator_key=Account.create().key.hex())).test_client()
    response = poor.post("/api/split", json={}, headers=headers)
    assert (response.status_code, response.json["error"]) == (503, "chain_unavailable")
    assert "insufficient funds" in response.json["message"].lower() and stored_split() is None


def test_a_deploy_not_mined_in_time_is_503_naming_the_address_to_register_later(api, w3, headers, stored_split,
                                                                                monkeypatch):
    monkeypatch.setattr(splits, "RECEIPT_TIMEOUT_SECONDS", 1)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        response = api.post("/api/split", json={}, headers=headers)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    assert (response.status_code, response.json["error"]) == (503, "chain_unavailable") and stored_split() is None
    predicted = re.search(r'"address": "(0x[0-9a-fA-F]{40})"', response.json["message"])[1]
    mine(w3)
    registered = api.post("/api/split", json={"address": predicted}, headers=headers)
    assert registered.status_code == 201 and stored_split() == predicted


def test_the_operator_key_never_appears_in_an_answer(app, split_settings, headers):
    bad_key = "0x" + "ab" * 31  # one byte short
    response = app_with(app, replace(split_settings, operator_key=bad_key)).test_client().post(
        "/api/split", json={}, headers=headers)
    assert response.status_code == 503 and "ab" * 31 not in response.get_data(as_text=True)


def test_a_stored_split_that_is_not_a_split_on_chain_reads_as_conflict_not_500(api, factory):
    key = factory.key(factory.merchant("Legacy Shop"))  # split address stored unchecked, nothing deployed there
    response = api.get("/api/split", headers={"x-api-key": key})
    assert (response.status_code, response.json["error"]) == (409, "conflict")
    assert "does not read back as a Split" in response.json["message"]


@pytest.fixture
def cli(database_url, base_config, split_settings):
    """`tillpoint` in-process, configured for the test chain through its environment."""
    import json

    from click.testing import CliRunner

    from app.cli import main

    env = {"DATABASE_URL": database_url, "TILLPOINT_INSTANCE": base_config.INSTANCE_PATH,
           "RPC_URL": split_settings.rpc_url, "CHAIN_ID": str(split_settings.chain_id),
           "PLATFORM_PAYEE": split_settings.platform_payee, "PLATFORM_SHARE_BPS": str(PLATFORM_BPS)}

    def run(*args) -> tuple[int, dict]:
        result = CliRunner().invoke(main, [*args, "--json"], env=env, catch_exceptions=False)
        return result.exit_code, json.loads(result.stdout)

    return run


def test_the_cli_registers_a_split_only_after_checking_it_on_chain(cli, w3, accounts, in_app):
    good = split_with(w3, accounts, [accounts.merchant.address, accounts.platform.address], [9900, 100])
    wrong = split_with(w3, accounts, [accounts.merchant.address, accounts.platform.address], [9950, 50])
    wallet = accounts.merchant.address

    code, refused = cli("merchants", "create", "--wallet", wallet, "--name", "Cli", "--split", wrong)
    assert code == 2 and "platform share is 50 bps, expected 100" in refused["message"]
    with in_app():
        assert shops.find_merchant(wallet) is None

    code, created = cli("merchants", "create", "--wallet", wallet, "--name", "Cli", "--split", good.lower())
    assert code == 0 and created["split"] == good


def test_sixteen_concurrent_deploys_send_one_split_deployment(app, split_settings, w3, accounts, headers,
                                                              stored_split):
    server = app_with(app, split_settings)
    # Record the key's first use now: that write takes a second pooled connection per request, and 16 at once
    # would exhaust one process's pool (5 + 10) before any deploy begins.
    assert server.test_client().get("/api/split", headers=headers).status_code == 200
    sent_before = w3.eth.get_transaction_count(accounts.platform.address)
    start = threading.Barrier(16)

    def deploy_split(_):
        start.wait()
        response = server.test_client().post("/api/split", json={}, headers=headers)
        return response.status_code, response.json

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(deploy_split, range(16)))

    assert w3.eth.get_transaction_count(accounts.platform.address) - sent_before == 1, "one deploy transaction"
    codes = sorted(code for code, _ in answers)
    assert codes.count(201) == 1 and set(codes) <= {200, 201, 409}, answers
    assert all(body["error"] == "conflict" and ("in progress" in body["message"] or "already uses" in body["message"])
               for code, body in answers if code == 409)
    assert all(body["split"]["address"] == stored_split() for code, body in answers if code in (200, 201))
