"""A merchant's split contract: deploy one, register an existing one after checking it on chain, read it live.

The split is the only place a merchant's deposit addresses can pay into, so it is checked before it is
stored: payees exactly {merchant wallet, platform payee}, shares exactly 10000 - platform bps / platform
bps, and runtime code identical to our Split artifact, so a look-alike contract whose views lie about its
payees (and would keep the platform share) is refused. The chain work comes first and the database write
last, as a compare-and-set on a merchant that has no split yet: a failure leaves nothing half written (at
worst a deployed contract nobody uses), and two concurrent requests cannot both store one.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_utils import to_checksum_address
from sqlalchemy import or_, update
from web3 import Web3
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    InsufficientData,
    TimeExhausted,
)

from app.chain.client import connect, rpc_errors
from app.chain.deposits import created_address
from app.chain.operator import fees, commit_with_nonce
from app.chain.contracts import BALANCE_OF_ABI, load_artifact
from app.chain.settings import ETH, ChainSettings
from app.errors import ChainUnavailable, Conflict, InvalidInput
from app.extensions import db
from app.models import Merchant, utcnow

logger = logging.getLogger(__name__)

TOTAL_BPS = 10_000
RECEIPT_TIMEOUT_SECONDS = 60
CLAIM_SECONDS = 2 * RECEIPT_TIMEOUT_SECONDS  # longer than any deployment a live request still waits for
MAX_PAYEES = 16  # a stored split with more payees than this is not read payee by payee
CALL_ERRORS = (ContractLogicError, BadFunctionCallOutput, InsufficientData, DecodingError, OverflowError)


@dataclass(frozen=True)
class Payee:
    address: str
    shares: int
    role: str  # "merchant", "platform" or "other"


@dataclass(frozen=True)
class SplitState:
    """A split as read from chain; balances are base units (wei for ETH) held by the contract."""

    address: str
    payees: tuple[Payee, ...]
    total_shares: int
    balances: dict[str, int]


class _NotASplit(Exception):
    """The contract at an address does not read back as a Split (reason in the message)."""


def get_split(merchant: Merchant, chain: ChainSettings) -> SplitState | None:
    """Return the merchant's split read live from chain, or None; raises ChainUnavailable or Conflict."""
    if not merchant.split_address:
        return None
    _require(chain, "rpc_url")
    return _read(connect(chain), chain, to_checksum_address(merchant.split_address), merchant.wallet)


def configure_split(merchant: Merchant, chain: ChainSettings, address: str | None) -> tuple[SplitState, bool]:
    """Return (split, created): deploy a new split, or register `address` after checking it on chain.

    Raises InvalidInput (the address is malformed or does not match), Conflict (the merchant already has
    another split, or another request is deploying one) or ChainUnavailable (chain not configured, RPC unreachable, deploy failed).
    """
    wallet = to_checksum_address(merchant.wallet)
    address = _parse_address(address) if address is not None else None
    _refuse_replacement(merchant, address)
    shares = _expected_shares(chain)
    if wallet == _platform(chain):
        raise InvalidInput(f"The merchant wallet {wallet} is the platform payee; a split needs two distinct payees")
    deploying = address is None
    if deploying:
        _require(chain, "operator_key")
        _claim_deployment(merchant)
    db.end_reads()  # the chain work below may take a minute
    try:
        w3 = connect(chain)
        if address is None:
            address = _deploy(w3, chain, wallet, shares)
        else:
            _verify(w3, chain, address, wallet, shares)
    except BaseException:
        if deploying:
            _release_claim(merchant)
        raise
    created = _store(merchant, address)
    return _read(w3, chain, address, wallet), created


