"""Hostile signals through the running daemon's real WebSocket, webhook and Redis stream.

The schema itself is the oracle: whatever `SignalMessage.parse` says of a message, the daemon must answer
the same (`invalid` with exactly those errors, or `queued`), stay up, and write nothing for an invalid
message but its rejected-signal row. Messages are valid signals with one thing broken (a field of the
wrong type or out of range, a missing or unknown key), or arbitrary JSON and text.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from executor.signals.inbox import MAX_REPORTED_ERRORS, capped
from executor.signals.schema import InvalidSignal, SignalMessage
from harness.stress import rss_kib
from tests.support.fuzz import Running

TABLES = ("signals", "rejected_signals")
"""What ingress writes. (Earlier valid examples are decided and traded meanwhile, so the tables the
consumer writes change on their own; an invalid message reaching them would need a `signals` row.)"""
BASE: dict[str, Any] = {
    "symbol": "SOL/USDT:USDT",
    "side": "long",
    "entry": {"type": "market"},
    "stop": "140",
    "conviction": 8,
}
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=80),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
    st.sampled_from(
        ["NaN", "Infinity", "-1", "0", "1e400", "74,10", "1_000", "LONG", "limit", "2026-13-01T00:00:00Z"]
    ),
    st.sampled_from(["١٤٠", "１４０", "१४०", "٧٤.١٠", "14０"]),  # digits Decimal() reads as 140
    st.text(alphabet=st.characters(whitelist_categories=["Nd"]), min_size=1, max_size=6),
)
FIELDS = [
    *BASE,
    "id",
    "action",
    "take_profit",
    "strength",
    "setup",
    "volatility",
    "regime",
    "expires_at",
    "strategy",
]


@st.composite
def broken_signals(draw: st.DrawFn) -> str:
    data = dict(BASE, id=f"fz-{draw(st.integers(0, 10**12))}")
    how = draw(st.sampled_from(["wrong value", "missing key", "unknown key", "raw"]))
    if how == "wrong value":
        data[draw(st.sampled_from(FIELDS))] = draw(WRONG)
    elif how == "missing key":
        data.pop(draw(st.sampled_from(sorted(data))))
    elif how == "unknown key":
        data[draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in FIELDS))] = draw(WRONG)
    else:
        return draw(st.one_of(st.text(max_size=200), st.builds(json.dumps, WRONG)))
    return json.dumps(data)


def expected(raw: str) -> tuple[str, set[tuple[str, str]]]:
    """The schema's verdict, with the errors as ingress reports them (the first 20, then a count)."""
    try:
        SignalMessage.parse(raw)
    except InvalidSignal as invalid:
        return "invalid", {(error.field, error.message) for error in capped(invalid.errors)}
    return "queued", set()


