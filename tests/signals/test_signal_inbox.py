from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor.domain.enums import SignalSource, SignalStatus
from executor.observability.logging import configure_logging
from executor.signals.auth import Credentials, sign
from executor.signals.inbox import Inbox, InboxUnavailable
from executor.signals.result import IngressStatus
from executor.signals.schema import InvalidSignal, SignalMessage
from executor.store.store import Store
from tests.support.signals import ACCOUNT, NOW, SECRET, SQLITE_ONLY, counts, signal_body

TS = int(NOW.timestamp())


async def test_valid_signal_is_committed_before_queued_is_returned_and_the_consumer_woken(
    open_inbox: Inbox, store: Store
) -> None:
    seen: list[Any] = []

    async def consumer() -> None:
        await open_inbox.wakeup.wait()
        async with store.transaction() as tx:
            seen.extend(await tx.signals.queued(ACCOUNT))

    task = asyncio.create_task(consumer())
    await asyncio.sleep(0)
    result = await open_inbox.submit(signal_body("sol-1", take_profit=80.25), SignalSource.WEBSOCKET)
    assert result.as_dict() == {"signal_id": "sol-1", "status": "queued", "errors": []}
    async with asyncio.timeout(5):
        await task
    assert [row.signal_id for row in seen] == ["sol-1"]
    row = seen[0]
    assert (row.source, row.status, row.received_at) == (SignalSource.WEBSOCKET, SignalStatus.QUEUED, NOW)
    assert row.payload["stop"] == "74.10" and row.payload["take_profit"] == "80.25"
    assert SignalMessage.from_object(row.payload).take_profit == Decimal("80.25")


async def test_duplicate_id_is_acknowledged_and_stored_once_across_sources(
    open_inbox: Inbox, store: Store
) -> None:
    assert (
        await open_inbox.submit(signal_body("dup-1"), SignalSource.WEBSOCKET)
    ).status is IngressStatus.QUEUED
    open_inbox.wakeup.clear()
    again = await open_inbox.submit(signal_body("dup-1", stop="70"), SignalSource.WEBHOOK)
    assert again.as_dict() == {"signal_id": "dup-1", "status": "duplicate", "errors": []}
    assert not open_inbox.wakeup.is_set()
    assert await counts(store) == (1, 0)
    async with store.transaction() as tx:
        row = await tx.signals.get(ACCOUNT, "dup-1")
    assert row is not None and (row.source, row.payload["stop"]) == (SignalSource.WEBSOCKET, "74.10")


async def test_the_token_is_never_stored(secured_inbox: Inbox, store: Store) -> None:
    result = await secured_inbox.submit(signal_body("tv-1", token=SECRET), SignalSource.WEBHOOK)
    assert result.status is IngressStatus.QUEUED
    async with store.transaction() as tx:
        row = await tx.signals.get(ACCOUNT, "tv-1")
    assert row is not None and "token" not in row.payload and SECRET not in json.dumps(row.payload)


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        (signal_body(side="buy"), "side", '"long" or "short"'),
        (signal_body(stop="-1"), "stop", "positive price"),
        (signal_body(symbol="SOL/USDT"), "symbol", "spot symbol"),
        (signal_body(extra=1), "extra", "not a known field"),
        (b"\xff\xfe", "body", "not valid UTF-8"),
        (b"[1]", "body", "is an array"),
        (b"x" * 70_000, "body", "at most 65536 bytes"),
    ],
)
async def test_invalid_signal_gets_its_errors_and_only_a_rejected_row(
    open_inbox: Inbox, store: Store, raw: bytes, field: str, fragment: str
) -> None:
    result = await open_inbox.submit(raw, SignalSource.WEBHOOK)
    assert result.status is IngressStatus.INVALID
    assert [e.field for e in result.errors] == [field] and fragment in result.errors[0].message
    assert await counts(store) == (0, 1)
    assert not open_inbox.wakeup.is_set()


async def test_the_rejected_row_keeps_the_raw_text_the_errors_and_a_valid_id(
    open_inbox: Inbox, store: Store
) -> None:
    raw = signal_body("bad-1", side="up").replace(b"}", b', "note": "a\\u0000b"}', 1)
    result = await open_inbox.submit(raw + b"\xff", SignalSource.WEBHOOK)
    assert result.signal_id is None and result.errors[0].message.startswith("the message is not valid UTF-8")
    result = await open_inbox.submit(raw, SignalSource.WEBHOOK)
    assert result.signal_id == "bad-1" and {e.field for e in result.errors} == {"side", "entry.note"}
    assert await counts(store) == (0, 2)


