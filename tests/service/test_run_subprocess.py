"""The daemon skeleton as a real subprocess: starts, answers, stops cleanly on SIGTERM and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.ports import free_port

EXECUTOR = str(Path(sys.executable).with_name("executor"))


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def start(tmp_path: Path, **extra: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR__")}
    env |= {
        "EXECUTOR__DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'executor.db'}",
        "EXECUTOR__INGRESS__HTTP": f"127.0.0.1:{port}",
        "EXECUTOR__INGRESS__WEBSOCKET": f"127.0.0.1:{free_port()}",
        **extra,
    }
    process = subprocess.Popen(
        [EXECUTOR, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return process, f"http://127.0.0.1:{port}"


def wait_ready(process: subprocess.Popen[str], base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if get(f"{base}/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("daemon never became ready")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_daemon_starts_answers_health_and_stops_within_five_seconds(tmp_path: Path, stop_signal: int) -> None:
    process, base = start(tmp_path)
    try:
        wait_ready(process, base)
        assert get(f"{base}/health") == (200, {"status": "ok"})
        waiting = {"state": "connecting", "age_seconds": None, "reconnects": 0, "problem": None}
        status, ready = get(f"{base}/ready")
        streams = ready["streams"]
        assert isinstance(streams, dict)
        user = streams.pop("user_data")  # the account's stream needs no symbol: it may be live
        assert user["state"] in ("connecting", "live") and user["problem"] is None, user
        assert (status, ready) == (
            200,
            {
                "ready": True,
                "reason": None,
                "components": {"database": "ok", "ingress.websocket": "ok"},
                # no allowed symbol is set and no signal came: the streams wait for a symbol to follow
                "streams": {"mark_price": waiting, "book_ticker": waiting},
            },
        )
        sent = time.monotonic()
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert elapsed < 5
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert "ready" in events and events[-1] == "stopped"
    assert (tmp_path / "executor.db").exists()


def test_daemon_with_a_bad_setting_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    process, _ = start(tmp_path, EXECUTOR__EXCHANGE__NAME="kraken")
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert output.strip().splitlines() == [
        "config: exchange.name = 'kraken': Input should be 'binance', 'phemex', 'sim-binance' or 'sim-phemex'"
    ]
