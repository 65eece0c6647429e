from datetime import UTC, datetime, timedelta

import aiohttp
import ccxt.async_support as ccxt
import pytest

from adapters.errors import classify, exchange_code, to_port_error
from executor.domain.enums import ExchangeFamily
from executor.ports.errors import (
    AmbiguousWriteError,
    ErrorClass,
    ErrorReason,
    ExchangeBannedError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitedError,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("exc", "reason", "error_class"),
    [
        (ccxt.RequestTimeout("binanceusdm -1007 ..."), ErrorReason.TIMEOUT, ErrorClass.AMBIGUOUS),
        (
            ccxt.ExchangeError('binanceusdm {"code":-1007,"msg":"Timeout"}'),
            ErrorReason.TIMEOUT,
            ErrorClass.AMBIGUOUS,
        ),
        (
            ccxt.OperationFailed('binanceusdm {"code":-1000,"msg":"x"}'),
            ErrorReason.UNKNOWN_STATUS,
            ErrorClass.AMBIGUOUS,
        ),
        (
            ccxt.OperationFailed('binanceusdm {"code":-1001,"msg":"x"}'),
            ErrorReason.UNKNOWN_STATUS,
            ErrorClass.AMBIGUOUS,
        ),
        (
            ccxt.OperationFailed('binanceusdm {"code":-1006,"msg":"x"}'),
            ErrorReason.UNKNOWN_STATUS,
            ErrorClass.AMBIGUOUS,
        ),
        (
            ccxt.ExchangeNotAvailable("binanceusdm 502 Bad Gateway"),
            ErrorReason.EXCHANGE_UNAVAILABLE,
            ErrorClass.AMBIGUOUS,
        ),
        (ccxt.NetworkError("reset"), ErrorReason.NETWORK, ErrorClass.AMBIGUOUS),
        (aiohttp.ServerDisconnectedError(), ErrorReason.NETWORK, ErrorClass.AMBIGUOUS),
        (TimeoutError(), ErrorReason.TIMEOUT, ErrorClass.AMBIGUOUS),
        (
            ccxt.InvalidNonce('binanceusdm {"code":-1021,"msg":"ahead"}'),
            ErrorReason.CLOCK_SKEW,
            ErrorClass.RETRYABLE,
        ),
        (  # ccxt raises BadRequest, a "definitive" class; the matching engine did not execute it
            ccxt.BadRequest('binanceusdm {"code":-5028,"msg":"Timestamp outside of the ME recvWindow."}'),
            ErrorReason.CLOCK_SKEW,
            ErrorClass.RETRYABLE,
        ),
        (
            ccxt.DDoSProtection('binanceusdm 429 Too Many Requests {"code":-1003}'),
            ErrorReason.RATE_LIMITED,
            ErrorClass.RETRYABLE,
        ),
        (
            ccxt.ExchangeError('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'),
            ErrorReason.INSUFFICIENT_FUNDS,
            ErrorClass.FINAL,
        ),
        (
            ccxt.ExchangeError('binanceusdm {"code":-4116,"msg":"ClientOrderId is duplicated."}'),
            ErrorReason.DUPLICATE_CLIENT_ID,
            ErrorClass.FINAL,
        ),
        (
            ccxt.ExchangeError('binanceusdm {"code":-2021,"msg":"Order would immediately trigger."}'),
            ErrorReason.WOULD_TRIGGER_IMMEDIATELY,
            ErrorClass.FINAL,
        ),
        (ccxt.MarginModeAlreadySet('binanceusdm {"code":-4046}'), ErrorReason.NO_CHANGE, ErrorClass.FINAL),
        (
            ccxt.AuthenticationError('binanceusdm {"code":-2015}'),
            ErrorReason.AUTHENTICATION,
            ErrorClass.FINAL,
        ),
        (
            ccxt.BadSymbol("binanceusdm does not have market symbol X"),
            ErrorReason.BAD_SYMBOL,
            ErrorClass.FINAL,
        ),
        (ccxt.ExchangeError('binanceusdm {"code":-9999,"msg":"new"}'), ErrorReason.UNKNOWN, ErrorClass.FINAL),
    ],
)
def test_binance_errors_classify_by_code_before_ccxt_type(
    exc: BaseException, reason: ErrorReason, error_class: ErrorClass
) -> None:
    result = classify(exc, ExchangeFamily.BINANCE, write=True, now=NOW)
    assert (result.reason, result.error_class) == (reason, error_class)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (11085, ErrorReason.DUPLICATE_CLIENT_ID),
        (10001, ErrorReason.DUPLICATE_CLIENT_ID),
        (10002, ErrorReason.ORDER_NOT_FOUND),
        (11001, ErrorReason.INSUFFICIENT_FUNDS),
        (11082, ErrorReason.INSUFFICIENT_FUNDS),
        (429, ErrorReason.RATE_LIMITED),
        (401, ErrorReason.AUTHENTICATION),
    ],
)
def test_phemex_json_codes_classify_even_when_ccxt_raises_plain_exchange_error(
    code: int, reason: ErrorReason
) -> None:
    exc = ccxt.ExchangeError(f'phemex {{"code":{code},"msg":"x","data":null}}')
    assert classify(exc, ExchangeFamily.PHEMEX, write=True).reason is reason


