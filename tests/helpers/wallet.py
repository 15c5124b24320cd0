"""Sign-in helpers: real eth-account keys signing real EIP-4361 messages against the app."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from eth_account import Account
from eth_account.messages import encode_defunct

from app.domain.siwe import SiweMessage


class Wallet:
    """One private key that can sign in through a test client."""

    def __init__(self, client, account=None) -> None:
        self.client = client
        self.account = account or Account.create()
        self.address = self.account.address

    def message(self, **overrides) -> str:
        """Return an EIP-4361 message for a fresh nonce from the app, with fields overridden."""
        issued = self.client.get("/auth/nonce").json
        now = datetime.now(timezone.utc)
        fields = {"domain": issued["domain"], "address": self.address, "uri": issued["uri"],
                  "chain_id": issued["chainId"], "nonce": issued["nonce"], "issued_at": now,
                  "expiration_time": now + timedelta(minutes=5), "statement": "Sign in to Tillpoint"}
        return SiweMessage(**{**fields, **overrides}).text()

    def sign(self, text: str) -> str:
        return Account.sign_message(encode_defunct(text=text), self.account.key).signature.to_0x_hex()

    def login(self, text: str | None = None, signature: str | None = None):
        text = text or self.message()
        return self.client.post("/auth/login", json={"message": text, "signature": signature or self.sign(text)})

    def csrf(self) -> dict:
        """Return the header a state-changing request needs: the cb_csrf cookie echoed."""
        return {"X-CSRF-Token": self.client.get_cookie("cb_csrf").value}
