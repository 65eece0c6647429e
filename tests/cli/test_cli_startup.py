"""The CLI imports a sub-command only when it runs: `--help`, `--version`, `size` and `status` start fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import pytest

from executor.cli import COMMANDS, main

HEAVY = (
    "sqlalchemy",
    "ccxt",
    "alembic",
    "aiohttp",
    "fastapi",
    "uvicorn",
    "httpx",
    "websockets",
    "redis",
    "apprise",
)


def imported_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages and executor modules loaded by a fresh interpreter running `code`."""
    probe = f"import sys\n{code}\nprint(__import__('json').dumps(sorted(sys.modules)))"
    command = [sys.executable, "-c", probe]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True, env=env)
    modules = json.loads(done.stdout.splitlines()[-1])
    return {m for m in modules if m.startswith("executor")} | {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_and_version_import_no_sub_command(option: str) -> None:
    loaded = imported_after(
        f"from executor.cli import main\ntry:\n    main([{option!r}])\nexcept SystemExit:\n    pass"
    )
    assert {m for m in loaded if m.startswith("executor")} == {"executor", "executor.cli"}
    assert not loaded & {*HEAVY, "pydantic", "structlog"}


@pytest.mark.parametrize("command", ["size", "status"])
def test_size_and_status_import_neither_the_database_nor_the_exchange(command: str) -> None:
    module = COMMANDS[command][0].partition(":")[0]

    loaded = imported_after(f"import {module}")

    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_explain_reads_the_database_without_the_web_framework_or_the_exchange() -> None:
    """e2e tests run `executor explain` often: FastAPI (~0.2 s) is the daemon's, not the command's."""
    loaded = imported_after("import executor.cli.explain")

    assert "sqlalchemy" in loaded
    assert not loaded & {"fastapi", "starlette", "uvicorn", "ccxt", "apprise"}


class _Report(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"account": "main", "breaker": {"status": "active"}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def answering_daemon() -> Iterator[str]:
    """HOST:PORT of a local server answering /status and /health as a running daemon would."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Report)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", ["status", "health"])
def test_status_and_health_with_a_daemon_answering_load_no_logging_and_no_risk_engine(
    command: str, answering_daemon: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR")}
    code = f"from executor.cli import main\ntry:\n    main([{command!r}])\nexcept SystemExit as exit:\n"
    code += "    assert exit.code in (0, None), exit.code"

    loaded = imported_after(code, env | {"EXECUTOR__INGRESS__HTTP": answering_daemon})

    assert "executor.config.settings" in loaded  # the configuration was read and validated
    assert not loaded & {"structlog", "pydantic_settings", "executor.risk.pipeline", *HEAVY}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listings_summary_is_the_first_paragraph_of_the_commands_help(name: str) -> None:
    command = main.get_command(click.Context(main), name)

    assert command is not None and command.help is not None
    assert " ".join(command.help.split("\n\n")[0].split()) == COMMANDS[name][1]


def test_shell_completion_as_the_help_documents_it_completes_commands_and_sub_commands() -> None:
    executor = str(Path(sys.executable).with_name("executor"))

    def complete(shell: str, words: str = "", current: int = 0) -> str:
        env = {"_EXECUTOR_COMPLETE": shell, "COMP_WORDS": words, "COMP_CWORD": str(current)}
        done = subprocess.run(
            [executor], env=env | {"PATH": ""}, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout

    shown = subprocess.run([executor, "--help"], capture_output=True, text=True, timeout=60).stdout
    for shell in ("bash", "zsh", "fish"):
        assert f"_EXECUTOR_COMPLETE={shell}_source executor" in shown
        assert "executor" in complete(f"{shell}_source")
    assert complete("bash_complete", "executor st", 1).split() == ["plain,status"]
    assert complete("bash_complete", "executor db down", 2).split() == ["plain,downgrade"]