def verify_split(chain: ChainSettings, wallet: str, address: str) -> str:
    """Return address checksummed if it holds our Split paying wallet and the platform with the configured
    shares; raises InvalidInput naming a mismatch, or ChainUnavailable. For operators registering a split
    outside the API (`tillpoint merchants create --split`)."""
    if not Web3.is_address(wallet):
        raise InvalidInput(f"wallet {wallet!r} is not an address", fields={"wallet": ["Not an address."]})
    address = _parse_address(address)
    _verify(connect(chain), chain, address, to_checksum_address(wallet), _expected_shares(chain))
    return address


def _parse_address(address: str) -> str:
    """Return address checksummed; raises InvalidInput when it is not 0x + 40 hex (or a bad checksum)."""
    if not Web3.is_address(address):
        raise InvalidInput(f"address {address!r} is not an address",
                           fields={"address": ["Not an address: 0x + 40 hex, with a valid EIP-55 checksum "
                                               "when mixed-case."]})
    return to_checksum_address(address)


def _refuse_replacement(merchant: Merchant, address: str | None) -> None:
    """Raise Conflict unless the merchant has no split yet or re-registers the one it has."""
    current = merchant.split_address
    if not current or (address is not None and address.lower() == current.lower()):
        return
    current = to_checksum_address(current)
    raise Conflict(f"This merchant already uses the split {current}. Sending {{\"address\": \"{current}\"}} "
                   "confirms it; replacing a split is not possible through the API because open orders' deposit "
                   "addresses are bound to it: ask the platform operator.")


def _require(chain: ChainSettings, *settings: str) -> None:
    """Raise ChainUnavailable naming the chain settings that are missing."""
    names = {"rpc_url": "RPC_URL", "platform_payee": "PLATFORM_PAYEE", "operator_key": "OPERATOR_PRIVATE_KEY"}
    missing = [names[s] for s in settings if not getattr(chain, s)]
    if missing:
        raise ChainUnavailable(f"Splits need a configured chain; this server lacks {', '.join(missing)}")


def _expected_shares(chain: ChainSettings) -> tuple[int, int]:
    """Return (merchant, platform) shares in bps; raises ChainUnavailable if the chain or the bps is unusable."""
    _require(chain, "rpc_url", "platform_payee")
    bps = chain.platform_share_bps
    if not 0 < bps < TOTAL_BPS:
        raise ChainUnavailable(f"PLATFORM_SHARE_BPS is {bps}; a split needs it between 1 and {TOTAL_BPS - 1}")
    return TOTAL_BPS - bps, bps


def _platform(chain: ChainSettings) -> str:
    """Return the platform payee checksummed (configuration may give it in any case)."""
    return to_checksum_address(chain.platform_payee)


def _deploy(w3: Web3, chain: ChainSettings, wallet: str, shares: tuple[int, int]) -> str:
    """Return the address of a new Split paying wallet and the platform; raises ChainUnavailable."""
    try:
        operator = Account.from_key(chain.operator_key)
    except (ValueError, TypeError):
        raise ChainUnavailable("OPERATOR_PRIVATE_KEY is not a valid private key") from None  # never chain the key
    artifact = load_artifact("Split")
    constructor = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
        [wallet, _platform(chain)], list(shares))
    with rpc_errors("send the split deployment"):
        try:
            gas = constructor.estimate_gas({"from": operator.address}) * 6 // 5  # estimate + 20%
        except ContractLogicError as exc:
            raise ChainUnavailable(f"The split deployment would revert: {exc.message or exc}") from exc
        with commit_with_nonce(w3, chain.chain_id, operator.address) as nonce:
            tx = constructor.build_transaction({"from": operator.address, "nonce": nonce, "gas": gas,
                                                "chainId": chain.chain_id, **fees(w3)})
            tx_hash = w3.eth.send_raw_transaction(operator.sign_transaction(tx).raw_transaction)
    receipt = _wait(w3, tx_hash, created_address(operator.address, nonce))
    logger.info("split deployed wallet=%s split=%s tx=%s gas_used=%d", wallet, receipt.contractAddress,
                tx_hash.to_0x_hex(), receipt.gasUsed)
    return to_checksum_address(receipt.contractAddress)


