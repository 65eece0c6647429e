from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from executor.domain.enums import Action, EntryType, Regime, Setup, Side
from executor.domain.signal import Instruction
from executor.signals.schema import BODY, MAX_BODY_BYTES, InvalidSignal, SignalMessage

D = Decimal
OPEN: dict[str, Any] = {
    "id": "sol-20260602-1",
    "symbol": "SOL/USDT:USDT",
    "side": "long",
    "entry": {"type": "market"},
    "stop": 74.10,
}


def body(**fields: Any) -> bytes:
    data = {**OPEN, **fields}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def errors_of(raw: bytes | str) -> dict[str, str]:
    with pytest.raises(InvalidSignal) as caught:
        SignalMessage.parse(raw)
    return {error.field: error.message for error in caught.value.errors}


def test_full_open_signal_parses_with_exact_decimals_and_utc_expiry() -> None:
    raw = (
        b'{"id": "a:b.c_d-1", "action": "open", "symbol": "SOLUSDT", "side": "short",'
        b' "entry": {"type": "limit", "price": 75.123456789012345678}, "stop": "76.10",'
        b' "take_profit": 70.1, "conviction": 8, "strength": "0.7", "setup": "secondary",'
        b' "volatility": 0.035, "regime": "volatile", "expires_at": "2026-06-02T16:00:00+02:00",'
        b' "strategy": "breakout 4h"}'
    )
    signal = SignalMessage.parse(raw)
    assert signal.entry is not None
    assert (signal.action, signal.side, signal.entry.type) == (Action.OPEN, Side.SHORT, EntryType.LIMIT)
    assert str(signal.entry.price) == "75.123456789012345678"
    assert (str(signal.stop), str(signal.take_profit), signal.conviction) == ("76.10", "70.1", D(8))
    assert (signal.setup, signal.regime, signal.strength) == (Setup.SECONDARY, Regime.VOLATILE, D("0.7"))
    assert signal.expires_at == datetime(2026, 6, 2, 14, tzinfo=UTC)


def test_action_defaults_to_open_and_payload_round_trips_exactly() -> None:
    signal = SignalMessage.parse(body(stop="74.10", take_profit="80.00"))
    payload = signal.payload()
    assert payload["action"] == "open" and payload["stop"] == "74.10" and payload["take_profit"] == "80.00"
    assert json.loads(json.dumps(payload)) == payload
    assert SignalMessage.from_object(payload) == signal


def test_json_numbers_are_never_read_through_a_float() -> None:
    signal = SignalMessage.parse(
        b'{"id":"x","symbol":"SOLUSDT","side":"long","entry":{"type":"market"},"stop":0.1}'
    )
    assert signal.stop == D("0.1") and str(signal.stop) == "0.1"


NON_ASCII_NUMBERS = ["١٤٠", "１４０", "१४०", "٧٤.١٠", "74.1０", "１e2"]


@pytest.mark.parametrize("text", NON_ASCII_NUMBERS)
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"stop": "{}"}, "stop"),
        ({"entry": {"type": "limit", "price": "{}"}, "stop": 1}, "entry.price"),
        ({"take_profit": "{}"}, "take_profit"),
        ({"conviction": "{}"}, "conviction"),
        ({"strength": "{}"}, "strength"),
        ({"volatility": "{}"}, "volatility"),
    ],
)
def test_prices_and_numbers_in_other_digits_than_ascii_are_refused(
    text: str, fields: dict[str, Any], field: str
) -> None:
    filled = json.loads(json.dumps(fields).replace("{}", text))
    errors = errors_of(body(**filled))
    assert field in errors, errors
    assert "ASCII digits" in errors[field]


def test_token_is_accepted_but_never_in_the_payload_or_repr() -> None:
    signal = SignalMessage.parse(body(token="s3cret-token"))
    assert signal.token is not None and signal.token.get_secret_value() == "s3cret-token"
    assert "token" not in signal.payload()
    assert "s3cret" not in repr(signal) and "s3cret" not in str(signal.payload())


def test_close_needs_only_the_symbol_and_move_stop_needs_the_stop() -> None:
    close = SignalMessage.parse(b'{"id": "c1", "action": "close", "symbol": "SOL/USDT:USDT"}')
    assert (close.action, close.side, close.stop) == (Action.CLOSE, None, None)
    move = SignalMessage.parse(b'{"id": "m1", "action": "move_stop", "symbol": "SOLUSDT", "stop": "75"}')
    assert (move.action, move.stop) == (Action.MOVE_STOP, D(75))
    assert errors_of(b'{"id": "m1", "action": "move_stop", "symbol": "SOLUSDT"}') == {
        "stop": 'is required for action "move_stop"; add "stop": the stop-loss price, e.g. 74.10'
    }


