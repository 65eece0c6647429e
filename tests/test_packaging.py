"""The wheel builds from the files the Dockerfile copies, with no warning from the build backend."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the Dockerfile's build stage copies before it builds the wheel.
BUILD_CONTEXT = ("pyproject.toml", "README.md", "executor", "adapters")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel built offline from a copy of the build context, and the build's output."""
    source = tmp_path_factory.mktemp("src")
    for name in BUILD_CONTEXT:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path_factory.mktemp("wheels")
    command = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation"]
    build = subprocess.run(
        [*command, "--wheel-dir", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("perp_executor-*.whl")
    return wheel, build.stdout + build.stderr


def test_the_build_backend_warns_about_nothing_in_the_project_metadata(built: tuple[Path, str]) -> None:
    _, output = built
    assert "BuildBackendWarning" not in output
    assert "deprecated" not in output.lower()


def test_the_licence_is_an_spdx_expression_in_the_wheel_metadata(built: tuple[Path, str]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    assert "License-Expression: LicenseRef-Proprietary" in metadata.splitlines()
    assert not any(line.startswith("License:") for line in metadata.splitlines())
