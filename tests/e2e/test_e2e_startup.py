"""Start-up against an exchange that cannot be used yet (issue #12 item 5): it is waited for with a
growing pause and a clear log line while /ready says why; SIGTERM ends the wait with exit 0 at any
step; a refused API key is reported as such, with the fix, and the daemon stays not ready."""

from __future__ import annotations

from typing import Any

import pytest

from harness.e2e import Daemon, DaemonFactory, Sim, eventually
from harness.ports import free_port

pytestmark = pytest.mark.slow


async def not_ready_because(daemon: Daemon, words: str) -> Any:
    try:
        code, body = await daemon.get("/ready")
    except Exception:
        return None
    return body if code == 503 and words in str(body) else None


def logged_with(daemon: Daemon, event: str, **fields: str) -> list[dict[str, Any]]:
    return [line for line in daemon.logged(event) if all(line.get(k) == v for k, v in fields.items())]


async def test_an_exchange_that_does_not_answer_at_start_up_is_waited_for_until_it_does(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    await sim.fault(action="error_5xx", method="GET", path="/fapi/v1/time", count=None)
    daemon = daemons(sqlite_url)
    daemon.spawn()

    await eventually(
        lambda: not_ready_because(daemon, "waiting for the exchange (clock)"),
        what="/ready 503 naming the wait",
    )

    async def retried() -> bool:
        return len(logged_with(daemon, "waiting_for_exchange", step="clock")) >= 2

    await eventually(retried, what="two waiting_for_exchange lines (a retry after the pause)")
    waits = [line["retry_in_s"] for line in logged_with(daemon, "waiting_for_exchange", step="clock")]
    assert waits[:2] == [1.0, 2.0], waits
    await sim.clear_faults()
    await daemon.wait_ready(within=20)
    assert "Traceback" not in daemon.log_text()


@pytest.mark.parametrize(
    "step",
    [
        pytest.param("clock", id="unreachable-clock"),
        pytest.param("reconciliation", id="first-reconciliation"),
    ],
)
async def test_sigterm_while_waiting_for_the_exchange_at_start_up_exits_0_without_a_traceback(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, step: str
) -> None:
    if step == "clock":  # nothing listens where the exchange should be
        daemon = daemons(sqlite_url, EXECUTOR__EXCHANGE__SIM_URL=f"http://127.0.0.1:{free_port()}")
    else:
        for path in ("/fapi/v2/account", "/fapi/v3/account"):
            await sim.fault(action="error_5xx", method="GET", path=path, count=None)
        daemon = daemons(sqlite_url)
    daemon.spawn()

    async def waiting() -> bool:
        if step == "clock":
            return bool(logged_with(daemon, "waiting_for_exchange", step=step))
        refused = [r for r in await sim.requests() if r["fault"] == "error_5xx"]
        return len(refused) >= 2  # the account read failed and was tried again

    await eventually(waiting, what=f"the daemon waiting for the exchange ({step})")
    assert daemon.process is not None and daemon.process.poll() is None, daemon.log_tail()
    code, seconds = daemon.terminate()
    assert code == 0, daemon.log_tail()
    assert seconds < 5
    assert "Traceback" not in daemon.log_text()


async def test_a_refused_api_key_is_reported_with_the_fix_and_the_daemon_stays_not_ready(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(
        sqlite_url,
        EXECUTOR__EXCHANGE__API_KEY="not-the-key",
        EXECUTOR__EXCHANGE__API_SECRET="not-the-secret",
    )
    daemon.spawn()

    async def reported() -> list[dict[str, Any]]:
        return daemon.logged("exchange_authentication_failed")

    [line, *_] = await eventually(reported, what="the authentication failure reported as such")
    assert line["level"] == "error"
    assert "exchange.api_key" in line["fix"] and "exchange.mode" in line["fix"]
    assert "not-the-secret" not in daemon.log_text()
    assert await eventually(lambda: not_ready_because(daemon, "refused the API key"), what="/ready 503")
    assert daemon.process is not None and daemon.process.poll() is None
    assert daemon.logged("ready") == []
    code, _ = daemon.terminate()
    assert code == 0
