"""A browser's way in: `/` without a session leads to the login form, the secret there sets a session
cookie that opens the page and the reads, and a POST needs the page's header beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import APIRouter

from executor.service.access import LOGIN_PATH
from executor.service.dashboard.charts import Chart
from executor.service.dashboard.routes import LOGOUT_PATH, dashboard_router
from executor.service.dashboard.session import COOKIE, FORM_HEADER, Sessions
from executor.service.dashboard.view import BreakerView, Dashboard, Health
from executor.service.http import build_app
from executor.service.state import ServiceState
from executor.signals.auth import Authenticator
from tests.support.http import serving

SECRET = "login-secret-0123456789"
NO_CHART = Chart("", "", "", "", "", None)


async def empty_page() -> Dashboard:
    breaker = BreakerView(
        status="active", reason=None, tripped_at=None, resets_at=None, trading_day="2026-11-29",
        loss="profit 0.00", limit="300.00", used_pct=0.0, basis="equity", enabled=True, equity="10,000.00",
        paused=False, paused_by=None, pause_note=None,
    )  # fmt: skip
    health = Health(True, None, {"database": "ok"}, "sim-binance (paper)", 0.5, None)
    return Dashboard(
        "main", "handbook", "now", breaker, health, [], [], [], [], today=NO_CHART, month=NO_CHART
    )


async def serve(
    secret: str | None, reports: Path | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> AsyncIterator[httpx.AsyncClient]:
    probe = APIRouter()

    @probe.post("/probe")
    async def post_probe() -> dict[str, str]:
        return {"done": "yes"}

    async def report() -> dict[str, str]:
        return {"breaker": "active"}

    authenticator = Authenticator(secret)
    app = build_app(
        ServiceState(),
        routers=[probe, dashboard_router(empty_page, authenticator, clock, reports)],
        status=report,
        authenticator=authenticator,
        open_paths=[LOGIN_PATH, LOGOUT_PATH],
        sessions=Sessions.for_secrets(authenticator.secrets),
    )
    async with serving(app) as http:
        yield http


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    (tmp_path / "2026-06-02.html").write_text("<p>the day</p>")
    (tmp_path / "notes.txt").write_text("not a report")
    return tmp_path


@pytest.fixture
async def client(reports: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for http in serve(SECRET, reports):
        yield http


@pytest.fixture
async def open_client() -> AsyncIterator[httpx.AsyncClient]:
    async for http in serve(None):
        yield http


async def sign_in(client: httpx.AsyncClient, secret: str = SECRET, then: str = "/") -> httpx.Response:
    form = urlencode({"secret": secret, "next": then})
    return await client.post(
        LOGIN_PATH, content=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


async def test_a_browser_without_a_session_is_sent_to_the_login_form_and_an_api_client_gets_401(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert (page.status_code, page.headers["location"]) == (303, f"{LOGIN_PATH}?next=/")
    assert (await client.get("/")).status_code == 401
    form = await client.get(LOGIN_PATH)
    assert form.status_code == 200 and 'name="secret"' in form.text


async def test_the_wrong_secret_is_refused_without_a_cookie_and_the_right_one_sets_a_strict_httponly_cookie(
    client: httpx.AsyncClient,
) -> None:
    refused = await sign_in(client, "wrong")
    assert refused.status_code == 401 and COOKIE not in refused.cookies and "wrong" not in refused.text
    accepted = await sign_in(client)
    assert (accepted.status_code, accepted.headers["location"]) == (303, "/")
    cookie = accepted.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and SECRET not in cookie
    page = await client.get("/")
    assert page.status_code == 200 and "Open positions" in page.text
    assert (await client.get("/status")).json() == {"breaker": "active"}


async def test_with_a_session_a_post_needs_the_pages_header_and_a_wrong_header_credential_still_refuses(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client)
    assert (await client.post("/probe")).status_code == 401
    assert (await client.post("/probe", headers={FORM_HEADER: "1"})).json() == {"done": "yes"}
    assert (await client.get("/", headers={"Authorization": "Bearer wrong"})).status_code == 401


async def test_signing_out_ends_the_session(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    out = await client.post(LOGOUT_PATH)
    assert (out.status_code, out.headers["location"]) == (303, LOGIN_PATH)
    assert (await client.get("/")).status_code == 401


async def test_without_a_secret_the_page_is_open_and_the_login_form_leads_to_it(
    open_client: httpx.AsyncClient,
) -> None:
    assert (await open_client.get("/")).status_code == 200
    assert (await open_client.get(LOGIN_PATH)).headers["location"] == "/"
    assert "Sign out" not in (await open_client.get("/")).text


async def test_a_report_link_followed_without_a_session_leads_back_to_the_report_after_signing_in(
    client: httpx.AsyncClient,
) -> None:
    link = "/reports/2026-06-02.html"
    page = await client.get(link, headers={"Accept": "text/html"})
    assert page.headers["location"] == f"{LOGIN_PATH}?next={link}"
    assert f'value="{link}"' in (await client.get(page.headers["location"])).text
    signed = await sign_in(client, then=link)
    assert signed.headers["location"] == link
    report = await client.get(link)
    assert (report.status_code, report.text) == (200, "<p>the day</p>")
    assert report.headers["content-type"].startswith("text/html")


async def test_only_report_files_are_served_and_signing_in_never_leads_off_the_server(
    client: httpx.AsyncClient,
) -> None:
    assert (await sign_in(client, then="//elsewhere.example/x")).headers["location"] == "/"
    for name in ("notes.txt", "2026-06-03.html", "..%2F..%2Fetc%2Fpasswd"):
        assert (await client.get(f"/reports/{name}")).status_code == 404, name


async def test_after_five_wrong_secrets_in_a_minute_login_answers_429_with_retry_after_until_it_passes() -> (
    None
):
    # The throttle's clock is stepped; the session it then issues is checked on the real clock, so the steps
    # start from now (a fixed day made this test fail once that day's session lifetime had passed).
    now = [datetime.now(UTC)]
    async for client in serve(SECRET, clock=lambda: now[0]):
        for _ in range(5):
            assert (await sign_in(client, "guess")).status_code == 401
        now[0] += timedelta(seconds=20)
        limited = await sign_in(client)  # even the right secret: else the limit would reveal it
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "40")
        assert COOKIE not in limited.cookies and "try again in 40 s" in limited.text
        assert (await client.get("/")).status_code == 401
        now[0] += timedelta(seconds=40)
        assert (await sign_in(client)).status_code == 303
        assert (await client.get("/")).status_code == 200
