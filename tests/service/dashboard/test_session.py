"""The dashboard's session cookie proves the secret without holding it, expires, and alone admits reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from executor.service.dashboard.session import COOKIE, FORM_HEADER, LIFETIME, Sessions

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SECRET = "session-secret-0123456789"


def test_a_cookie_is_valid_until_it_expires_and_never_contains_the_secret() -> None:
    sessions = Sessions(SECRET)
    cookie = sessions.issue(NOW)
    assert SECRET not in cookie
    assert sessions.valid(cookie, NOW + LIFETIME - timedelta(seconds=1))
    assert not sessions.valid(cookie, NOW + LIFETIME)


def test_a_new_secret_ends_every_session_and_a_forged_expiry_is_refused() -> None:
    cookie = Sessions(SECRET).issue(NOW)
    assert not Sessions("another-secret-0123456789").valid(cookie, NOW)
    expiry, _, mac = cookie.partition(".")
    assert not Sessions(SECRET).valid(f"{int(expiry) + 86400}.{mac}", NOW)
    for broken in ("", ".", "abc.def", f"{expiry}.", f"{expiry}.{mac}é", "1" * 40 + "." + mac):
        assert not Sessions(SECRET).valid(broken, NOW), broken


def test_the_cookie_alone_admits_reads_and_a_post_only_with_the_pages_header() -> None:
    sessions = Sessions(SECRET)
    cookies = {COOKIE: sessions.issue(NOW)}
    assert sessions.admits("GET", cookies, {}, NOW)
    assert not sessions.admits("POST", cookies, {}, NOW)
    assert sessions.admits("POST", cookies, {FORM_HEADER: "1"}, NOW)
    assert not sessions.admits("GET", {}, {FORM_HEADER: "1"}, NOW)


def test_there_are_no_sessions_without_a_secret() -> None:
    assert Sessions.for_secrets(()) is None
    assert isinstance(Sessions.for_secrets((SECRET,)), Sessions)