async def test_invalid_messages_with_nul_and_broken_utf8_are_recorded_on_every_database(
    open_inbox: Inbox, store: Store
) -> None:
    result = await open_inbox.submit(b'{"id": "a\x00b"\xc3\x28}', SignalSource.WEBSOCKET)
    assert result.status is IngressStatus.INVALID
    result = await open_inbox.submit('{"id": "\ud800"}', SignalSource.WEBSOCKET)
    assert result.status is IngressStatus.INVALID
    assert await counts(store) == (0, 2)


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("credentials", "raw", "fragment"),
    [
        (
            Credentials(signature=sign("wrong", signal_body(), TS), timestamp=str(TS)),
            signal_body(),
            "does not match",
        ),
        (
            Credentials(signature=sign(SECRET, signal_body(), TS - 600), timestamp=str(TS - 600)),
            signal_body(),
            "window",
        ),
        (Credentials(bearer="nope"), signal_body(), "Bearer token is wrong"),
        (Credentials(), signal_body(token="nope"), "the token is wrong"),
        (Credentials(), signal_body(token=7), "must be a string"),
        (Credentials(), signal_body(), 'put the secret in a "token" field'),
        (Credentials(), b"not json", 'put the secret in a "token" field'),
        (Credentials(), signal_body(side="bad"), 'put the secret in a "token" field'),
    ],
)
async def test_unauthorized_writes_nothing_and_reveals_no_validation(
    secured_inbox: Inbox, store: Store, credentials: Credentials, raw: bytes, fragment: str
) -> None:
    result = await secured_inbox.submit(raw, SignalSource.WEBHOOK, credentials)
    assert (result.signal_id, result.status) == (None, IngressStatus.UNAUTHORIZED)
    assert [e.field for e in result.errors] == ["auth"] and fragment in result.errors[0].message
    assert await counts(store) == (0, 0)


async def test_each_authentication_method_lets_a_signal_in(secured_inbox: Inbox, store: Store) -> None:
    body = signal_body("a-1")
    signed = Credentials(signature=sign(SECRET, body, TS), timestamp=str(TS))
    assert (await secured_inbox.submit(body, SignalSource.WEBHOOK, signed)).status is IngressStatus.QUEUED
    bearer = Credentials(bearer=SECRET)
    assert (
        await secured_inbox.submit(signal_body("a-2"), SignalSource.WEBSOCKET, bearer)
    ).status is IngressStatus.QUEUED
    token = signal_body("a-3", token=SECRET)
    assert (await secured_inbox.submit(token, SignalSource.WEBHOOK)).status is IngressStatus.QUEUED
    trusted = Credentials(trusted=True)
    assert (
        await secured_inbox.submit(signal_body("a-4"), SignalSource.REDIS, trusted)
    ).status is IngressStatus.QUEUED
    assert await counts(store) == (4, 0)


async def test_authorized_but_invalid_is_invalid_with_a_rejected_row(
    secured_inbox: Inbox, store: Store
) -> None:
    result = await secured_inbox.submit(signal_body("x", token=SECRET, side="bad"), SignalSource.WEBHOOK)
    assert result.status is IngressStatus.INVALID and result.signal_id == "x"
    assert await counts(store) == (0, 1)


async def test_a_store_that_cannot_write_raises_inbox_unavailable_and_never_says_queued(
    sqlite_url: str,
) -> None:
    store = Store.open(sqlite_url)  # not migrated: no tables
    try:
        inbox = Inbox(store, ACCOUNT, lambda: NOW)
        with pytest.raises(InboxUnavailable):
            await inbox.submit(signal_body(), SignalSource.WEBSOCKET)
        with pytest.raises(InboxUnavailable):
            await inbox.submit(b"[]", SignalSource.WEBSOCKET)
        assert not inbox.wakeup.is_set()
    finally:
        await store.close()


async def test_every_log_line_about_a_signal_carries_its_id(open_inbox: Inbox) -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    await open_inbox.submit(signal_body("log-1"), SignalSource.WEBSOCKET)
    await open_inbox.submit(signal_body("log-1"), SignalSource.WEBHOOK)
    await open_inbox.submit(signal_body("log-2", side="up"), SignalSource.WEBHOOK)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    events = [(line["event"], line.get("signal_id")) for line in lines if line["event"].startswith("signal")]
    assert events == [
        ("signal queued", "log-1"),
        ("signal duplicate", "log-1"),
        ("signal invalid", "log-2"),
    ]


VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from(["p-1", "p-2", "p-3"]) | st.text(max_size=70),
    "action": st.sampled_from(["open", "close", "move_stop", "OPEN", 1]),
    "symbol": st.sampled_from(["SOL/USDT:USDT", "BTCUSDT", "SOL/USDT", ""]),
    "side": st.sampled_from(["long", "short", "up", None]),
    "entry": st.sampled_from([{"type": "market"}, {"type": "limit", "price": "50"}, {"type": "limit"}, "m"]),
    "stop": st.sampled_from(["74.10", 1, "-1", "1e300", "abc", None]) | st.decimals(allow_nan=False).map(str),
    "take_profit": st.sampled_from(["90", 0]),
    "conviction": st.integers(-2, 12),
    "expires_at": st.sampled_from(["2026-06-02T14:00:00Z", "2026-06-02T14:00:00", 5]),
    "token": st.sampled_from([SECRET, "x", 3]),
    "other": st.integers(),
}
valid = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["p-1", "p-2", "p-3"]),
        "symbol": st.sampled_from(["SOL/USDT:USDT", "BTCUSDT"]),
        "side": st.sampled_from(["long", "short"]),
        "entry": st.just({"type": "market"}),
        "stop": st.sampled_from(["74.10", 2]),
    },
    optional={"token": st.just(SECRET)},
)
mutations = st.dictionaries(st.sampled_from(sorted(VALUES)), st.none(), max_size=2).flatmap(
    lambda keys: st.fixed_dictionaries({key: VALUES[key] for key in keys})
)
objects = st.tuples(valid, mutations, st.sets(st.sampled_from(["side", "entry", "stop"]), max_size=1)).map(
    lambda parts: {k: v for k, v in {**parts[0], **parts[1]}.items() if k not in parts[2]}
)
messages = (
    st.binary(max_size=200)
    | st.text(max_size=200)
    | objects.map(lambda data: json.dumps(data, default=str))
    | objects.map(lambda data: json.dumps(data, default=str).encode())
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=messages, with_secret=st.booleans())
async def test_arbitrary_messages_never_raise_and_only_valid_signals_are_queued(
    open_inbox: Inbox, secured_inbox: Inbox, store: Store, raw: bytes | str, with_secret: bool
) -> None:
    inbox = secured_inbox if with_secret else open_inbox
    before = await counts(store)
    result = await inbox.submit(raw, SignalSource.WEBSOCKET)
    after = await counts(store)
    try:
        signal: SignalMessage | None = SignalMessage.parse(raw)
    except InvalidSignal:
        signal = None
    if result.status is IngressStatus.QUEUED:
        assert signal is not None and result.signal_id == signal.id
        assert after == (before[0] + 1, before[1])
    elif result.status is IngressStatus.DUPLICATE:
        assert signal is not None and after == before
    elif result.status is IngressStatus.INVALID:
        assert signal is None and after == (before[0], before[1] + 1)
    else:
        assert with_secret and after == before
        assert signal is None or signal.token is None or signal.token.get_secret_value() != SECRET


@SQLITE_ONLY
async def test_an_unforeseen_validator_failure_is_one_more_invalid_message(
    open_inbox: Inbox, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(data: Any) -> SignalMessage:
        raise OverflowError("a bug in a validator")

    monkeypatch.setattr(SignalMessage, "from_object", broken)
    result = await open_inbox.submit(signal_body("boom"), SignalSource.WEBSOCKET)
    assert (result.status, [e.field for e in result.errors]) == (IngressStatus.INVALID, ["body"])
    assert await counts(store) == (0, 1)


def _signed(body: bytes) -> Credentials:
    return Credentials(signature=sign(SECRET, body, TS), timestamp=str(TS))


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("credentials", "source"),
    [
        (lambda body: Credentials(bearer=SECRET), SignalSource.WEBHOOK),
        (_signed, SignalSource.WEBHOOK),
        (lambda body: Credentials(token=SECRET), SignalSource.WEBHOOK),
        (lambda body: Credentials(trusted=True), SignalSource.REDIS),
    ],
)
async def test_a_wrong_body_token_is_refused_even_beside_a_right_credential(
    secured_inbox: Inbox, store: Store, credentials: Callable[[bytes], Credentials], source: SignalSource
) -> None:
    wrong = signal_body("w-1", token="wrong")
    result = await secured_inbox.submit(wrong, source, credentials(wrong))
    assert (result.status, result.errors[0].message) == (IngressStatus.UNAUTHORIZED, "the token is wrong")
    assert await counts(store) == (0, 0)
    right = signal_body("w-2", token=SECRET)
    assert (await secured_inbox.submit(right, source, credentials(right))).status is IngressStatus.QUEUED


