"""Every example a user may copy is loaded by the code that will read it: config/, examples/ and the docs.

Fenced blocks in README.md and docs/*.md say what they are after the language: `json signal`,
`toml config`, `toml risk-profile`, `toml sim-config` and `json scenario` are loaded (and so are
examples/*.json signals and examples/size/*.json scenarios); `json answer` and
`json exchange` are shown, not loaded. A block that is wrong on purpose adds `invalid` (`json signal
invalid`) and must be refused. Every json and toml block must say which it
is, so a new example cannot slip past this test. In config/*.toml, a comment that is itself TOML
(`# keys = […]`) or gives one after "e.g." is loaded in its table.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.sim.config import SimConfigError, load_sim_config
from executor.config.risk_profiles import available_profiles, load_profile
from executor.config.settings import ConfigError, load_settings
from executor.risk import ProfileError
from executor.risk.scenario import ScenarioError, parse_scenario
from executor.signals.schema import InvalidSignal, SignalMessage

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
LOADED = {"signal", "config", "risk-profile", "sim-config", "scenario"}
SHOWN = {"answer", "exchange"}


@dataclass(frozen=True)
class Block:
    where: str
    language: str
    role: str
    invalid: bool
    text: str


def blocks() -> list[Block]:
    found = []
    for document in DOCUMENTS:
        content = document.read_text(encoding="utf-8")
        for match in FENCE.finditer(content):
            language, *words = match["info"].split() or [""]
            line = content.count("\n", 0, match.start()) + 1
            role = next((word for word in words if word != "invalid"), "")
            where = f"{document.relative_to(ROOT)}:{line}"
            found.append(Block(where, language, role, "invalid" in words, match["body"]))
    return found


DATA_BLOCKS = [block for block in blocks() if block.language in ("json", "toml")]
LOADED_BLOCKS = [block for block in DATA_BLOCKS if block.role in LOADED]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for variable in list(os.environ):
        if variable.startswith("EXECUTOR__"):
            monkeypatch.delenv(variable)


def test_every_json_and_toml_block_says_what_it_is() -> None:
    unlabelled = [block.where for block in DATA_BLOCKS if block.role not in LOADED | SHOWN]
    assert not unlabelled, f"add one of {sorted(LOADED | SHOWN)} after the language: {unlabelled}"
    assert {block.role for block in LOADED_BLOCKS} >= {"signal", "config", "scenario"}


def load(role: str, text: str, tmp_path: Path) -> object:
    """What the daemon, `executor size` or the simulator would make of this text."""
    path = tmp_path / "example.toml"
    path.write_text(text, encoding="utf-8")
    if role == "signal":
        return SignalMessage.parse(text)
    if role == "config":
        settings = load_settings(path)
        return settings.risk_profile()
    if role == "risk-profile":
        return load_profile(str(path))
    if role == "sim-config":
        return load_sim_config(path)
    scenario = parse_scenario(json.loads(text, parse_float=Decimal))
    return load_profile(scenario.profile)


REFUSALS = (InvalidSignal, ConfigError, ProfileError, SimConfigError, ScenarioError)


@pytest.mark.parametrize("block", LOADED_BLOCKS, ids=lambda block: f"{block.where}-{block.role}")
def test_a_documented_example_loads_or_is_refused_as_marked(block: Block, tmp_path: Path) -> None:
    if block.invalid:
        with pytest.raises(REFUSALS):
            load(block.role, block.text, tmp_path)
    else:
        load(block.role, block.text, tmp_path)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.json")), ids=lambda path: path.name)
def test_every_example_signal_is_valid(path: Path) -> None:
    SignalMessage.parse(path.read_bytes())


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*/*.json")), ids=lambda path: path.name)
def test_every_example_scenario_is_valid(path: Path) -> None:
    assert path.parent.name == "size", "examples/size/ holds `executor size` scenarios; nothing else is known"
    scenario = parse_scenario(json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal))
    load_profile(scenario.profile)


def test_the_shipped_configuration_and_profiles_load() -> None:
    assert load_settings().risk_profile().name == "handbook"
    assert set(available_profiles()) == {path.stem for path in (ROOT / "config" / "risk").glob("*.toml")}
    for name in available_profiles():
        assert load_profile(name).name == name
    assert load_sim_config().instruments


_TABLE = re.compile(r"^\s*\[(?P<name>[^\]]+)\]")
_COMMENTED_TOML = re.compile(r"^\s*#\s*(?P<toml>[A-Za-z_][\w-]*\s*=.*)$")
_EG = re.compile(r"#.*\be\.g\.\s+(?P<toml>[A-Za-z_][\w-]*\s*=.*)$")


def comment_examples(path: Path) -> list[tuple[int, str, str]]:
    """(line, table, TOML) of each example written in a comment of a config file."""
    found = []
    table = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if heading := _TABLE.match(line):
            table = heading["name"].strip()
        example = _EG.search(line) or _COMMENTED_TOML.match(line)
        if example:
            found.append((number, table, example["toml"]))
    return found


CONFIG_FILES = sorted((ROOT / "config").rglob("*.toml"))
COMMENT_EXAMPLES = [(path, *example) for path in CONFIG_FILES for example in comment_examples(path)]


def test_the_config_files_hold_comment_examples_to_check() -> None:
    assert {(path.name, table) for path, _, table, _ in COMMENT_EXAMPLES} >= {
        ("default.toml", "risk.overrides"),
        ("sim.toml", "sim"),
    }


@pytest.mark.parametrize(
    ("path", "line", "table", "text"),
    COMMENT_EXAMPLES,
    ids=[f"{path.relative_to(ROOT)}:{line}" for path, line, _, _ in COMMENT_EXAMPLES],
)
def test_an_example_in_a_config_comment_loads_in_its_table(
    path: Path, line: int, table: str, text: str, tmp_path: Path
) -> None:
    document = f"[{table}]\n{text}\n" if table else f"{text}\n"
    tomllib.loads(document)
    example = tmp_path / "example.toml"
    example.write_text(document, encoding="utf-8")
    if path.parent.name == "sim":
        load_sim_config(example)
    elif path.parent.name == "risk":
        load_profile(str(example))
    else:
        load_settings(example).risk_profile()
