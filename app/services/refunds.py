"""Refunds, non-custodial: the merchant requests one, pays it from its own wallet and links the
transaction, which is checked on chain (chain, token, recipient, amount, success) when linked and
again by the watcher until it has its confirmations; only then is the refund confirmed.

A refund request reserves its amount: the open and confirmed refunds of an order never exceed what
its confirmed payments were credited; a refund in a token received takes what those units were credited
(domain.settlement.refund_cents), and a stray receipt can be refunded in its own token. A full refund makes a paid or completed order
`refunded`; a partial one leaves the status alone.

Refund proofs belong to the merchant: the transfer must come from the merchant's wallet or a refund wallet
it registered (app/services/refund_wallets.py); it must pay the address that paid the order, or the one the
shopper gave through a claim link (app/services/refund_claims.py), never one the merchant chose; and a
transaction hash proves one refund, ever (the refund_proofs table outlives a rejected link).
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from web3 import Web3
from web3.exceptions import TransactionNotFound

from app.chain.events import ZERO_ADDRESS, hex_str, transfer
from app.chain.settings import ETH, ChainSettings
from app.config import current_config
from app.domain import settlement
from app.domain.statuses import OrderStatus, RefundStatus
from app.errors import ChainUnavailable, Conflict, InvalidInput, NotFound
from app.extensions import db
from app.models import Merchant, Order, Payment, Refund, RefundProof, utcnow
from app.services import lifecycle, payments, refund_wallets
from app.services import live_status as pay_events
from app.services.orders import lock_order
from app.webhooks import events

logger = logging.getLogger(__name__)

OPEN = frozenset(RefundStatus)  # every refund, in any state, holds part of what was received


@dataclass(frozen=True)
class RefundRequest:
    token: str
    chain_id: int | None  # where to pay it; None: the one chain where the order received (or was quoted) token
    amount_cents: int | None
    amount_base_units: int | None
    to: str | None
    reason: str | None
    items: list[dict]


@dataclass(frozen=True)
class TxCheck:
    """What a refund transaction showed on chain; problems empty when it pays the refund."""

    problems: list[str]
    block_number: int | None = None
    block_hash: str | None = None
    paid: int = 0


def create_refund(order: Order, request: RefundRequest) -> Refund:
    """Record a refund request for order; raises InvalidInput (naming the field) or Conflict."""
    order = lock_order(order.id)  # two requests at once must not both fit in what is left
    if order.status == OrderStatus.REFUNDED:
        raise Conflict(f"{order.receipt_id} is already refunded")
    rates, confirmed = settlement.rates(order.quotes), confirmed_payments(order)
    asset = (_refund_chain(order, request, confirmed), request.token)
    quote, received = rates.get(asset), settlement.received_in(rates, confirmed, asset)
    token_address = quote.token_address if quote else next(
        (p.token_address for p in confirmed if settlement.asset(p) == asset), None)
    if quote is None and not received.stray_units:
        tokens = sorted({symbol for _, symbol in rates} | {p.symbol for p in confirmed})
        raise InvalidInput(f"{order.receipt_id} was neither quoted in nor received {request.token} on chain "
                           f"{asset[0]}", fields={"token": [f"One of: {', '.join(tokens) or 'none'}."]})
    units, cents = _amounts(order, request, asset, received, quote)
    _check_room(order, confirmed, cents)
    _check_items(order, request.items)
    refund = Refund(id="rf_" + secrets.token_hex(8), order_id=order.id, status=RefundStatus.REQUESTED,
                    chain_id=asset[0], symbol=request.token, token_address=token_address, amount_base_units=units,
                    usd_cents=cents, to_address=_recipient(order, asset, request.to), reason=request.reason,
                    items=request.items)
    db.session.add(refund)
    db.session.commit()
    logger.info("refund requested receipt=%s refund=%s amount=%d %s to=%s", order.receipt_id, refund.id, units,
                refund.symbol, refund.to_address)
    return refund


def _refund_chain(order: Order, request: RefundRequest, confirmed: list[Payment]) -> int:
    """Return the chain a refund in request.token is paid on: the one asked for, else the one chain where the
    order received that token, else the first chain quoting it; raises InvalidInput when it received the token
    on several chains and none was named."""
    if request.chain_id is not None:
        if current_config().chain(request.chain_id) is None:
            raise InvalidInput(f"Chain {request.chain_id} is not served here", fields={"chainId": [
                f"One of: {', '.join(str(c.chain_id) for c in current_config().chains)}."]})
        return request.chain_id
    received_on = sorted({p.chain_id for p in confirmed if p.symbol == request.token})
    if len(received_on) > 1:
        raise InvalidInput(f"{order.receipt_id} received {request.token} on chains "
                           f"{', '.join(map(str, received_on))}: say on which to refund",
                           fields={"chainId": [f"One of: {', '.join(map(str, received_on))}."]})
    if received_on:
        return received_on[0]
    quoted_on = [q.chain_id for q in order.quotes if q.symbol == request.token]
    return quoted_on[0] if quoted_on else (order.chain_id or 0)


def confirmed_payments(order: Order) -> list[Payment]:
    """Return the order's payments with the confirmations their chain requires at its watcher's block: only
    they can be refunded (an unconfirmed one may yet be reorged away)."""
    chains = payments.chain_views(current_config().chains)
    return [p for p in order.payments if settlement.confirmed_on(chains, p)]


def _amounts(order: Order, request: RefundRequest, asset: settlement.Asset, received: settlement.Received,
             quote: settlement.Rate | None) -> tuple[int, int]:
    """Return the refund's base units and what it takes from what was received, in cents (domain.settlement)."""
    reserved = sum(r.amount_base_units for r in order.refunds if r.status in OPEN and settlement.asset(r) == asset)
    if request.amount_base_units is not None:
        units = request.amount_base_units
        cents = settlement.refund_cents(received, reserved, units, quote)
        if cents is None:
            raise InvalidInput(f"{order.receipt_id} received {received.stray_units} base units of {request.token} "
                               f"and was not quoted in it", fields={"amount": [
                                   f"At most {received.stray_units - reserved} base units of {request.token}."]})
    elif quote is None:
        raise InvalidInput(f"{order.receipt_id} was not quoted in {request.token}: refund it in base units",
                           fields={"amount": ["Give amountBaseUnits for a token the order was not quoted in."]})
    else:
        units, cents = settlement.refund_units(received, reserved, request.amount_cents, quote), request.amount_cents
    if units <= 0:
        raise InvalidInput("A refund must be more than zero", fields={"amount": ["Must be more than zero."]})
    return units, cents