def test_ambiguity_only_exists_for_writes() -> None:
    exc = ccxt.RequestTimeout("timeout")
    assert classify(exc, ExchangeFamily.BINANCE, write=False).error_class is ErrorClass.RETRYABLE


def test_binance_418_is_a_ban_with_the_expiry_from_the_message() -> None:
    until_ms = int((NOW + timedelta(minutes=7)).timestamp() * 1000)
    exc = ccxt.DDoSProtection(
        "binanceusdm 418 I'm a teapot "
        f'{{"code":-1003,"msg":"Way too many requests; IP banned until {until_ms}."}}'
    )
    error = to_port_error(exc, ExchangeFamily.BINANCE, write=False, now=NOW)
    assert isinstance(error, ExchangeBannedError)
    assert error.until == NOW + timedelta(minutes=7)


def test_418_without_expiry_assumes_a_default_ban() -> None:
    error = to_port_error(
        ccxt.DDoSProtection("binanceusdm 418 teapot"), ExchangeFamily.BINANCE, write=False, now=NOW
    )
    assert isinstance(error, ExchangeBannedError)
    assert error.until > NOW


def test_translation_picks_the_port_exception_by_reason() -> None:
    assert isinstance(
        to_port_error(ccxt.RateLimitExceeded("x"), ExchangeFamily.BINANCE, write=True), RateLimitedError
    )
    assert isinstance(
        to_port_error(ccxt.OrderNotFound("x"), ExchangeFamily.PHEMEX, write=True), OrderNotFoundError
    )
    assert isinstance(
        to_port_error(ccxt.InsufficientFunds("x"), ExchangeFamily.PHEMEX, write=True), OrderRejectedError
    )
    assert not isinstance(
        to_port_error(ccxt.InsufficientFunds("x"), ExchangeFamily.PHEMEX, write=False), OrderRejectedError
    )
    ambiguous = AmbiguousWriteError(
        "x", classify(ccxt.RequestTimeout("t"), ExchangeFamily.BINANCE, write=True)
    )
    assert to_port_error(ambiguous, ExchangeFamily.BINANCE, write=True) is ambiguous


def test_secrets_are_redacted_from_translated_messages() -> None:
    exc = ccxt.AuthenticationError("phemex key=AKIA-SECRET-KEY sig bad SECRETSECRET")
    error = to_port_error(
        exc, ExchangeFamily.PHEMEX, write=False, secrets=["AKIA-SECRET-KEY", "SECRETSECRET"]
    )
    assert "AKIA-SECRET-KEY" not in str(error)
    assert "SECRETSECRET" not in str(error)


def test_success_codes_are_not_error_codes() -> None:
    assert exchange_code('{"code":0,"msg":""}') is None
    assert exchange_code('{"code":"200","msg":"success"}') is None
    assert exchange_code('binanceusdm {"code": -2019, "msg": "x"}') == -2019


def test_phemex_http_418_with_url_in_the_message_is_a_ban() -> None:
    exc = ccxt.DDoSProtection("phemex GET http://127.0.0.1:1/g-accounts/accountPositions 418 I'm a Teapot x")
    assert classify(exc, ExchangeFamily.PHEMEX, write=False, now=NOW).reason is ErrorReason.IP_BANNED
    exc = ccxt.RateLimitExceeded("phemex GET http://127.0.0.1:1/g-orders 429 Too Many Requests")
    assert classify(exc, ExchangeFamily.PHEMEX, write=True, now=NOW).reason is ErrorReason.RATE_LIMITED
