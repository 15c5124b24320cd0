"""Sign-in fixtures: wallets (real eth-account keys) with their own test clients."""
from __future__ import annotations

import pytest

from app.services import shops
from tests.helpers.wallet import Wallet


@pytest.fixture
def wallet(app) -> Wallet:
    """A wallet (no merchant yet) with its own test client."""
    return Wallet(app.test_client())


@pytest.fixture
def merchant_wallet(wallet, in_app) -> Wallet:
    """A signed-in wallet that owns a merchant."""
    with in_app():
        wallet.merchant = shops.create_merchant(wallet.address, "Signed-in Shop", "0x" + "ab" * 20)
    assert wallet.login().status_code == 200
    return wallet