def get_refund(order: Order, refund_id: str) -> Refund:
    """Return the order's refund; another order's or an unknown id is NotFound."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.order_id != order.id:
        raise NotFound(f"No refund {refund_id} on {order.receipt_id}")
    return refund


def refund_chain_settings(refund: Refund) -> ChainSettings:
    """Return the settings of the chain refund is paid on; raises ChainUnavailable when it is no longer served."""
    chain = current_config().chain(refund.chain_id)
    if chain is None:
        raise ChainUnavailable(f"Chain {refund.chain_id} of refund {refund.id} is no longer configured")
    return chain


def link_transaction(w3: Web3, chain: ChainSettings, order: Order, refund: Refund, tx_hash: str) -> Refund:
    """Check tx_hash pays refund; if it does, link it (submitted); raises InvalidInput naming what did not match."""
    if refund.status != RefundStatus.REQUESTED:
        raise Conflict(f"Refund {refund.id} already has transaction {refund.tx_hash} ({refund.status})")
    if refund.to_address is None:
        raise Conflict(f"Refund {refund.id} has no recipient yet: the shopper gives one through a claim link")
    _check_proof_free(refund, tx_hash)
    check = check_transaction(w3, chain, refund, tx_hash)
    if check.problems:
        raise InvalidInput(f"Transaction {tx_hash} does not pay refund {refund.id}: " + "; ".join(check.problems),
                           fields={"txHash": check.problems})
    lock_order(order.id)  # only now: no lock is held across the chain calls above
    refund = db.session.get(Refund, refund.id, populate_existing=True)
    if refund.status != RefundStatus.REQUESTED:
        raise Conflict(f"Refund {refund.id} already has a transaction")
    refund.status, refund.tx_hash, refund.rejection = RefundStatus.SUBMITTED, tx_hash, None
    refund.block_number, refund.block_hash, refund.paid_base_units = check.block_number, check.block_hash, check.paid
    if db.session.get(RefundProof, tx_hash) is None:
        db.session.add(RefundProof(tx_hash=tx_hash, refund_id=refund.id))
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent link of the same hash won the proof (or the refund's tx_hash)
        db.session.rollback()
        raise Conflict(f"Transaction {tx_hash} is already linked to another refund") from None
    logger.info("refund submitted receipt=%s refund=%s tx=%s", order.receipt_id, refund.id, tx_hash)
    return refund


def _check_proof_free(refund: Refund, tx_hash: str) -> None:
    """Raise Conflict if tx_hash was ever linked to another refund (rejected links included)."""
    proof = db.session.get(RefundProof, tx_hash)
    if proof is not None and proof.refund_id != refund.id:
        raise Conflict(f"Transaction {tx_hash} already proved refund {proof.refund_id}: a transaction proves "
                       "one refund, ever")


def check_transaction(w3: Web3, chain: ChainSettings, refund: Refund, tx_hash: str) -> TxCheck:
    """Return what tx_hash shows on this chain against refund: chain, success, sender, token, recipient, amount."""
    try:
        tx = w3.eth.get_transaction(tx_hash)
        receipt = w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return TxCheck([f"no mined transaction {tx_hash} on chain {chain.chain_id} (dropped, not mined yet, "
                        "or sent on another chain)"])
    if tx.get("chainId") is not None and int(tx["chainId"]) != chain.chain_id:
        return TxCheck([f"it was signed for chain {int(tx['chainId'])}, not chain {chain.chain_id}"])
    if receipt["status"] != 1:
        return TxCheck(["it reverted"])
    order = db.session.get(Order, refund.order_id)
    paid, problems = _paid(tx, receipt, refund, refund_wallets.senders(db.session.get(Merchant, order.merchant_id)))
    if paid < refund.amount_base_units and not problems:
        problems = [f"it sends {paid} base units of {refund.symbol}, less than the {refund.amount_base_units} requested"]
    return TxCheck(problems, receipt["blockNumber"], hex_str(receipt["blockHash"]), paid)


def _paid(tx, receipt, refund: Refund, senders: frozenset[str]) -> tuple[int, list[str]]:
    """Return how much of the refund's token tx paid to its recipient from the merchant's wallets (senders,
    lowercase), and what did not match."""
    recipient = refund.to_address
    if refund.symbol == ETH:
        if not tx["to"] or to_checksum_address(tx["to"]) != recipient:
            return 0, [f"it pays {tx['to']}, not the refund's recipient {recipient}"]
        if tx["from"].lower() not in senders:
            return 0, [_not_merchants(tx["from"])]
        return tx["value"], [] if tx["value"] else [f"it sends no {ETH}"]
    moves = [transfer(log) for log in receipt["logs"] if log["address"].lower() == refund.token_address.lower()]
    moves = [m for m in moves if m is not None]
    if not moves:
        return 0, [f"it moves no {refund.symbol} (token {refund.token_address})"]
    to_recipient = [(sender, amount) for sender, to, amount in moves if to == recipient]
    if not to_recipient:
        return 0, [f"it pays {refund.symbol} to {', '.join(sorted({to for _, to, _ in moves}))}, "
                   f"not the refund's recipient {recipient}"]
    paid = sum(amount for sender, amount in to_recipient if sender.lower() in senders)
    if not paid:
        return 0, [_not_merchants(to_recipient[0][0])]
    return paid, []


def _not_merchants(sender: str) -> str:
    return (f"it is sent from {to_checksum_address(sender)}, not from the merchant's wallet or a refund wallet it "
            "registered")


def verify_submitted(w3: Web3, chain: ChainSettings) -> None:
    """Confirm submitted refunds on chain with enough confirmations; send back to requested those whose
    transaction is gone (a reorg dropped its block), saying why. Run by chain's watcher after each tick."""
    submitted = db.session.scalars(select(Refund).where(
        Refund.status == RefundStatus.SUBMITTED, Refund.chain_id == chain.chain_id)).all()
    if not submitted:
        return
    head = w3.eth.block_number
    changed = []
    for refund in submitted:
        check = check_transaction(w3, chain, refund, refund.tx_hash)
        if check.problems:
            _reject(refund, check.problems)
        elif settlement.is_confirmed(head, check.block_number, chain.confirmations):
            changed.append(_confirm(refund, check))
        else:
            refund.block_number, refund.block_hash = check.block_number, check.block_hash
    db.session.commit()
    pay_events.publish(changed)  # open pay pages show the refund