def test_open_lists_every_missing_requirement_at_once() -> None:
    errors = errors_of(b'{"id": "o1", "symbol": "SOLUSDT"}')
    assert set(errors) == {"side", "entry", "stop"}
    assert all('is required for action "open"' in message for message in errors.values())


def test_fields_an_action_would_ignore_are_refused() -> None:
    errors = errors_of(b'{"id": "c1", "action": "close", "symbol": "SOLUSDT", "stop": 1, "conviction": 3}')
    assert errors == {
        "conviction": 'is not used by action "close"; remove it',
        "stop": 'is not used by action "close"; remove it',
    }


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"id": ""}, "id", "1–64 characters"),
        ({"id": "x" * 65}, "id", "1–64 characters"),
        ({"id": "has space"}, "id", "A-Z a-z 0-9 . _ : -"),
        ({"id": 7}, "id", "1–64 characters"),
        ({"id": ...}, "id", 'is required; add "id"'),
        ({"action": "buy"}, "action", '"open" or "close" or "move_stop"'),
        ({"symbol": "SOL/USDT"}, "symbol", "e.g. SOL/USDT:USDT"),
        ({"symbol": "SOL USDT"}, "symbol", 'like "SOL/USDT:USDT"'),
        ({"symbol": ...}, "symbol", 'is required; add "symbol"'),
        ({"side": "LONG"}, "side", '"long" or "short"'),
        ({"side": "buy"}, "side", '"long" or "short"'),
        ({"entry": "market"}, "entry", 'must be an object: {"type": "market"}'),
        ({"entry": {"type": "stop"}}, "entry.type", '"market" or "limit"'),
        ({"entry": {"price": 1}}, "entry.type", 'add "type"'),
        ({"entry": {"type": "limit"}}, "entry.price", "a limit entry needs its price"),
        ({"entry": {"type": "market", "price": 75}}, "entry.price", "a market entry has no price"),
        ({"entry": {"type": "market", "tif": "gtc"}}, "entry.tif", "is not a known field; remove it"),
        ({"stop": 0}, "stop", "positive price"),
        ({"stop": -1}, "stop", "positive price"),
        ({"stop": "74,10"}, "stop", "must be a number"),
        ({"stop": "1_000"}, "stop", "must be a number"),
        ({"stop": True}, "stop", "must be a number"),
        ({"stop": [74]}, "stop", "must be a number"),
        ({"stop": "1e400"}, "stop", "below 10^15"),
        ({"stop": "0.0000000000000000001"}, "stop", "more than 18 decimal places"),
        ({"take_profit": "abc"}, "take_profit", "must be a number"),
        ({"take_profit": 70}, "take_profit", "must be above the stop 74.1 for a long"),
        ({"conviction": 11}, "conviction", "from 0 to 10"),
        ({"strength": "1.5"}, "strength", "from 0 to 1"),
        ({"setup": "tertiary"}, "setup", '"primary" or "secondary"'),
        ({"volatility": 0}, "volatility", "positive number"),
        ({"regime": "calm"}, "regime", '"trending" or "ranging" or "volatile"'),
        ({"expires_at": "2026-06-02T14:00:00"}, "expires_at", "with its zone"),
        ({"expires_at": 1780000000}, "expires_at", "ISO 8601"),
        ({"expires_at": "tomorrow"}, "expires_at", "ISO 8601"),
        ({"expires_at": "0001-01-01T00:00:00+01:00"}, "expires_at", "ISO 8601"),
        ({"expires_at": "9999-12-31T23:59:59-01:00"}, "expires_at", "ISO 8601"),
        ({"strategy": "a\nb"}, "strategy", "printable characters"),
        ({"strategy": ""}, "strategy", "printable characters"),
        ({"token": 12345}, "token", "must be a string"),
        ({"leverage": 10}, "leverage", "is not a known field; remove it"),
    ],
)
def test_each_bad_field_is_named_with_what_is_wrong_and_the_fix(
    fields: dict[str, Any], field: str, fragment: str
) -> None:
    errors = errors_of(body(**fields))
    assert field in errors, errors
    assert fragment in errors[field]


