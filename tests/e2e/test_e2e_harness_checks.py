"""The harness's request-log invariant must be able to fail: it is what the fault and crash tests rest on."""

from __future__ import annotations

from typing import Any

from harness.e2e import order_sent_twice

CID = "px-abcdefghijklmnopqrstuvwx-en0"


def create(seq: int, fault: str | None = None, status: int | None = 200) -> dict[str, Any]:
    return {
        "seq": seq,
        "method": "POST",
        "path": "/fapi/v1/order",
        "params": {"newClientOrderId": CID},
        "fault": fault,
        "status": status,
    }


def lookup(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "method": "GET",
        "path": "/fapi/v1/order",
        "params": {"origClientOrderId": CID},
        "fault": None,
        "status": 400,
    }


def test_one_executed_create_is_clean() -> None:
    assert order_sent_twice([create(1)], "binance") == []


def test_two_executed_creates_of_one_client_id_are_flagged() -> None:
    assert order_sent_twice([create(1), lookup(2), create(3)], "binance") == [f"{CID} executed 2 times"]


def test_a_dropped_after_execution_create_counts_as_executed() -> None:
    problems = order_sent_twice([create(1, "drop_after", None), lookup(2), create(3)], "binance")
    assert problems == [f"{CID} executed 2 times"]


def test_a_resend_after_an_unknown_outcome_needs_a_lookup_in_between() -> None:
    blind = order_sent_twice([create(1, "error_5xx", 503), create(2)], "binance")
    looked_up = order_sent_twice([create(1, "error_5xx", 503), lookup(2), create(3)], "binance")
    assert blind == [f"{CID} resent (seq 2) without a lookup after an unknown outcome"]
    assert looked_up == []


def test_a_resend_after_a_definite_refusal_needs_no_lookup() -> None:
    assert order_sent_twice([create(1, "rate_limit", 429), create(2)], "binance") == []


def test_a_late_delayed_duplicate_refused_by_the_exchange_is_not_a_second_execution() -> None:
    requests = [create(1, "delay", 400), lookup(2), create(3)]
    assert order_sent_twice(requests, "binance") == []


def test_a_late_execution_counts_as_executed_only_when_its_window_allowed_it() -> None:
    landed = order_sent_twice([create(1, "execute_late", 200), lookup(2), create(3)], "binance")
    refused = order_sent_twice([create(1, "execute_late", 400), lookup(2), create(3)], "binance")
    assert landed == [f"{CID} executed 2 times"] and refused == []
