"""Compiled contract artifacts (ABI + bytecode) committed under contracts_abi/."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

BALANCE_OF_ABI = [{"type": "function", "name": "balanceOf", "stateMutability": "view",
                   "inputs": [{"name": "account", "type": "address"}],
                   "outputs": [{"name": "", "type": "uint256"}]}]
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "contracts_abi"


@cache
def load_artifact(name: str) -> dict:
    """Return {"abi": [...], "bytecode": "0x..."} of contract `name` (e.g. "Split"); cached, do not mutate."""
    return json.loads((ARTIFACTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