def counts(database: str) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        return {t: int(connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}


def check(running: Running, raw: str, answer: dict[str, Any], before: dict[str, int]) -> None:
    status, errors = expected(raw)
    assert answer["status"] == status, (raw, answer)
    assert {(e["field"], e["message"]) for e in answer["errors"]} == errors, (raw, answer)
    if status == "invalid" and before:
        after = counts(running.database_path)
        assert after == before | {"rejected_signals": before["rejected_signals"] + 1}, (raw, before, after)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(raw=broken_signals())
def test_websocket_answers_every_broken_signal_as_the_schema_does_and_writes_only_its_rejection(
    running: Running, raw: str
) -> None:
    before = counts(running.database_path)
    with connect(running.daemon.ws_url, open_timeout=5) as ws:
        ws.send(raw)
        answer = json.loads(ws.recv(timeout=5))
    check(running, raw, answer, before)


@FUZZ
@given(raw=broken_signals())
def test_webhook_answers_every_broken_signal_as_the_schema_does_and_writes_only_its_rejection(
    running: Running, raw: str
) -> None:
    before = counts(running.database_path)
    response = httpx.post(f"{running.daemon.http_url}/signals", content=raw.encode(), timeout=5)
    answer = response.json()
    assert response.status_code == {"invalid": 400, "queued": 202}[expected(raw)[0]], (raw, answer)
    check(running, raw, answer, before)


@pytest.mark.redis
@FUZZ
@given(raw=broken_signals())
def test_redis_dead_letters_every_broken_signal_with_the_schemas_errors(running: Running, raw: str) -> None:
    if not running.redis_url:
        if os.environ.get("CI") == "true":
            pytest.fail("EXECUTOR_TEST_REDIS_URL is unset under CI=true")
        pytest.skip("EXECUTOR_TEST_REDIS_URL is unset")
    import redis

    client = redis.Redis.from_url(running.redis_url)
    status, errors = expected(raw)
    before = counts(running.database_path)
    entry = client.xadd(running.stream, {"signal": raw.encode()})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pending = client.xpending(running.stream, "executor")["pending"]
        letters: Any = client.xrange(running.stream + ":dead")
        dead = [fields for _, fields in letters if fields[b"entry"] == entry]
        if dead or (status == "queued" and not pending and counts(running.database_path) != before):
            break
        time.sleep(0.02)
    if status == "invalid":
        assert len(dead) == 1, raw
        assert {(e["field"], e["message"]) for e in json.loads(dead[0][b"errors"])} == errors
        after = counts(running.database_path)
        assert after == before | {"rejected_signals": before["rejected_signals"] + 1}
    else:
        assert not dead


@st.composite
def amplifying_bodies(draw: st.DrawFn) -> str:
    """Small bodies with many problems: thousands of unknown keys (long names, at the top or inside
    `entry`), each a line of the answer if nothing capped it."""
    width = draw(st.integers(1, 39))
    count = draw(st.integers(MAX_REPORTED_ERRORS + 1, min(5000, 60_000 // (width + 7))))
    keys = {f"{draw(st.sampled_from('kxz_'))}{index:0{width}d}": 1 for index in range(count)}
    data: dict[str, Any] = dict(BASE, id=f"amp-{draw(st.integers(0, 10**12))}")
    if draw(st.booleans()):
        data["entry"] = {"type": "market", **keys}
    else:
        data |= keys
    return json.dumps(data, separators=(",", ":"))


def rejected_errors(database: str) -> str:
    with sqlite3.connect(database) as connection:
        return str(
            connection.execute("SELECT errors FROM rejected_signals ORDER BY id DESC LIMIT 1").fetchone()[0]
        )


def check_bounded(running: Running, raw: str, answer: dict[str, Any], text: str) -> None:
    check(running, raw, answer, {})
    assert len(answer["errors"]) == MAX_REPORTED_ERRORS + 1, answer
    assert answer["errors"][-1]["message"].endswith("more problems not listed; fix the ones above first")
    assert len(text) < 8 * 1024, len(text)
    assert len(rejected_errors(running.database_path)) < 8 * 1024


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=amplifying_bodies())
def test_a_body_with_thousands_of_problems_gets_a_bounded_answer_and_row_on_every_transport(
    running: Running, raw: str
) -> None:
    response = httpx.post(f"{running.daemon.http_url}/signals", content=raw.encode(), timeout=10)
    assert response.status_code == 400
    check_bounded(running, raw, response.json(), response.text)
    with connect(running.daemon.ws_url, open_timeout=5) as ws:
        ws.send(raw)
        text = str(ws.recv(timeout=10))
    check_bounded(running, raw, json.loads(text), text)


def test_ten_thousand_malformed_messages_leave_the_daemon_ready_with_flat_memory(running: Running) -> None:
    assert running.daemon.process is not None
    pid = running.daemon.process.pid
    junk = ['{"id": "x"', "[]", '{"id": "bad id!"}', "not json", '{"id": "ok", "side": 3}', "\x00\xff"]

    def blast(count: int) -> None:
        with connect(running.daemon.ws_url, open_timeout=5) as ws:
            for start in range(0, count, 100):
                batch = [junk[(start + i) % len(junk)] for i in range(min(100, count - start))]
                for message in batch:
                    ws.send(message)
                for _ in batch:
                    assert json.loads(ws.recv(timeout=10))["status"] == "invalid"

    blast(1000)  # warm-up: caches, connection pools, the allocator's arenas
    before = rss_kib(pid)
    rejected = counts(running.database_path)["rejected_signals"]
    blast(10_000)
    growth = rss_kib(pid) - before
    assert httpx.get(f"{running.daemon.http_url}/ready", timeout=5).status_code == 200
    assert counts(running.database_path)["rejected_signals"] == rejected + 10_000
    assert growth < 8 * 1024, f"RSS grew {growth} KiB over 10,000 malformed messages"
