"""Operator nonces on a real anvil: reserved under a lock, never leaving a gap a lost transaction made."""
from __future__ import annotations

from sqlalchemy import select

from app.chain.operator import commit_with_nonce
from app.extensions import db
from app.models import Order, SettleTx


def send_from(w3, account, nonce: int) -> str:
    tx = {"to": account.address, "value": 0, "gas": 21_000, "nonce": nonce, "chainId": w3.eth.chain_id,
          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    return w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction).to_0x_hex()


def test_a_dropped_unrecorded_transaction_leaves_no_gap(settle_app, w3, accounts):
    operator = accounts.platform
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        with settle_app.app_context():
            with commit_with_nonce(w3, w3.eth.chain_id, operator.address) as first:
                tx_hash = send_from(w3, operator, first)
            with commit_with_nonce(w3, w3.eth.chain_id, operator.address) as second:
                assert second == first + 1  # the first is in the node's pool
            w3.provider.make_request("anvil_dropTransaction", [tx_hash])  # e.g. a split deploy the node lost
            with commit_with_nonce(w3, w3.eth.chain_id, operator.address) as again:
                assert again == first
    finally:
        w3.provider.make_request("evm_setAutomine", [True])


def test_a_recorded_settle_not_yet_broadcast_keeps_its_nonce(settle_app, w3, accounts, gateway):
    operator = accounts.platform
    receipt = gateway.order()
    with settle_app.app_context():
        pending = w3.eth.get_transaction_count(operator.address, "pending")
        order_id = db.session.scalar(select(Order.id).where(Order.receipt_id == receipt["receiptId"]))
        db.session.add(SettleTx(chain_id=w3.eth.chain_id, order_id=order_id, symbol="USDC", sender=operator.address,
                                nonce=pending, tx_hash="0x" + "ab" * 32, raw_tx="0x", max_fee_per_gas=1,
                                priority_fee_per_gas=1))
        db.session.commit()
        with commit_with_nonce(w3, w3.eth.chain_id, operator.address) as nonce:
            assert nonce == pending + 1