def _wait(w3: Web3, tx_hash, predicted: str):
    """Return the successful deploy receipt; raises ChainUnavailable on a timeout or a revert."""
    with rpc_errors("confirm the split deployment"):
        try:
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_SECONDS, poll_latency=0.1)
        except TimeExhausted as exc:
            raise ChainUnavailable(
                f"The split deployment {tx_hash.to_0x_hex()} was sent but not mined within "
                f"{RECEIPT_TIMEOUT_SECONDS} s. Once it is mined, register it with "
                f"{{\"address\": \"{predicted}\"}} rather than deploying again.") from exc
    if receipt.status != 1:
        raise ChainUnavailable(f"The split deployment {tx_hash.to_0x_hex()} reverted")
    return receipt


def _verify(w3: Web3, chain: ChainSettings, address: str, wallet: str, shares: tuple[int, int]) -> None:
    """Return if address holds our Split with exactly these payees and shares; raises InvalidInput naming a mismatch."""
    with rpc_errors("read the split"):
        code = w3.eth.get_code(address)
        if not code:
            _mismatch(f"{address} has no contract code (an ordinary account, or nothing deployed on chain "
                      f"{chain.chain_id})")
        try:
            payees, total = _payees(w3, address)
        except _NotASplit as exc:
            _mismatch(f"{address} is not a Split contract: {exc}")
        problems = _payee_problems(payees, wallet, _platform(chain)) or _share_problems(payees, total, wallet,
                                                                                             shares)
        if problems:
            _mismatch("; ".join(problems))
        if code != _expected_runtime(w3, wallet, _platform(chain), shares):
            _mismatch(f"the code at {address} is not Tillpoint's Split contract (its runtime code differs from "
                      "contracts_abi/Split.json)")


def _mismatch(message: str):
    """Raise InvalidInput about the address field."""
    raise InvalidInput(message, fields={"address": [message]})


def _payees(w3: Web3, address: str) -> tuple[list[tuple[str, int]], int]:
    """Return ([(payee, shares)...], totalShares) read from a Split; raises _NotASplit."""
    split = w3.eth.contract(address=address, abi=load_artifact("Split")["abi"])
    try:
        count = split.functions.payeeCount().call()
        if not 0 < count <= MAX_PAYEES:
            raise _NotASplit(f"it reports {count} payees")
        payees = [to_checksum_address(split.functions.payee(i).call()) for i in range(count)]
        shares = [split.functions.shares(p).call() for p in payees]
        total = split.functions.totalShares().call()
    except CALL_ERRORS as exc:
        raise _NotASplit(f"it does not answer payeeCount(), payee(i), shares(a) and totalShares() "
                         f"({type(exc).__name__})") from exc
    return list(zip(payees, shares)), total


def _payee_problems(payees: list[tuple[str, int]], wallet: str, platform: str) -> list[str]:
    """Return what differs between the payees and {merchant wallet, platform payee} (in any order)."""
    if len(payees) != 2:
        return [f"the split has {len(payees)} payees, expected 2 (the merchant wallet and the platform payee)"]
    expected = {"merchant wallet": wallet, "platform payee": platform}
    addresses = [a for a, _ in payees]
    missing = [(role, a) for role, a in expected.items() if a not in addresses]
    strangers = [(i, a) for i, a in enumerate(addresses) if a not in expected.values()]
    return [f"payee {i} is {a} but the {role} is {e}" for (i, a), (role, e) in zip(strangers, missing)]


def _share_problems(payees: list[tuple[str, int]], total: int, wallet: str, shares: tuple[int, int]) -> list[str]:
    """Return what differs from merchant/platform shares in bps and a total of 10000."""
    problems = []
    for address, held in payees:
        role, want = ("merchant", shares[0]) if address == wallet else ("platform", shares[1])
        if held != want:
            problems.append(f"{role} share is {held} bps, expected {want}")
    if total != TOTAL_BPS and not problems:
        problems.append(f"total shares are {total}, expected {TOTAL_BPS}")
    return problems