async def rejected_rows(store: Store) -> list[tuple[str, list[Any]]]:
    from sqlalchemy import select

    from executor.store.models import RejectedSignalRow

    async with store.transaction() as tx:
        rows = (await tx.session.scalars(select(RejectedSignalRow).order_by(RejectedSignalRow.id))).all()
    return [(row.raw, row.errors) for row in rows]


@SQLITE_ONLY
async def test_a_rejected_body_is_stored_and_logged_without_any_credential(
    secured_inbox: Inbox, store: Store
) -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    nested = {"type": "market", "api_key": "other-system-key"}
    body = signal_body("leak-1", token=SECRET, side="up", password="hunter22", entry=nested)
    result = await secured_inbox.submit(body, SignalSource.WEBHOOK)
    assert result.status is IngressStatus.INVALID
    truncated = (
        b'{"id": "leak-2", "token": "' + SECRET.encode() + b'", "Api-Secret": "s3cr3t-other", "side": '
    )
    assert (
        await secured_inbox.submit(truncated, SignalSource.WEBSOCKET, Credentials(bearer=SECRET))
    ).status is (IngressStatus.INVALID)
    (first, _), (second, _) = await rejected_rows(store)
    for raw in (first, second):
        for secret in (SECRET, "other-system-key", "hunter22", "s3cr3t-other"):
            assert secret not in raw
        assert "[REDACTED]" in raw
    assert json.loads(first) == {
        "id": "leak-1",
        "symbol": "SOL/USDT:USDT",
        "side": "up",
        "entry": {"type": "market", "api_key": "[REDACTED]"},
        "stop": "74.10",
        "token": "[REDACTED]",
        "password": "[REDACTED]",
    }
    assert SECRET not in out.getvalue() and "hunter22" not in out.getvalue()


@SQLITE_ONLY
async def test_a_body_without_credentials_is_stored_byte_for_byte(open_inbox: Inbox, store: Store) -> None:
    raw = b'{"id": "keep-1",  "stop": 74.100, "side": "up", "note": "\\u00e9"}'
    await open_inbox.submit(raw, SignalSource.WEBHOOK)
    [(stored, _)] = await rejected_rows(store)
    assert stored == raw.decode()


@SQLITE_ONLY
async def test_thousands_of_problems_are_answered_logged_and_stored_capped_with_a_count(
    open_inbox: Inbox, store: Store
) -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    data = json.loads(signal_body("many-1"))
    data |= {f"k{index:04d}": 1 for index in range(5000)}
    raw = json.dumps(data).encode()
    assert 45_000 < len(raw) < 64 * 1024
    result = await open_inbox.submit(raw, SignalSource.WEBHOOK)
    assert len(result.errors) == 21
    assert result.errors[0].field == "k0000"
    assert result.errors[-1].as_dict() == {
        "field": "body",
        "message": "4980 more problems not listed; fix the ones above first",
    }
    answer = json.dumps(result.as_dict())
    [(_, stored_errors)] = await rejected_rows(store)
    assert stored_errors == result.as_dict()["errors"]
    assert len(answer) < 8 * 1024 and len(json.dumps(stored_errors)) < 8 * 1024
    assert max(len(line) for line in out.getvalue().splitlines()) < 8 * 1024


@SQLITE_ONLY
async def test_while_the_store_cannot_take_writes_nothing_is_accepted_or_written(store: Store) -> None:
    problem: list[str] = ["locked: no write lock on executor.db within 2 s"]
    inbox = Inbox(store, ACCOUNT, lambda: NOW, store_problem=lambda: problem[0] if problem else None)
    for raw in (signal_body("down-1"), signal_body("down-2", side="up"), b"not json"):
        result = await inbox.submit(raw, SignalSource.WEBHOOK)
        assert (result.signal_id, result.status) == (None, IngressStatus.UNAVAILABLE)
        assert result.errors[0].message == (
            "not stored: the database cannot take writes now (locked: no write lock on executor.db within "
            "2 s); resend it unchanged later"
        )
    assert await counts(store) == (0, 0) and not inbox.wakeup.is_set()
    problem.clear()
    assert (await inbox.submit(signal_body("down-1"), SignalSource.WEBHOOK)).status is IngressStatus.QUEUED


@SQLITE_ONLY
async def test_a_stranger_is_told_unauthorized_not_how_the_database_is(secured_inbox: Inbox) -> None:
    secured_inbox.store_problem = lambda: "full: 3 MiB free"
    result = await secured_inbox.submit(signal_body("x"), SignalSource.WEBHOOK)
    assert result.status is IngressStatus.UNAUTHORIZED and "full" not in result.errors[0].message
