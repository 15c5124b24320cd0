"""Merchants and their shop configuration."""
from __future__ import annotations

import logging

from eth_utils import to_checksum_address
from sqlalchemy import select, update

from app.domain import images
from app.domain.ids import normalize_wallet
from app.config import current_config
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import Merchant, ShopConfig, utcnow

logger = logging.getLogger(__name__)

DEFAULT_ACCEPTED_TOKENS = ["USDC", "USDT", "ETH"]


def create_merchant(wallet: str, name: str, split_address: str | None = None) -> Merchant:
    """Return a new merchant with an empty shop config; raises InvalidInput or Conflict."""
    try:
        wallet = normalize_wallet(wallet)
        split = to_checksum_address(normalize_wallet(split_address)) if split_address else None
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if find_merchant(wallet) is not None:
        raise Conflict(f"a merchant with wallet {wallet} already exists")
    merchant = Merchant(wallet=wallet, name=name, split_address=split)
    db.session.add(merchant)
    db.session.flush()
    db.session.add(ShopConfig(merchant_id=merchant.id, brand_name=name, jurisdictions=[],
                              accepted_tokens=list(DEFAULT_ACCEPTED_TOKENS)))
    db.session.commit()
    logger.info("merchant created id=%s wallet=%s", merchant.id, wallet)
    return merchant


def find_merchant(wallet: str) -> Merchant | None:
    """Return the merchant owning wallet (any case), or None."""
    return db.session.scalar(select(Merchant).where(Merchant.wallet == wallet.lower()))


def get_config(merchant: Merchant) -> ShopConfig:
    """Return the merchant's shop config (loaded with the merchant when it is attached)."""
    return db.session.get(ShopConfig, merchant.id)


def update_config(merchant: Merchant, changes: dict) -> ShopConfig:
    """Return the config after applying validated changes; raises InvalidInput on a dangling default."""
    config = get_config(merchant)
    if "jurisdictions" in changes:
        changes = {**changes, "jurisdictions": [_storable(j) for j in changes["jurisdictions"]]}
    for name, value in changes.items():
        setattr(config, name, value)
    _check_chains(config.accepted_chains or [])
    codes = {j["code"].upper() for j in config.jurisdictions}
    default = config.default_jurisdiction_code
    if default and default.upper() not in codes:
        db.session.rollback()
        raise InvalidInput(f"defaultJurisdictionCode {default} is not among the jurisdictions",
                           fields={"defaultJurisdictionCode": [f"unknown jurisdiction {default}"]})
    db.session.commit()
    return config


def _check_chains(chain_ids: list[int]) -> None:
    """Raise InvalidInput (the session rolled back) naming chain ids this server does not serve, or repeated."""
    served = [chain.chain_id for chain in current_config().chains]
    unknown = [chain_id for chain_id in chain_ids if chain_id not in served]
    if unknown or len(set(chain_ids)) != len(chain_ids):
        db.session.rollback()
        raise InvalidInput(f"acceptedChains must name distinct chains this server serves: {served}",
                           fields={"acceptedChains": [f"unknown or repeated: {unknown or chain_ids}"]})


def _storable(jurisdiction: dict) -> dict:
    """Return the jurisdiction with its rates as decimal strings, exact inside a JSON column."""
    components = [{**c, "rate": str(c["rate"])} for c in jurisdiction.get("components", [])]
    return {**jurisdiction, "rate": str(jurisdiction["rate"]), "components": components}


def set_logo(merchant: Merchant, data: bytes) -> bytes:
    """Store the shop's logo (scaled to fit 240x96, PNG, no metadata) and return it; raises InvalidInput."""
    config = get_config(merchant)
    try:
        config.logo_png = images.logo_png(data)
    except images.BadImage as exc:
        raise InvalidInput(str(exc), fields={"image": [str(exc)]}) from exc
    db.session.commit()
    return config.logo_png


def media_changed(merchant_id: int) -> None:
    """Move the shop's media version (its config's updated_at), so every process drops its cached pictures.

    Part of the caller's transaction: call it before committing an item thumbnail or an item's removal.
    """
    db.session.execute(update(ShopConfig).where(ShopConfig.merchant_id == merchant_id).values(updated_at=utcnow()))