def _expected_runtime(w3: Web3, wallet: str, platform: str, shares: tuple[int, int]) -> bytes:
    """Return the runtime code our Split artifact deploys for these payees (its constructor run in eth_call)."""
    artifact = load_artifact("Split")
    constructor = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
        [wallet, platform], list(shares))
    return bytes(w3.eth.call({"data": constructor.data_in_transaction}))


def _claim_deployment(merchant: Merchant) -> None:
    """Mark the merchant's split as being deployed by this request (a committed compare-and-set); raises Conflict
    when another request is deploying it or has stored a split meanwhile. Every deployment is paid by the
    platform, so concurrent requests must not each send one. A claim older than CLAIM_SECONDS is abandoned
    (its process died) and may be taken over."""
    now = utcnow()
    result = db.session.execute(update(Merchant).where(
        Merchant.id == merchant.id, Merchant.split_address.is_(None),
        or_(Merchant.split_deploy_started_at.is_(None),
            Merchant.split_deploy_started_at < now - timedelta(seconds=CLAIM_SECONDS)))
        .values(split_deploy_started_at=now))
    db.session.commit()
    if result.rowcount == 1:
        return
    db.session.refresh(merchant)
    _refuse_replacement(merchant, None)
    raise Conflict("A split deployment for this merchant is in progress; read it with GET /api/split in a few "
                   "seconds rather than deploying again")


def _release_claim(merchant: Merchant) -> None:
    """Clear this request's deployment claim after a failure, so the merchant can try again at once."""
    db.session.rollback()
    db.session.execute(update(Merchant).where(Merchant.id == merchant.id).values(split_deploy_started_at=None))
    db.session.commit()


def _store(merchant: Merchant, address: str) -> bool:
    """Return True when address became the merchant's split, False when it already was; raises Conflict."""
    result = db.session.execute(update(Merchant).where(Merchant.id == merchant.id, Merchant.split_address.is_(None))
                                .values(split_address=address, split_deploy_started_at=None))
    db.session.commit()
    db.session.refresh(merchant)
    if result.rowcount == 1:
        logger.info("split stored merchant=%s split=%s", merchant.id, address)
        return True
    _refuse_replacement(merchant, address)  # another request stored a split meanwhile
    return False


def _read(w3: Web3, chain: ChainSettings, address: str, wallet: str) -> SplitState:
    """Return the stored split's state; raises Conflict when it does not read back as a Split, or ChainUnavailable."""
    try:
        return _state(w3, chain, address, wallet)
    except _NotASplit as exc:
        raise Conflict(f"The stored split {address} does not read back as a Split contract on chain "
                       f"{chain.chain_id}: {exc}. Ask the platform operator to correct it.") from exc


def _state(w3: Web3, chain: ChainSettings, address: str, wallet: str) -> SplitState:
    """Return the split's payees, shares and balances read from chain; raises _NotASplit or ChainUnavailable."""
    wallet = to_checksum_address(wallet)
    with rpc_errors("read the split"):
        payees, total = _payees(w3, address)
        balances = {ETH: w3.eth.get_balance(address)}
        for token in chain.tokens:
            erc20 = w3.eth.contract(address=token.address, abi=BALANCE_OF_ABI)
            try:
                balances[token.symbol] = erc20.functions.balanceOf(address).call()
            except CALL_ERRORS as exc:
                raise ChainUnavailable(f"The {token.symbol} contract {token.address} does not answer "
                                       "balanceOf; check TOKENS") from exc
    roles = {wallet: "merchant", **({_platform(chain): "platform"} if chain.platform_payee else {})}
    return SplitState(address=address, total_shares=total, balances=balances,
                      payees=tuple(Payee(a, s, roles.get(a, "other")) for a, s in payees))
