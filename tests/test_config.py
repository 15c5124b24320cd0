"""Config.from_env: every default is the dataclass's, and the README's configuration tables document
exactly the variables it reads, with the defaults it has."""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from app.config import Config

README = Path(__file__).resolve().parents[1] / "README.md"
NAME = re.compile(r"`([A-Z][A-Z0-9_]*)`")


class RecordingEnv(Mapping):
    """An empty environment that remembers every variable asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def documented_defaults() -> dict[str, str]:
    """Return {variable: default text} from the tables of the README's Configuration section."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    defaults = {}
    for row in (line for line in section.splitlines() if line.startswith("| `")):
        names, values = row.split("|")[1:3]
        names = NAME.findall(names)
        values = [v.strip() for v in values.split(" / ")] if len(names) > 1 else [values.strip()]
        assert len(values) == len(names), f"one default per variable: {row}"
        defaults.update(zip(names, values))
    return defaults


def as_setting(default: str) -> str:
    """Return the value a documented default stands for: `literal`, or "" when it describes absence."""
    literal = re.fullmatch(r"`([^`]*)`", default)
    return literal.group(1) if literal else ""


DOCUMENTED = documented_defaults()


def comparable(config: Config) -> Config:
    return replace(config, INSTANCE_PATH=str(Path(config.INSTANCE_PATH).resolve()))


def test_from_env_with_nothing_set_is_the_dataclass_defaults():
    assert Config.from_env({}, instance_path="/srv/tillpoint") == Config(INSTANCE_PATH="/srv/tillpoint")


def test_readme_documents_exactly_the_variables_from_env_reads():
    env = RecordingEnv()
    Config.from_env(env)
    documented = set(DOCUMENTED)
    assert env.asked - documented == set(), "read by Config.from_env but not in the README"
    assert documented - env.asked == set(), "in the README but not read by Config.from_env"


@pytest.mark.parametrize(("variable", "default"), DOCUMENTED.items(), ids=list(DOCUMENTED))
def test_setting_a_variable_to_its_documented_default_changes_nothing(variable, default):
    assert comparable(Config.from_env({variable: as_setting(default)})) == comparable(Config.from_env({}))


@pytest.mark.parametrize(("variable", "value"), [("QUOTE_TTL", "15m"), ("EDGE_ONLY", "maybe"), ("CONFIRMATIONS", ""),
                                                 ("PLATFORM_SHARE_BPS", "10000"), ("TOKENS", "USDC:0x12:6"),
                                                 ("TOKENS", f"USDC:0x{'11' * 20}:6:abc"), ("ADMIN_WALLETS", "0x12")],
                         ids=["int", "bool", "empty-int", "bps", "token-address", "token-peg", "wallet"])
def test_a_bad_value_raises_value_error_naming_its_variable(variable, value):
    with pytest.raises(ValueError, match=f"^{variable}: "):
        Config.from_env({variable: value})