def _reject(refund: Refund, problems: list[str]) -> None:
    """Send refund back to requested, saying why, and announce it (refund.rejected)."""
    order = db.session.get(Order, refund.order_id, with_for_update=True)
    logger.warning("refund %s: transaction %s rejected: %s", refund.id, refund.tx_hash, "; ".join(problems))
    refund.rejection = f"transaction {refund.tx_hash} rejected: " + "; ".join(problems)
    refund.status, refund.tx_hash, refund.block_number, refund.block_hash = RefundStatus.REQUESTED, None, None, None
    refund.paid_base_units = None
    events.refund_event(order, refund, "refund.rejected")


def _confirm(refund: Refund, check: TxCheck) -> str:
    """Confirm refund; a full refund moves a paid or completed order to refunded. Return the receipt id."""
    order = db.session.get(Order, refund.order_id, with_for_update=True, populate_existing=True)
    refund.status, refund.confirmed_at = RefundStatus.CONFIRMED, utcnow()
    refund.block_number, refund.block_hash, refund.paid_base_units = check.block_number, check.block_hash, check.paid
    logger.info("refund confirmed receipt=%s refund=%s tx=%s", order.receipt_id, refund.id, refund.tx_hash)
    events.refund_event(order, refund, "refund.confirmed")
    refunded = sum(r.usd_cents for r in order.refunds if r.status == RefundStatus.CONFIRMED or r.id == refund.id)
    received = settlement.paid_cents(settlement.rates(order.quotes), order.payments)
    if settlement.is_fully_refunded(OrderStatus(order.status), refunded, received):
        lifecycle.move(order, OrderStatus.REFUNDED, "watcher",
                       {"refundId": refund.id, "txHash": refund.tx_hash, "block": refund.block_number})
    return order.receipt_id


