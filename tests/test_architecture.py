"""The import rules (import-linter contracts in pyproject.toml) hold; a live daemon never loads the sim."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WIRE_AND_LIST_MODULES = textwrap.dedent(
    """
    import asyncio, sys
    import executor.cli
    from executor.config.settings import load_settings
    from executor.service.daemon import Daemon
    from executor.service.exchange import open_exchange

    async def wire():
        closers = []
        await open_exchange(load_settings(), closers)
        for close in closers:
            await close()

    asyncio.run(wire())
    print(",".join(sorted(name for name in sys.modules if name.split(".")[:2] == ["adapters", "sim"])))
    """
)


def test_the_import_contracts_hold() -> None:
    """In its own process: import-linter configures logging with `dictConfig`, which disables every
    logger that exists already (asyncio's among them) for the rest of a test session."""
    check = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(REPO / 'pyproject.toml')!r}, "
        "no_cache=True, no_logo=True))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def simulator_modules_loaded(**settings: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXECUTOR__")}
    env |= {f"EXECUTOR__{key.upper()}": value for key, value in settings.items()}
    done = subprocess.run(
        [sys.executable, "-c", WIRE_AND_LIST_MODULES],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_live_daemon_wires_its_exchange_without_loading_the_simulator() -> None:
    live = {"exchange__mode": "live", "exchange__api_key": "k", "exchange__api_secret": "s"}
    assert simulator_modules_loaded(exchange__name="binance", **live) == ""


def test_only_the_embedded_simulator_loads_the_simulator() -> None:
    assert (
        simulator_modules_loaded(exchange__name="sim-binance", exchange__sim_url="http://127.0.0.1:9") == ""
    )
    in_memory = {"database__url": "sqlite+aiosqlite:///:memory:"}  # no simulator state file in the checkout
    assert "adapters.sim.server" in simulator_modules_loaded(exchange__name="sim-binance", **in_memory).split(
        ","
    )
