"""Credential mixes against a daemon with a secret, through its real webhook, WebSocket, Redis stream
and read endpoints.

Each request carries any combination of a signature, a Bearer header, an X-Token header and a body
`token`, each absent, right or wrong (near misses, padding, case, Unicode digits, the wrong type). The
oracle: a request is let in only when at least one credential is present and every present one is
right; a valid signal let in is queued, an invalid one rejected; and the secret is never stored,
whatever was refused or rejected.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import time
from typing import Any

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from executor.signals.auth import sign
from tests.support.fuzz import FUZZ_SECRET, Running

RIGHT = "right"
NEAR_MISSES = [
    "",
    " ",
    "wrong",
    FUZZ_SECRET.upper(),
    FUZZ_SECRET[:-1],
    FUZZ_SECRET + "x",
    "x" + FUZZ_SECRET,
    FUZZ_SECRET.replace("0123456789", "٠١٢٣٤٥٦٧٨٩"),
    FUZZ_SECRET.replace("0123456789", "０１２３４５６７８９"),
    f"Bearer {FUZZ_SECRET}",
]
HEADER_VALUES = st.sampled_from([v for v in NEAR_MISSES if v.isascii()]) | st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40
)
"""Wrong values an HTTP header can carry (printable ASCII; surrounding spaces are stripped in transit)."""
BODY_TOKENS = st.sampled_from([*NEAR_MISSES, f" {FUZZ_SECRET}", f"{FUZZ_SECRET}\n", 7, None, [FUZZ_SECRET]])
ABSENT = st.just(None)
ids = itertools.count()


def header(value: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return ABSENT | st.just(RIGHT) | value.filter(lambda text: text.strip() != FUZZ_SECRET)


MIXES = st.fixed_dictionaries(
    {
        "signature": ABSENT | st.sampled_from([RIGHT, "other secret", "stale", "garbage"]),
        "bearer": header(HEADER_VALUES),
        "x_token": header(HEADER_VALUES),
        "body_token": st.just("absent") | st.just(RIGHT) | BODY_TOKENS.filter(lambda t: t != FUZZ_SECRET),
        "valid": st.booleans(),
    }
)


def body_of(mix: dict[str, Any], signal_id: str) -> bytes:
    data: dict[str, Any] = {
        "id": signal_id,
        "symbol": "SOL/USDT:USDT",
        "side": "long" if mix["valid"] else "up",
        "entry": {"type": "market"},
        "stop": "140",
    }
    if mix["body_token"] != "absent":
        data["token"] = FUZZ_SECRET if mix["body_token"] == RIGHT else mix["body_token"]
    return json.dumps(data).encode()


def headers_of(mix: dict[str, Any], body: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    now = int(time.time())
    match mix["signature"]:
        case "right":
            headers |= {"X-Timestamp": str(now), "X-Signature": sign(FUZZ_SECRET, body, now)}
        case "other secret":
            headers |= {"X-Timestamp": str(now), "X-Signature": sign("other", body, now)}
        case "stale":
            headers |= {"X-Timestamp": str(now - 3600), "X-Signature": sign(FUZZ_SECRET, body, now - 3600)}
        case "garbage":
            headers |= {"X-Timestamp": "yesterday", "X-Signature": "00"}
    if mix["bearer"] is not None:
        headers["Authorization"] = (
            f"Bearer {FUZZ_SECRET if mix['bearer'] == RIGHT else mix['bearer']}".strip()
        )
    if mix["x_token"] is not None:
        headers["X-Token"] = (FUZZ_SECRET if mix["x_token"] == RIGHT else mix["x_token"]).strip()
    return headers  # a header value cannot end in a space: what is sent is what the server would see


def let_in(present: list[Any]) -> bool:
    """Some credential present, and every one present right."""
    return bool(present) and all(value == RIGHT for value in present)


def header_credentials(mix: dict[str, Any]) -> list[Any]:
    return [mix[name] for name in ("signature", "bearer", "x_token") if mix[name] is not None]


def all_credentials(mix: dict[str, Any]) -> list[Any]:
    token = [] if mix["body_token"] in ("absent", None) else [mix["body_token"]]
    return header_credentials(mix) + token


def secret_stored(running: Running) -> bool:
    with sqlite3.connect(running.database_path) as connection:
        pattern = f"%{FUZZ_SECRET}%"
        rejected = connection.execute(
            "SELECT count(*) FROM rejected_signals WHERE raw LIKE ? OR errors LIKE ?", (pattern, pattern)
        ).fetchone()[0]
        queued = connection.execute(
            "SELECT count(*) FROM signals WHERE payload LIKE ?", (pattern,)
        ).fetchone()[0]
    return bool(rejected or queued)


def expected_status(mix: dict[str, Any], credentials: list[Any]) -> str:
    if not let_in(credentials):
        return "unauthorized"
    return "queued" if mix["valid"] else "invalid"


FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(mix=MIXES)
def test_the_webhook_lets_in_only_requests_whose_every_credential_is_right(
    secured: Running, mix: dict[str, Any]
) -> None:
    body = body_of(mix, f"cred-hook-{next(ids)}-{time.monotonic_ns()}")
    response = httpx.post(
        f"{secured.daemon.http_url}/signals", content=body, headers=headers_of(mix, body), timeout=5
    )
    answer = response.json()
    status = expected_status(mix, all_credentials(mix))
    assert answer["status"] == status, (mix, answer)
    assert response.status_code == {"unauthorized": 401, "invalid": 400, "queued": 202}[status]
    assert not secret_stored(secured)


@FUZZ
@given(mix=MIXES)
def test_read_endpoints_answer_only_when_every_header_credential_is_right(
    secured: Running, mix: dict[str, Any]
) -> None:
    for path in ("/status", "/metrics", "/openapi.json"):
        response = httpx.get(f"{secured.daemon.http_url}{path}", headers=headers_of(mix, b""), timeout=5)
        allowed = let_in(header_credentials(mix))
        assert response.status_code == (200 if allowed else 401), (path, mix)
        assert allowed or FUZZ_SECRET not in response.text
    for path in ("/health", "/ready"):
        assert httpx.get(f"{secured.daemon.http_url}{path}", timeout=5).status_code == 200


@FUZZ
@given(bearer=header(HEADER_VALUES), body_token=MIXES.map(lambda mix: mix["body_token"]), valid=st.booleans())
def test_the_websocket_needs_a_right_bearer_and_a_right_token_if_any(
    secured: Running, bearer: str | None, body_token: Any, valid: bool
) -> None:
    mix = {"bearer": bearer, "body_token": body_token, "valid": valid}
    shown = FUZZ_SECRET if bearer == RIGHT else bearer
    headers = {} if bearer is None else {"Authorization": f"Bearer {shown}".strip()}
    body = body_of(mix, f"cred-ws-{next(ids)}-{time.monotonic_ns()}")
    if bearer != RIGHT:
        with pytest.raises(InvalidStatus) as refused:
            connect(secured.daemon.ws_url, additional_headers=headers, open_timeout=5)
        assert refused.value.response.status_code == 401
        return
    with connect(secured.daemon.ws_url, additional_headers=headers, open_timeout=5) as ws:
        ws.send(body)
        answer = json.loads(ws.recv(timeout=5))
    token = [] if body_token in ("absent", None) else [body_token]
    assert answer["status"] == expected_status(mix, [bearer, *token]), (mix, answer)
    assert not secret_stored(secured)


@pytest.mark.redis
@FUZZ
@given(body_token=MIXES.map(lambda mix: mix["body_token"]), valid=st.booleans())
def test_a_redis_entry_with_a_wrong_token_is_dead_lettered_unauthorized_without_the_secret(
    secured: Running, body_token: Any, valid: bool
) -> None:
    if not secured.redis_url:
        if os.environ.get("CI") == "true":
            pytest.fail("EXECUTOR_TEST_REDIS_URL is unset under CI=true")
        pytest.skip("EXECUTOR_TEST_REDIS_URL is unset")
    client = redis.Redis.from_url(secured.redis_url)
    mix = {"body_token": body_token, "valid": valid}
    entry = client.xadd(
        secured.stream, {"signal": body_of(mix, f"cred-redis-{next(ids)}-{time.monotonic_ns()}")}
    )
    token_right = body_token in ("absent", None, RIGHT)
    status = ("queued" if valid else "invalid") if token_right else "unauthorized"
    deadline = time.monotonic() + 10
    dead: list[Any] = []
    while time.monotonic() < deadline:
        entries: Any = client.xrange(secured.stream + ":dead")
        dead = [fields for _, fields in entries if fields[b"entry"] == entry]
        if dead or (status == "queued" and client.xpending(secured.stream, "executor")["pending"] == 0):
            break
        time.sleep(0.02)
    if status == "queued":
        assert not dead
    else:
        assert [fields[b"status"].decode() for fields in dead] == [status]
        assert FUZZ_SECRET.encode() not in dead[0][b"signal"]
    assert not secret_stored(secured)
