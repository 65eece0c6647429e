"""No Docker engine runs here, so the Dockerfile is checked by reading: everything it names must exist."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
EXECUTOR = str(Path(sys.executable).with_name("executor"))


def instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(f"{name} ")]


def test_every_copied_source_exists_in_the_project() -> None:
    sources = []
    for args in instructions("COPY"):
        if "--from=" in args:
            continue
        sources += args.split()[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source


def test_runtime_is_multi_stage_on_one_pinned_slim_base_and_non_root() -> None:
    (base,) = instructions("ARG")
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", base), base
    assert instructions("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    assert instructions("USER") == ["executor"]
    assert any("/app/var" in volume for volume in instructions("VOLUME"))


def test_dependencies_are_installed_from_the_lock_in_their_own_layer_before_the_source() -> None:
    lines = DOCKERFILE.replace("\\\n", " ").splitlines()
    locks = next(i for i, line in enumerate(lines) if line.startswith("COPY requirements/"))
    installs = next(
        i for i, line in enumerate(lines) if "--require-hashes -r requirements/runtime.lock" in line
    )
    source = next(i for i, line in enumerate(lines) if line.startswith("COPY executor"))
    assert locks < installs < source
    assert lines[installs].startswith("RUN ")


def test_the_build_context_leaves_out_environments_data_caches_and_secrets() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for name in (".venv", "var", "secrets", ".git", "**/__pycache__", ".mypy_cache", ".pytest_cache"):
        assert name in ignored, name


def test_the_image_listens_on_every_interface_with_the_secret_from_a_file() -> None:
    env = " ".join(instructions("ENV"))
    assert "EXECUTOR__INGRESS__HTTP=0.0.0.0:8080" in env
    assert "EXECUTOR__INGRESS__WEBSOCKET=0.0.0.0:8765" in env
    assert "EXECUTOR__INGRESS__SECRET_FILE=/run/secrets/ingress_secret" in env
    assert instructions("EXPOSE") == ["8080 8765"]


def test_config_and_migration_directories_point_at_copied_project_directories() -> None:
    env = " ".join(instructions("ENV"))
    for variable, directory in (("EXECUTOR_CONFIG_DIR", "config"), ("EXECUTOR_MIGRATIONS_DIR", "migrations")):
        assert re.search(rf"{variable}=/app/{directory}\b", env)
        assert f"COPY {directory} ./{directory}" in DOCKERFILE
        assert (ROOT / directory).is_dir()


def test_entrypoint_and_command_are_the_installed_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert instructions("ENTRYPOINT") == ['["executor"]'] and "executor" in scripts
    assert instructions("CMD") == ['["run"]']
    assert subprocess.run([EXECUTOR, "run", "--help"], capture_output=True, timeout=60).returncode == 0


def test_healthcheck_is_the_health_command_which_asks_the_configured_port() -> None:
    (check,) = instructions("HEALTHCHECK")
    assert check.endswith('CMD ["executor", "health"]')
    assert "8080" not in check
    assert (
        "settings_or_exit(config_path, logs=False).ingress.http"
        in (ROOT / "executor/cli/health.py").read_text()
    )
