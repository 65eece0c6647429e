"""The lock files pin every dependency to one version with its hashes, and they are what was tested."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)")


def pins(name: str) -> dict[str, str]:
    """{package: version} of a lock file, each pin checked to carry a sha256 hash."""
    text = (LOCKS / name).read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{name}: {match[1]} has no hash"
            found[canonicalize_name(match[1])] = match[2]
    return found


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("runtime.lock", PROJECT["dependencies"]),
        ("dev.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_every_declared_dependency_is_pinned_within_its_range(lock: str, requirements: list[str]) -> None:
    locked = pins(lock)
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{lock} lacks {name}: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{lock} pins {name}=={locked[name]} outside {requirement.specifier}: run `make lock`"
        )


def test_the_runtime_lock_agrees_with_the_dev_lock() -> None:
    dev = pins("dev.lock")
    assert {name: version for name, version in pins("runtime.lock").items() if dev.get(name) != version} == {}


def test_uv_itself_is_pinned_with_its_hashes() -> None:
    assert list(pins("bootstrap.lock")) == ["uv"]


def test_the_environment_running_these_tests_has_the_locked_versions() -> None:
    installed: dict[str, str] = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions()}
    locked = pins("dev.lock")
    drift = {
        name: (installed[name], version)
        for name, version in locked.items()
        if installed.get(name, version) != version
    }
    assert drift == {}, f"installed vs locked: {drift}; run `make dev`"
