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


def test_runtime_is_multi_stage_slim_and_non_root() -> None:
    stages = instructions("FROM")
    assert len(stages) >= 2 and all("slim" in stage for stage in stages)
    assert instructions("USER") == ["executor"]
    assert any("/app/var" in volume for volume in instructions("VOLUME"))


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


def test_healthcheck_calls_the_health_endpoint_the_daemon_serves() -> None:
    (check,) = instructions("HEALTHCHECK")
    assert "/health" in check
    assert '@app.get("/health")' in (ROOT / "executor/service/http.py").read_text()


def test_installed_wheel_name_matches_the_project() -> None:
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert f"--find-links=/wheels {name}" in DOCKERFILE
