"""Refund wallets: a merchant registers the wallets it refunds from, each with that wallet's own signature."""
from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct

from app.services import refund_wallets


def sign(account, text: str) -> str:
    return Account.sign_message(encode_defunct(text=text), account.key).signature.to_0x_hex()


def register(client, key: str, address: str, signature: str):
    return client.post("/api/refund-wallets", json={"address": address, "signature": signature},
                       headers={"x-api-key": key})


def test_a_refund_wallet_is_registered_with_its_own_signature_listed_and_removed(client, factory, in_app):
    merchant = factory.merchant("Refunding Shop")
    key = factory.key(merchant)
    wallet = Account.create()
    with in_app():
        text = refund_wallets.message(merchant, wallet.address)

    created = register(client, key, wallet.address, sign(wallet, text))

    assert created.status_code == 201 and created.json["wallet"]["address"] == wallet.address
    listed = client.get("/api/refund-wallets", headers={"x-api-key": key}).json
    assert listed["merchantWallet"] == merchant.wallet and [w["address"] for w in listed["wallets"]] == [wallet.address]
    again = register(client, key, wallet.address, sign(wallet, text))
    assert (again.status_code, again.json["error"]) == (409, "conflict")
    assert client.delete(f"/api/refund-wallets/{wallet.address}", headers={"x-api-key": key}).status_code == 200
    assert client.get("/api/refund-wallets", headers={"x-api-key": key}).json["wallets"] == []
    gone = client.delete(f"/api/refund-wallets/{wallet.address}", headers={"x-api-key": key})
    assert (gone.status_code, gone.json["error"]) == (404, "not_found")


def test_a_merchant_cannot_register_a_wallet_it_does_not_control(client, factory, in_app):
    """Not with the merchant's own signature, nor with the wallet's signature for another merchant."""
    attacker, other = factory.merchant("Attacker"), factory.merchant("Honest Shop")
    key = factory.key(attacker)
    wallet, impostor = Account.create(), Account.create()
    with in_app():
        for_attacker = refund_wallets.message(attacker, wallet.address)
        for_other = refund_wallets.message(other, wallet.address)
    for signature in (sign(impostor, for_attacker), sign(wallet, for_other), "0x" + "11" * 65):
        response = register(client, key, wallet.address, signature)
        assert (response.status_code, response.json["error"]) == (400, "invalid_input")
        assert for_attacker in response.json["fields"]["signature"][0], "the answer says what to sign"
    assert client.get("/api/refund-wallets", headers={"x-api-key": key}).json["wallets"] == []


def test_bad_refund_wallet_requests_name_the_field(client, factory):
    key = factory.key(factory.merchant())
    for body, field in (({"address": "0x12", "signature": "0x" + "11" * 65}, "address"),
                        ({"address": "0x" + "12" * 20, "signature": "0x12"}, "signature"),
                        ({"address": "0x" + "12" * 20}, "signature")):
        response = client.post("/api/refund-wallets", json=body, headers={"x-api-key": key})
        assert response.status_code == 400 and field in response.json["fields"]
    assert client.delete("/api/refund-wallets/nothex", headers={"x-api-key": key}).status_code == 404
