"""Wallets a merchant pays refunds from: its own wallet, plus the ones it registered with their signature.

A refund transaction counts only when sent from one of them, so a merchant cannot pass off another
merchant's (or anyone's) transfer as its refund. Registering needs the wallet's own EIP-191 signature of
`message()`: otherwise a merchant could claim another merchant's refund wallet as its own.
"""
from __future__ import annotations

import logging

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.domain import siwe
from app.domain.ids import normalize_wallet
from app.errors import Conflict, InvalidInput, NotFound
from app.extensions import db
from app.models import Merchant, RefundWallet

logger = logging.getLogger(__name__)


MAX_WALLETS = 20  # so the list, and every refund's sender check, stays one small page


def message(merchant: Merchant, address: str) -> str:
    """Return the text the refund wallet signs (personal_sign) to be registered for merchant."""
    return (f"Tillpoint refund wallet\nI send refunds for the merchant {merchant.wallet.lower()} "
            f"from {to_checksum_address(address)}.")


def list_wallets(merchant: Merchant) -> list[RefundWallet]:
    """Return the merchant's registered refund wallets, oldest first."""
    return list(db.session.scalars(select(RefundWallet).where(RefundWallet.merchant_id == merchant.id)
                                   .order_by(RefundWallet.created_at, RefundWallet.address)))


def register(merchant: Merchant, address: str, signature: str) -> RefundWallet:
    """Register address as a refund wallet of merchant; raises InvalidInput (signature not the wallet's) or
    Conflict (already registered, or the merchant's own wallet)."""
    address = to_checksum_address(address)
    text = message(merchant, address)
    try:
        signer = siwe.recover(text, signature)
    except siwe.SiweError as exc:
        signer = str(exc)
    if signer != address:
        raise InvalidInput(f"The signature is not {address}'s signature of the registration message",
                           fields={"signature": [f"Sign exactly this text with {address} (personal_sign): {text}"]})
    if address.lower() == merchant.wallet.lower():
        raise Conflict("The merchant's own wallet is always a refund wallet")
    if len(list_wallets(merchant)) >= MAX_WALLETS:
        raise Conflict(f"A merchant may register at most {MAX_WALLETS} refund wallets; remove one first")
    wallet = RefundWallet(merchant_id=merchant.id, address=address)
    db.session.add(wallet)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"{address} is already a refund wallet of this merchant") from None
    logger.info("refund wallet registered merchant=%s address=%s", merchant.id, address)
    return wallet


def remove(merchant: Merchant, address: str) -> None:
    """Forget a registered refund wallet; raises NotFound if the merchant has no such wallet."""
    try:
        wallet = db.session.get(RefundWallet, (merchant.id, to_checksum_address(normalize_wallet(address))))
    except ValueError:  # not an address at all: no such wallet either
        wallet = None
    if wallet is None:
        raise NotFound(f"{address} is not a refund wallet of this merchant")
    db.session.delete(wallet)
    db.session.commit()
    logger.info("refund wallet removed merchant=%s address=%s", merchant.id, wallet.address)


def senders(merchant: Merchant) -> frozenset[str]:
    """Return the lowercase addresses a refund of merchant may be sent from: its wallet and refund wallets."""
    return frozenset({merchant.wallet.lower()} | {w.address.lower() for w in list_wallets(merchant)})
