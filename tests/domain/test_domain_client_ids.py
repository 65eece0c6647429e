import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.domain.client_ids import (
    client_order_id,
    is_valid_for_binance,
    is_valid_for_phemex,
    kind_of,
    parse_client_order_id,
    signal_digest,
)
from executor.domain.enums import OrderKind


def test_same_signal_and_leg_give_the_same_id() -> None:
    assert client_order_id("sig-1", OrderKind.ENTRY) == client_order_id("sig-1", OrderKind.ENTRY)


def test_legs_and_sequences_of_one_signal_are_distinct() -> None:
    ids = {client_order_id("sig-1", kind, seq) for kind in OrderKind for seq in (0, 1, 999)}
    assert len(ids) == len(OrderKind) * 3


def test_client_ids_valid_and_unique_for_100000_random_signal_ids() -> None:
    rng = random.Random(20240501)
    alphabet = string.printable + "äöü€漢字"
    signal_ids: set[str] = set()
    while len(signal_ids) < 100_000:
        signal_ids.add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))))
    seen: set[str] = set()
    for signal_id in signal_ids:
        for kind in (OrderKind.ENTRY, OrderKind.STOP):
            cid = client_order_id(signal_id, kind, rng.randint(0, 999))
            assert is_valid_for_binance(cid)
            assert is_valid_for_phemex(cid)
            seen.add(cid)
    assert len(seen) == 200_000


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=200), st.sampled_from(list(OrderKind)), st.integers(0, 999))
def test_every_id_parses_back_to_its_leg_and_sequence(signal_id: str, kind: OrderKind, seq: int) -> None:
    parts = parse_client_order_id(client_order_id(signal_id, kind, seq))
    assert parts is not None
    assert (parts.signal_digest, parts.kind, parts.sequence) == (signal_digest(signal_id), kind, seq)


def test_foreign_ids_have_no_leg() -> None:
    assert kind_of("x-cvBPrNm9abcdefghijklmnopqrstuv") is None
    assert kind_of(None) is None
    assert kind_of("px-" + "a" * 24 + "-zz0") is None


def test_sequence_outside_range_is_refused() -> None:
    with pytest.raises(ValueError, match="sequence must be within"):
        client_order_id("s", OrderKind.STOP, 1000)
    with pytest.raises(ValueError, match="signal id must not be empty"):
        client_order_id("", OrderKind.STOP)


def test_binance_charset_and_length_rules() -> None:
    assert not is_valid_for_binance("a" * 37)
    assert not is_valid_for_binance("has space")
    assert is_valid_for_binance("A.b:c/d_e-f")
    assert not is_valid_for_phemex("a" * 41)
