"""Configuration fuzzing: any TOML the user writes either loads or is a ConfigError naming the key.

`load_settings` is the daemon's start-up gate. Whatever a config file holds, the answer is Settings or
ConfigError (exit 2 with a line naming the key and the fix), never a traceback from deeper down.
"""

from __future__ import annotations

import json
import math
import tempfile
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from executor.config.settings import ENV_PREFIX, SECRET_KEYS, ConfigError, Settings, load_settings

SECTIONS: dict[str, list[str]] = {
    name: list(field.annotation.model_fields)  # type: ignore[union-attr]
    for name, field in Settings.model_fields.items()
}
BARE_KEY = st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True)


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for variable in list(os.environ):
        if variable.startswith(ENV_PREFIX):
            monkeypatch.delenv(variable)


def toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes, but characters beyond the BMP written as themselves."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    """A TOML literal for a Python value (no writer library needed for these shapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.sampled_from(["", "0", "127.0.0.1:0", "http://x", "handbook", "json", "halt", "ignore", "-1"]),
    st.sampled_from(["١٤٠", "１０", "127.0.0.1:٨٠٨٠", "0.0٢", "postgresql://u:pw@h:x/db?password=q"]),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(BARE_KEY, inner, max_size=3)),
    max_leaves=6,
)


def load(text: str) -> Settings | ConfigError:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "user.toml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_settings(path)
        except ConfigError as error:
            return error


def names_key(error: ConfigError, section: str, key: str) -> bool:
    text = str(error)
    return f"{section}.{key}" in text or (f"{section}: " in text and key in text)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.data())
@example(data=None)
def test_any_value_for_a_known_key_loads_or_is_a_config_error_naming_that_key(data: Any) -> None:
    if data is None:  # a risk profile name too long for a file name (found by this test)
        section, key, value = "risk", "profile", "a" * 300
    else:
        section = data.draw(st.sampled_from(sorted(SECTIONS)), label="section")
        key = data.draw(st.sampled_from(SECTIONS[section]), label="key")
        value = data.draw(VALUES, label="value")
    if section == "risk" and key == "overrides":
        return  # its own test below
    outcome = load(f"[{section}]\n{key} = {toml_value(value)}\n")
    if isinstance(outcome, ConfigError):
        assert names_key(outcome, section, key) or (section, key) in _SECRETS, str(outcome)


_SECRETS = {(section, key) for section, keys in SECRET_KEYS.items() for key in keys}


@FUZZ
@given(section=st.sampled_from(sorted(SECTIONS)), key=BARE_KEY, value=VALUES)
def test_an_unknown_key_is_a_config_error_naming_it(section: str, key: str, value: Any) -> None:
    if key in SECTIONS[section]:
        return
    outcome = load(f"[{section}]\n{toml_string(key)} = {toml_value(value)}\n")
    assert isinstance(outcome, ConfigError)
    assert key in str(outcome)


@FUZZ
@given(table=st.sampled_from(["risk", "liquidation", "leverage", "conviction", "daily_loss"]), value=VALUES)
def test_any_risk_override_loads_or_is_a_config_error_naming_the_risk_key(table: str, value: Any) -> None:
    outcome = load(f"[risk.overrides]\n{table} = {toml_value(value)}\n")
    if isinstance(outcome, ConfigError):
        assert str(outcome).startswith("config: risk:"), str(outcome)
        assert table in str(outcome), str(outcome)


@FUZZ
@given(text=TEXT)
def test_any_text_as_a_config_file_loads_or_is_a_config_error(text: str) -> None:
    outcome = load(text)
    assert isinstance(outcome, Settings | ConfigError)


URL_SETTINGS = [
    ("database", "url"),
    ("ingress", "redis_url"),
    ("exchange", "sim_url"),
    ("alerts", "webhook_url"),
]
CREDENTIAL = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=6, max_size=20).map(
    lambda text: f"Zq{text}"
)
"""Printable ASCII, '@', '/', '?', '#', quotes and all: a password is whatever the user typed (the
prefix keeps it from matching other text of the message by chance)."""
QUERY_VALUE = CREDENTIAL.filter(lambda text: not set(text) & set("&;#") and not text.endswith("/"))
"""A query value ends at '&', ';' or '#' (the URL's own grammar), so it holds none of them; nor does it
end in '/', which exchange.sim_url drops from the end of the URL."""


@FUZZ
@given(
    setting=st.sampled_from(URL_SETTINGS),
    scheme=st.sampled_from(
        ["postgresql", "postgresql+asyncpg", "redis", "http", "https", "ftp", "unix", "x"]
    ),
    password=CREDENTIAL,
    query_key=st.sampled_from(["password", "token", "secret", "api_key", "key", "signature", "sslpassword"]),
    query_value=QUERY_VALUE,
    port=st.sampled_from(["", ":5432", ":x", ":99999"]),
)
def test_a_url_credential_never_reaches_a_config_error(
    setting: tuple[str, str], scheme: str, password: str, query_key: str, query_value: str, port: str
) -> None:
    url = f"{scheme}://user:{password}@host{port}/x?{query_key}={query_value}"
    outcome = load(f"[{setting[0]}]\n{setting[1]} = {json.dumps(url)}\n")
    if isinstance(outcome, ConfigError):
        assert password not in str(outcome) and query_value not in str(outcome), str(outcome)
    else:
        shown = outcome.redacted()[setting[0]][setting[1]]
        assert password not in shown and query_value not in shown
        assert {password, query_value} <= set(outcome.secrets())
