from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from executor.store.migrate import head_revision
from harness.ports import free_port
from tests.support.cli import invoke, run_cli

EXECUTOR = str(Path(sys.executable).with_name("executor"))


def installed(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script as a shell runs it (the rest of this module runs the commands
    in-process through Click's runner, `run_cli`)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR__")}
    return subprocess.run(
        [EXECUTOR, *args], env=base | (env or {}), capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_help_lists_the_commands() -> None:
    result = installed("--help")
    assert result.returncode == 0
    for command in ("config", "db", "run"):
        assert f"  {command} " in result.stdout


def test_config_check_prints_resolved_configuration_with_secrets_redacted() -> None:
    result = run_cli("config", "check", env={"EXECUTOR__INGRESS__SECRET": "webhook-secret-123"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ingress"]["secret"] == "**********"
    assert "webhook-secret-123" not in result.stdout + result.stderr


def test_config_check_exits_non_zero_on_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[ingress]\nreplay_window_seconds = "soon"\n')
    result = run_cli("config", "check", "--config", str(path))
    assert result.returncode == 2
    assert "ingress.replay_window_seconds = 'soon'" in result.stderr


def test_db_upgrade_current_and_downgrade(tmp_path: Path) -> None:
    env = {"EXECUTOR__DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    assert run_cli("db", "current", env=env).stdout.strip() == "base (empty database)"
    assert run_cli("db", "upgrade", env=env).returncode == 0
    assert run_cli("db", "current", env=env).stdout.strip() == head_revision()
    assert run_cli("db", "downgrade", "base", "--yes", env=env).returncode == 0
    assert run_cli("db", "current", env=env).stdout.strip() == "base (empty database)"


def test_a_listener_beyond_loopback_without_a_secret_is_one_config_line_and_exit_2() -> None:
    insecure = {"EXECUTOR__INGRESS__HTTP": "0.0.0.0:8080"}
    fix = "Set EXECUTOR__INGRESS__SECRET (or _FILE), or bind ingress.http to 127.0.0.1"

    for secret in ({}, {"EXECUTOR__INGRESS__SECRET": ""}):  # an empty secret authenticates nothing
        refused = run_cli("config", "check", env=insecure | secret)
        assert refused.returncode == 2 and refused.stdout == ""
        (line,) = refused.stderr.splitlines()
        assert line.startswith("config: ingress.http = '0.0.0.0:8080': would accept signals") and fix in line

    secured = run_cli("config", "check", env=insecure | {"EXECUTOR__INGRESS__SECRET": "webhook-secret-123"})
    assert secured.returncode == 0 and json.loads(secured.stdout)["ingress"]["http"] == "0.0.0.0:8080"


def test_run_refuses_an_insecure_listener_before_it_starts_anything(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    env = {
        "EXECUTOR__DATABASE__URL": f"sqlite+aiosqlite:///{database}",
        "EXECUTOR__INGRESS__WEBSOCKET": "[::]:8765",
        "EXECUTOR__LOGGING__FORMAT": "json",
    }

    result = installed("run", env=env, cwd=tmp_path)

    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("config: ingress.websocket = '[::]:8765': would accept signals"), line
    assert not database.exists()  # nothing migrated, no simulator, no listener


def test_db_downgrade_takes_base_steps_down_or_a_revision_below_and_names_them_otherwise(
    tmp_path: Path,
) -> None:
    env = {"EXECUTOR__DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    head = head_revision()

    nonsense = run_cli("db", "downgrade", "nonsense", env=env)
    too_far = run_cli("db", "downgrade", "-9", env=env)
    one_down = run_cli("db", "downgrade", "-1", env=env)
    above = run_cli("db", "downgrade", head, env=env)

    assert nonsense.returncode == 2 and nonsense.stdout == ""
    assert nonsense.stderr.startswith("no revision 'nonsense': give base, -N (N revisions down) or one of ")
    assert len(nonsense.stderr.splitlines()) == 1 and head in nonsense.stderr
    assert too_far.returncode == 2 and too_far.stderr.startswith(f"cannot go 9 revisions down from {head}")
    assert one_down.returncode == 0 and one_down.stdout.strip() != f"database at {head}"
    assert above.returncode == 2 and len(above.stderr.splitlines()) == 1
    assert "executor db upgrade" in above.stderr
    assert run_cli("db", "current", env=env).stdout.strip() == one_down.stdout.strip().removeprefix(
        "database at "
    )


def test_db_downgrade_to_base_asks_first_unless_yes(tmp_path: Path) -> None:
    env = {"EXECUTOR__DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    head = head_revision()

    for answer in ("", "n\n"):  # no answer (standard input closed), and no
        kept = run_cli("db", "downgrade", "base", env=env, stdin=answer)
        assert kept.returncode == 1 and "Drop every table and all their data in sqlite" in kept.stderr
        assert "pass --yes" in kept.stderr
        assert run_cli("db", "current", env=env).stdout.strip() == head

    confirmed = run_cli("db", "downgrade", "base", env=env, stdin="y\n")
    assert confirmed.returncode == 0 and confirmed.stdout.strip() == "database at base"
    assert run_cli("db", "upgrade", env=env).returncode == 0
    unasked = run_cli("db", "downgrade", "base", "--yes", env=env)
    assert unasked.returncode == 0 and unasked.stderr == ""
    assert run_cli("db", "current", env=env).stdout.strip() == "base (empty database)"


async def test_config_check_masks_url_credentials_of_every_url_setting() -> None:
    env = {
        "EXECUTOR__DATABASE__URL": "postgresql+asyncpg://u:db-pw@db/x?sslpassword=ssl-pw",
        "EXECUTOR__INGRESS__REDIS_URL": "redis://:redis-pw@cache:6379/0",
        "EXECUTOR__EXCHANGE__SIM_URL": "http://sim.example?token=sim-token",
        "EXECUTOR__ALERTS__WEBHOOK_URL": "https://hooks.example/a?api_key=hook-key",
    }
    result = await invoke(["config", "check"], env)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["database"]["url"] == "postgresql+asyncpg://u:***@db/x?sslpassword=***"
    assert data["alerts"]["webhook_url"] == "https://hooks.example/a?api_key=***"
    for secret in ("db-pw", "ssl-pw", "redis-pw", "sim-token", "hook-key"):
        assert secret not in result.output


async def test_a_refused_database_url_is_shown_without_its_password() -> None:
    result = await invoke(
        ["config", "check"], {"EXECUTOR__DATABASE__URL": "postgresql://u:db-pw@db/x?password=q-pw"}
    )
    assert result.exit_code == 2
    assert "config: database.url = 'postgresql://u:***@db/x?password=***'" in result.stderr
    assert "db-pw" not in result.output and "q-pw" not in result.output


async def test_signal_send_masks_credentials_in_a_refused_url(tmp_path: Path) -> None:
    signal = tmp_path / "s.json"
    signal.write_text('{"id": "s1", "symbol": "SOLUSDT", "action": "close"}')
    result = await invoke(["signal", "send", str(signal), "--url", "ftp://u:ws-pw@h/?token=ws-tok"], {})
    assert result.exit_code == 2
    assert "ftp://u:***@h/?token=***" in result.stderr
    assert "ws-pw" not in result.output and "ws-tok" not in result.output


def test_the_database_url_may_come_from_a_file_and_its_password_stays_redacted(tmp_path: Path) -> None:
    path = tmp_path / "database_url"
    path.write_text("postgresql+asyncpg://executor:file-password-123@postgres:5432/executor\n")

    result = run_cli("config", "check", env={"EXECUTOR__DATABASE__URL_FILE": str(path)})
    missing = run_cli("config", "check", env={"EXECUTOR__DATABASE__URL_FILE": str(tmp_path / "absent")})

    assert result.returncode == 0, result.stderr
    assert (
        json.loads(result.stdout)["database"]["url"]
        == "postgresql+asyncpg://executor:***@postgres:5432/executor"
    )
    assert "file-password-123" not in result.stdout + result.stderr
    assert missing.returncode == 2 and "EXECUTOR__DATABASE__URL_FILE names" in missing.stderr


def test_db_commands_on_a_database_that_cannot_be_reached_say_so_in_one_line(tmp_path: Path) -> None:
    unreachable = {
        "EXECUTOR__DATABASE__URL": f"postgresql+asyncpg://executor:pw-789@127.0.0.1:{free_port()}/x"
    }
    unwritable = {"EXECUTOR__DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'file' / 'x.db'}"}
    (tmp_path / "file").write_text("a file where a directory should be")

    for env in (unreachable, unwritable):
        for command in (("db", "upgrade"), ("db", "current"), ("db", "downgrade", "base", "--yes")):
            result = run_cli(*command, env=env)
            assert result.returncode == 1, (command, result.stderr)
            (line,) = result.stderr.splitlines()
            assert line.startswith("cannot use the database "), line
            assert "pw-789" not in line
