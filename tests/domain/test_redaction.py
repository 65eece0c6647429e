"""URL credentials are masked wherever a URL stands in a message; the rest of the URL is kept."""

from __future__ import annotations

import pytest

from executor.domain.redaction import is_credential_key, redact_url, redact_urls, url_secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@db.example/x", "postgresql://u:***@db.example/x"),
        ("postgresql+asyncpg://u:p@ss/w:rd@db:5432/x", "postgresql+asyncpg://u:***@db:5432/x"),
        ("redis://:hunter22@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://default:tok@cache?ssl_cert_reqs=none", "rediss://default:***@cache?ssl_cert_reqs=none"),
        (
            "postgresql://u@db/x?password=pw&sslmode=require",
            "postgresql://u@db/x?password=***&sslmode=require",
        ),
        ("https://hooks.example/x?token=t1;key=k1#frag", "https://hooks.example/x?token=***;key=***#frag"),
        (
            "https://a.example/?api_key=1&secret=2&signature=3",
            "https://a.example/?api_key=***&secret=***&signature=***",
        ),
        (
            "https://a.example/?X-Amz-Signature=s&sig=q&page=2",
            "https://a.example/?X-Amz-Signature=***&sig=***&page=2",
        ),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"),
        ("sqlite+aiosqlite:///var/executor.db", "sqlite+aiosqlite:///var/executor.db"),
        ("not a url", "not a url"),
        ("", ""),
    ],
)
def test_passwords_and_credential_query_values_are_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_urls(f"cannot reach '{url}' (timeout)") == f"cannot reach '{shown}' (timeout)"


def test_url_secrets_lists_each_credential_value() -> None:
    assert url_secrets("postgresql://u:pw@h/x?sslpassword=sp&token=t&a=1") == ["pw", "sp", "t"]
    assert url_secrets("https://h/x?page=2") == [] and url_secrets("plain") == []


def test_every_url_in_a_text_is_masked() -> None:
    text = "a=redis://:one@r b=https://w/?password=two c=ws://h:8765/signals"
    assert redact_urls(text) == "a=redis://:***@r b=https://w/?password=*** c=ws://h:8765/signals"


@pytest.mark.parametrize(
    "name", ["password", "PASSWD", "token", "access_token", "api_key", "apiKey", "key", "sig"]
)
def test_credential_key_names(name: str) -> None:
    assert is_credential_key(name)


@pytest.mark.parametrize("name", ["sslmode", "page", "db", "user", "timeout", "ssl_cert_reqs"])
def test_ordinary_query_names_are_kept(name: str) -> None:
    assert not is_credential_key(name)


@pytest.mark.parametrize(
    "password",
    ["p@ss", "pa/ss", "pa?ss=1", "pa#ss", "pa<ss>", "p'ss", 'p"ss', "pa ss", "p&token=x", "ü-pass"],
)
def test_a_password_with_any_character_never_survives_redact_url(password: str) -> None:
    url = f"postgresql+asyncpg://user:{password}@db.example:5432/x?sslpassword=second-secret&a=1"
    shown = redact_url(url)
    assert password not in shown and "second-secret" not in shown
    assert shown.startswith("postgresql+asyncpg://user:***@db.example:5432/x?sslpassword=***")
    assert url_secrets(url)[0] == password and "second-secret" in url_secrets(url)


def test_a_malformed_url_is_masked_on_the_safe_side() -> None:
    assert redact_url("https://host/x?email=a@b&token=t0k") == "https://host/x?email=a@b&token=***"
    assert "t0k" not in redact_url("https://host:8080/x?e=a@b&token=t0k")


def test_a_query_value_holding_a_question_mark_is_masked_whole() -> None:
    assert redact_url("https://h/x?token=ab?cd&page=2") == "https://h/x?token=***&page=2"
    assert "ab?cd" in url_secrets("https://h/x?token=ab?cd&page=2")
