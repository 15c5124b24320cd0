"""The tillpoint command: merchants and keys, --json output, errors as exit status 2."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import main
from app.models import ApiKey, Merchant

WALLET = "0x" + "12" * 20
SPLIT = "0x" + "34" * 20


@pytest.fixture
def run(database_url, base_config):
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "TILLPOINT_INSTANCE": base_config.INSTANCE_PATH}

    def invoke(*args) -> tuple[int, dict | str]:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        output = result.stdout.strip()
        return result.exit_code, (json.loads(output) if "--json" in args and output else output)

    return invoke


def test_merchant_and_key_created_from_the_cli_can_create_orders(run, client, in_app):
    code, merchant = run("merchants", "create", "--wallet", WALLET, "--name", "Cli Shop", "--json")
    assert code == 0 and merchant["wallet"] == WALLET and merchant["split"] is None
    with in_app() as session:  # --split is checked on chain (tests/chain/test_split_api.py); set it directly here
        session.get(Merchant, merchant["merchantId"]).split_address = SPLIT
        session.commit()
    code, key = run("keys", "create", "--wallet", WALLET, "--scopes", "inventory:write,orders:create", "--json")
    assert code == 0 and key["key"].startswith("tp_live_") and key["keyId"].startswith("key_")
    headers = {"x-api-key": key["key"]}
    client.post("/api/inventory", json={"sku": "A-1", "name": "A", "priceUsd": "2.00"}, headers=headers)
    assert client.post("/api/orders", json={"items": [{"sku": "A-1", "qty": 1}]}, headers=headers).status_code == 200
    assert client.get("/api/receipts", headers=headers).json["error"] == "insufficient_scope"

    code, revoked = run("keys", "revoke", key["keyId"], "--json")
    assert code == 0 and revoked == {"keyId": key["keyId"], "revoked": True}
    assert client.post("/api/orders", json={"items": [{"sku": "A-1", "qty": 1}]}, headers=headers).status_code == 401


@pytest.mark.parametrize("args", [
    ("merchants", "create", "--wallet", "0x12", "--name", "Bad", "--json"),
    ("keys", "create", "--wallet", WALLET, "--scopes", "orders:create", "--json"),
    ("keys", "revoke", "key_missing", "--json"),
    ("merchants", "create", "--wallet", WALLET, "--name", "No chain", "--split", SPLIT, "--json"),
], ids=["bad-wallet", "unknown-merchant", "unknown-key", "split-not-checkable"])
def test_cli_errors_are_json_with_exit_status_2(run, count_rows, args):
    code, body = run(*args)
    assert code == 2 and body["error"] and body["message"]
    assert count_rows(Merchant) == 0 and count_rows(ApiKey) == 0


def test_unknown_scope_is_refused(run, count_rows):
    run("merchants", "create", "--wallet", WALLET, "--name", "S", "--json")
    code, body = run("keys", "create", "--wallet", WALLET, "--scopes", "orders:create,admin:all", "--json")
    assert code == 2 and "admin:all" in body["message"] and count_rows(ApiKey) == 0


def test_duplicate_merchant_is_a_conflict(run, count_rows):
    run("merchants", "create", "--wallet", WALLET, "--name", "S", "--json")
    code, body = run("merchants", "create", "--wallet", WALLET.upper().replace("0X", "0x"), "--name", "S", "--json")
    assert code == 2 and body["error"] == "conflict" and count_rows(Merchant) == 1