def test_limit_prices_must_bracket_the_entry_on_the_right_side() -> None:
    long_limit = {"type": "limit", "price": 75}
    assert "below the limit price 75 for a long" in errors_of(body(entry=long_limit, stop=76))["stop"]
    errors = errors_of(body(side="short", entry=long_limit, stop=76, take_profit=80))
    assert errors == {"take_profit": "must be below the limit price 75 for a short"}


def test_the_error_names_a_valid_id_so_the_sender_can_match_the_answer() -> None:
    with pytest.raises(InvalidSignal) as caught:
        SignalMessage.parse(body(side="up"))
    assert caught.value.signal_id == OPEN["id"]
    with pytest.raises(InvalidSignal) as caught:
        SignalMessage.parse(body(id="bad id", side="up"))
    assert caught.value.signal_id is None


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"[1, 2]", "is an array"),
        (b'"text"', "is a str"),
        (b"null", "is a NoneType"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"stop": NaN}', "NaN is not a JSON number"),
        (b'{"stop": Infinity}', "Infinity is not a JSON number"),
        (b'{"id": "a", "id": "b"}', 'the key "id" appears more than once'),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b'{"a": ' * 3000 + b"1" + b"}" * 3000, "nested too deeply"),
        (b" " * (MAX_BODY_BYTES + 1), f"at most {MAX_BODY_BYTES} bytes"),
        (b'{"id": ' + b"1" * 5000 + b"}", "not usable JSON"),
    ],
)
def test_hostile_bodies_give_a_body_error_not_an_exception(raw: bytes, fragment: str) -> None:
    errors = errors_of(raw)
    assert list(errors) == [BODY]
    assert fragment in errors[BODY]


def test_unknown_keys_are_shown_escaped_so_they_can_be_stored_and_logged() -> None:
    errors = errors_of(body(**{"\u0000evil": 1}))
    assert "\\u0000evil" in errors
    assert errors_of(body(**{"\ud800": 1})) == {BODY: "contains a lone surrogate escape; send valid Unicode"}


def test_a_byte_order_mark_is_tolerated() -> None:
    assert SignalMessage.parse(b"\xef\xbb\xbf" + body()).id == OPEN["id"]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_input_parses_or_raises_invalid_signal_only(raw: bytes | str) -> None:
    try:
        SignalMessage.parse(raw)
    except InvalidSignal as exc:
        assert exc.errors
        for error in exc.errors:
            error.field.encode("utf-8")
            error.message.encode("utf-8")
            assert "\x00" not in error.field + error.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
known = st.sampled_from(["id", "action", "symbol", "side", "entry", "stop", "take_profit", "expires_at"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(known | st.text(max_size=8), json_values, max_size=8))
def test_arbitrary_json_objects_parse_or_raise_invalid_signal_only(data: dict[str, Any]) -> None:
    try:
        signal = SignalMessage.parse(json.dumps(data))
    except InvalidSignal as exc:
        assert all(error.field and error.message for error in exc.errors)
    else:
        assert SignalMessage.from_object(signal.payload()) == signal


LOS_ANGELES = ZoneInfo("America/Los_Angeles")


@settings(max_examples=150, deadline=None)
@given(st.datetimes(timezones=st.none() | st.timezones()), st.sampled_from(["close", "open"]))
@example(datetime(1950, 9, 24, 1, 0, tzinfo=LOS_ANGELES), "close")  # inside a DST fold: the first 01:00
@example(datetime(1950, 9, 24, 1, 0, fold=1, tzinfo=LOS_ANGELES), "close")  # and the second one
def test_any_expiry_time_parses_to_utc_or_is_an_expires_at_error(moment: datetime, action: str) -> None:
    """The same instant, compared as instants: `==` across zones is False for any time inside a fold."""
    data = {"id": "t", "action": action, "symbol": "SOLUSDT", "expires_at": moment.isoformat()}
    try:
        signal = SignalMessage.from_object(data)
    except InvalidSignal as exc:
        assert "expires_at" in {e.field for e in exc.errors} or action == "open"
    else:
        assert signal.expires_at is not None and signal.expires_at.utcoffset() == timedelta(0)
        assert signal.expires_at == moment.astimezone(UTC)


def test_the_ingress_hands_on_the_domains_instruction_and_stores_its_payload() -> None:
    expiry = "2026-06-02T16:00:00+02:00"
    signal = SignalMessage.parse(body(token="s3cret", take_profit="80.5", expires_at=expiry))
    instruction = signal.instruction()
    assert (instruction.id, instruction.side, instruction.stop) == (OPEN["id"], Side.LONG, D("74.1"))
    assert signal.payload() == instruction.payload()
    assert Instruction.from_payload(signal.payload()) == instruction