def _check_room(order: Order, confirmed: list[Payment], cents: int) -> None:
    received = settlement.paid_cents(settlement.rates(order.quotes), confirmed)
    taken = sum(r.usd_cents for r in order.refunds if r.status in OPEN)
    if cents > settlement.refund_room_cents(received, taken):
        raise InvalidInput(f"Refunds of {order.receipt_id} cannot exceed what it received: {received / 100:.2f} USD "
                           f"received, {taken / 100:.2f} already refunded or requested",
                           fields={"amount": [f"At most {(received - taken) / 100:.2f} USD."]})


def _check_items(order: Order, items: list[dict]) -> None:
    sold = {line["sku"]: line["qty"] for line in order.line_items}
    for item in items:
        if item["sku"] not in sold or item["qty"] > sold[item["sku"]]:
            raise InvalidInput(f"{item['sku']} × {item['qty']} is not on receipt {order.receipt_id}",
                               fields={"items": [f"Unknown sku or quantity above the receipt's: {item['sku']}."]})


def _recipient(order: Order, asset: settlement.Asset, to: str | None) -> str | None:
    """Return who the refund pays: to, which must be the sender of a payment that paid the order (settlement.paying:
    no dust, nothing sent after the total was reached) or of a stray receipt in symbol, else the sender of the
    largest such payment in symbol (in any token if none); None when no sender is known (the shopper then gives an address through a claim
    link). Raises InvalidInput for any other address or the merchant's own."""
    rates = settlement.rates(order.quotes)
    # A stray receipt (dust, an unquoted token) may go back to its sender, in its token: worth $0, it never
    # counts towards refunding the order.
    stray_in_token = [p for p in settlement.strays(rates, order.payments) if settlement.asset(p) == asset]
    paid = settlement.paying(rates, order.total_cents, order.payments) + stray_in_token
    payers = sorted((p for p in paid if p.from_address != ZERO_ADDRESS),
                    key=lambda p: (settlement.asset(p) == asset, p.amount_base_units), reverse=True)
    if to is not None and to_checksum_address(to) not in {p.from_address for p in payers}:
        raise InvalidInput(f"{to} did not pay {order.receipt_id}",
                           fields={"to": ["Must be an address that paid this order; for another one, create a "
                                          "claim link and let the shopper give it."]})
    recipient = to_checksum_address(to) if to is not None else (payers[0].from_address if payers else None)
    if recipient is not None and recipient.lower() in own_addresses(order):
        raise InvalidInput(f"{recipient} is the merchant's own", fields={"to": ["A refund cannot go to the merchant."]})
    return recipient


def own_addresses(order: Order) -> frozenset[str]:
    """Return the lowercase addresses a refund of order must never pay: the merchant's wallets, its split and the
    order's deposit address (all of them lead back to the merchant)."""
    merchant = db.session.get(Merchant, order.merchant_id)
    extra = {a.lower() for a in (merchant.split_address, order.deposit_address) if a}
    return refund_wallets.senders(merchant) | extra
