from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from executor.config.binding import is_loopback
from executor.signals.auth import (
    Authenticator,
    AuthMethod,
    Credentials,
    InsecureBind,
    Unauthorized,
    ensure_safe_bind,
    sign,
)

SECRET = "ingress-secret-0123456789"
NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
BODY = b'{"id": "x"}'
AUTH = Authenticator(SecretStr(SECRET), replay_window_seconds=300)


def signed(body: bytes = BODY, ts: int = TS, secret: str = SECRET) -> Credentials:
    return Credentials(signature=sign(secret, body, ts), timestamp=str(ts))


def test_signature_is_hex_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, TS) == expected


def test_a_correct_signature_within_the_window_authenticates() -> None:
    assert AUTH.check_headers(BODY, signed(), NOW) is AuthMethod.SIGNATURE
    assert AUTH.check_headers(BODY, signed(ts=TS - 299), NOW) is AuthMethod.SIGNATURE
    upper = Credentials(signature="sha256=" + sign(SECRET, BODY, TS).upper(), timestamp=str(TS))
    assert AUTH.check_headers(BODY, upper, NOW) is AuthMethod.SIGNATURE


@pytest.mark.parametrize(
    ("credentials", "fragment"),
    [
        (signed(secret="other-secret"), "X-Signature does not match"),
        (signed(body=b'{"id": "y"}'), "X-Signature does not match"),
        (signed(ts=TS - 301), "outside the 300 s replay window"),
        (signed(ts=TS + 301), "outside the 300 s replay window"),
        (Credentials(signature=sign(SECRET, BODY, TS), timestamp="1.7e9"), "unix time in whole seconds"),
        (Credentials(signature=sign(SECRET, BODY, TS), timestamp="٣٣٣"), "unix time in whole seconds"),
        (Credentials(signature=sign(SECRET, BODY, TS)), "send both X-Signature and X-Timestamp"),
        (Credentials(timestamp=str(TS)), "send both X-Signature and X-Timestamp"),
        (Credentials(signature="zzz\u00e9\u2603", timestamp=str(TS)), "X-Signature does not match"),
        (Credentials(bearer="wrong"), "the Bearer token is wrong"),
        (Credentials(bearer=""), "the Bearer token is wrong"),
    ],
)
def test_wrong_stale_or_partial_credentials_are_refused(credentials: Credentials, fragment: str) -> None:
    with pytest.raises(Unauthorized, match=fragment):
        AUTH.check_headers(BODY, credentials, NOW)


def test_without_header_credentials_only_a_body_token_can_authenticate() -> None:
    assert AUTH.check_headers(BODY, Credentials(), NOW) is None
    AUTH.check_token(SECRET)
    with pytest.raises(Unauthorized, match="the token is wrong"):
        AUTH.check_token(SECRET + "x")
    with pytest.raises(Unauthorized, match='put the secret in a "token" field'):
        AUTH.check_token(None)


def test_bearer_and_trusted_transports() -> None:
    assert AUTH.check_headers(BODY, Credentials(bearer=SECRET), NOW) is AuthMethod.BEARER
    assert AUTH.check_headers(BODY, Credentials(trusted=True), NOW) is AuthMethod.TRUSTED
    with pytest.raises(Unauthorized, match="Bearer <secret>"):
        AUTH.check_bearer(None)


def test_no_secret_means_open_and_every_check_passes() -> None:
    open_auth = Authenticator(None)
    assert not open_auth.required and Authenticator(SecretStr("")).required is False
    assert open_auth.check_headers(BODY, Credentials(signature="junk"), NOW) is AuthMethod.OPEN
    open_auth.check_bearer(None)
    open_auth.check_token(None)


def test_credentials_from_headers_parse_bearer_case_insensitively() -> None:
    assert Credentials.from_headers({"Authorization": "bearer  abc "}).bearer == "abc"
    assert Credentials.from_headers({"Authorization": "Basic abc"}).bearer == ""
    parsed = Credentials.from_headers({"X-Signature": "ab", "X-Timestamp": "1"})
    assert (parsed.signature, parsed.timestamp, parsed.bearer) == ("ab", "1", None)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "address", ["0.0.0.0:8765", "[::]:8080", "192.168.1.5:8080", "example.org:80", ":80"]
)
def test_no_secret_and_a_non_loopback_bind_is_refused_with_the_fix(address: str) -> None:
    with pytest.raises(InsecureBind, match="Set EXECUTOR__INGRESS__SECRET") as caught:
        ensure_safe_bind(address, False, "ingress.websocket")
    assert "ingress.websocket" in str(caught.value) and "bind ingress.websocket to 127.0.0.1" in str(
        caught.value
    )
    ensure_safe_bind(address, True, "ingress.websocket")
    with pytest.raises(InsecureBind):
        ensure_safe_bind(address, Authenticator(SecretStr("")).required, "ingress.http")


def test_no_secret_on_loopback_is_allowed() -> None:
    ensure_safe_bind("127.0.0.1:0", False, "ingress.http")
    ensure_safe_bind("[::1]:8080", False, "ingress.http")


def test_window_edges_follow_the_clock_not_the_wall() -> None:
    later = NOW + timedelta(hours=1)
    with pytest.raises(Unauthorized, match="3600 s from the server's clock"):
        AUTH.check_headers(BODY, signed(), later)


@pytest.mark.parametrize(
    ("credentials", "fragment"),
    [
        (
            Credentials(signature=sign(SECRET, BODY, TS), timestamp=str(TS), bearer="wrong"),
            "Bearer token is wrong",
        ),
        (
            Credentials(signature=sign(SECRET, BODY, TS), timestamp=str(TS), token="wrong"),
            "X-Token header is wrong",
        ),
        (Credentials(bearer=SECRET, token="wrong"), "X-Token header is wrong"),
        (Credentials(bearer="wrong", token=SECRET), "Bearer token is wrong"),
        (Credentials(bearer=SECRET, signature="bad", timestamp=str(TS)), "X-Signature does not match"),
    ],
)
def test_one_right_credential_never_excuses_a_wrong_one_beside_it(
    credentials: Credentials, fragment: str
) -> None:
    with pytest.raises(Unauthorized, match=fragment):
        AUTH.check_headers(BODY, credentials, NOW)


def test_the_token_header_authenticates_like_the_bearer_header() -> None:
    assert Credentials.from_headers({"X-Token": SECRET}).token == SECRET
    assert AUTH.check_headers(BODY, Credentials(token=SECRET), NOW) is AuthMethod.TOKEN
    both = Credentials(bearer=SECRET, token=SECRET)
    assert AUTH.check_headers(BODY, both, NOW) is AuthMethod.BEARER


def test_a_request_without_a_body_needs_a_header_credential() -> None:
    AUTH.check_request(Credentials(bearer=SECRET), NOW)
    AUTH.check_request(Credentials(token=SECRET), NOW)
    with pytest.raises(Unauthorized, match="only /health and /ready answer without it"):
        AUTH.check_request(Credentials(), NOW)
    with pytest.raises(Unauthorized, match="Bearer token is wrong"):
        AUTH.check_request(Credentials(bearer=SECRET + "x"), NOW)
    Authenticator(None).check_request(Credentials(), NOW)
