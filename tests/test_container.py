"""The image, checked without a container engine: its build stage's commands run as written into a clean
virtual environment (paths moved under a temporary directory), then its command and its health check run
with its environment; and compose.yaml is valid against the Compose specification's schema.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.e2e import clean_environment
from harness.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
SCHEMA = json.loads((ROOT / "tests/fixtures/compose-spec/compose-spec.json").read_text(encoding="utf-8"))


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments) with continuations joined."""
    found: list[list[tuple[str, str]]] = []
    for line in DOCKERFILE.replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction == "FROM":
            found.append([])
        if found:
            found[-1].append((instruction, " ".join(arguments.split())))
    return found


def environment(stage: list[tuple[str, str]]) -> dict[str, str]:
    return {
        key: value
        for instruction, arguments in stage
        if instruction == "ENV"
        for key, _, value in (pair.partition("=") for pair in arguments.split())
    }


def exec_form(arguments: str) -> list[str]:
    command: list[str] = json.loads(arguments)
    return command


class Image:
    """The image's paths under a temporary directory: /opt/executor, /app, /run/secrets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.moves = {
            "/opt/executor": root / "opt/executor",
            "/app": root / "app",
            "/run/secrets": root / "secrets",
        }

    def moved(self, text: str) -> str:
        for path, there in self.moves.items():
            text = re.sub(rf"{re.escape(path)}(?=/|\b|$)", str(there), text)
        return text

    def env(self, **overrides: str) -> dict[str, str]:
        (_, runtime) = stages()
        env = clean_environment() | {key: self.moved(value) for key, value in environment(runtime).items()}
        env["PATH"] = env["PATH"].replace("$PATH", os.environ["PATH"])
        return env | overrides

    def run(
        self, command: list[str], env: dict[str, str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            cwd=self.moves["/app"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The build stage's RUN commands as written (caches allowed), then the runtime stage's COPYs."""
    image = Image(tmp_path_factory.mktemp("image"))
    build, runtime = stages()
    source = image.root / "src"
    image.moves["/src"] = source
    source.mkdir()
    for instruction, arguments in build:
        if instruction == "COPY":
            *sources, target = arguments.split()
            for name in sources:
                there = source / target / Path(name).name if target.endswith("/") else source / target
                there.parent.mkdir(parents=True, exist_ok=True)
                if (ROOT / name).is_dir():
                    shutil.copytree(ROOT / name, there, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(ROOT / name, there)
        elif instruction == "RUN":
            done = subprocess.run(
                ["bash", "-c", f"set -e; {image.moved(arguments)}"],
                cwd=source,
                env=clean_environment(),
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, f"RUN {arguments}\n{done.stdout}{done.stderr}"
    for instruction, arguments in runtime:
        if instruction == "COPY" and "--from" not in arguments:
            name, target = arguments.split()
            shutil.copytree(ROOT / name, image.moves["/app"] / target)
    (image.moves["/app"] / "var").mkdir(exist_ok=True)
    return image


@pytest.fixture
def secret(image: Image) -> Iterator[Path]:
    path = image.moves["/run/secrets"] / "ingress_secret"
    path.parent.mkdir(exist_ok=True)
    path.write_text("container-ingress-secret-0123456789\n")
    yield path
    path.unlink()


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first build downloads the locked dependencies when uv's cache lacks them
def test_the_images_command_serves_on_the_configured_port_and_its_health_check_follows_it(
    image: Image, secret: Path
) -> None:
    (_, runtime) = stages()
    command = exec_form(dict(runtime)["ENTRYPOINT"]) + exec_form(dict(runtime)["CMD"])
    check = exec_form(dict(runtime)["HEALTHCHECK"].split(" CMD ", 1)[1])
    # Another port than the image's 8080: the health check must follow the configuration.
    env = image.env(
        EXECUTOR__INGRESS__HTTP=f"0.0.0.0:{free_port()}",
        EXECUTOR__INGRESS__WEBSOCKET=f"0.0.0.0:{free_port()}",
    )

    assert image.run(check, env).returncode == 1  # nothing listens yet
    log = image.root / "daemon.log"
    with log.open("wb") as sink:
        daemon = subprocess.Popen(
            command, cwd=image.moves["/app"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 90
        while (healthy := image.run(check, env)).returncode != 0:
            assert daemon.poll() is None, log.read_text()
            assert time.monotonic() < deadline, healthy.stderr + log.read_text()
            time.sleep(1)
        assert healthy.stdout.startswith("healthy: http://127.0.0.1:")
        # The health check asks /health (alive), which answers before the daemon is ready to trade.
        while not any(line["event"] == "ready" for line in json_lines(log)):
            assert daemon.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    lines = json_lines(log)
    assert any(line["event"] == "ready" for line in lines)
    assert not any("container-ingress-secret" in json.dumps(line) for line in lines)


def json_lines(log: Path) -> list[dict[str, Any]]:
    """The daemon's JSON log lines so far (a line still being written is left for the next read)."""
    lines = []
    for text in log.read_text().splitlines():
        if text.startswith("{"):
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError:
                continue
    return lines


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_without_the_secret_file_the_image_refuses_to_start_with_one_line(image: Image) -> None:
    (_, runtime) = stages()
    command = exec_form(dict(runtime)["ENTRYPOINT"]) + exec_form(dict(runtime)["CMD"])

    refused = image.run(command, image.env())

    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert "EXECUTOR__INGRESS__SECRET_FILE names" in line and "ingress_secret" in line


def test_compose_yaml_is_valid_against_the_compose_specification() -> None:
    validator = jsonschema.Draft201909Validator(SCHEMA)
    assert [error.message for error in validator.iter_errors(COMPOSE)] == []
    broken: dict[str, Any] = json.loads(json.dumps(COMPOSE))
    broken["services"]["executor"]["depends_on"]["migrate"]["condition"] = "service_finished"
    assert not validator.is_valid(broken)  # the schema does check what it is given


def test_compose_runs_the_migration_to_completion_before_the_daemon_on_healthy_services() -> None:
    services = COMPOSE["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["executor"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("postgres", "redis", "executor"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
        assert services[name]["volumes"], name
    assert services["executor"]["healthcheck"]["test"][1:] == ["executor", "health"]


def test_compose_gives_every_secret_as_a_file_and_none_in_the_environment() -> None:
    services = COMPOSE["services"]
    files = {name: spec["file"] for name, spec in COMPOSE["secrets"].items()}
    assert set(files) == {"postgres_password", "database_url", "ingress_secret"}
    assert all(path.startswith("./secrets/") for path in files.values())
    assert "secrets/" in (ROOT / ".gitignore").read_text().splitlines()  # never committed
    for name in ("migrate", "executor"):
        env = services[name]["environment"]
        assert env["EXECUTOR__DATABASE__URL_FILE"] == "/run/secrets/database_url"
        assert set(services[name]["secrets"]) == {"database_url", "ingress_secret"}
        assert not any(key.endswith(("SECRET", "PASSWORD", "API_KEY")) for key in env)
    (_, runtime) = stages()
    assert environment(runtime)["EXECUTOR__INGRESS__SECRET_FILE"] == "/run/secrets/ingress_secret"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
