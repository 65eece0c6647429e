"""`GET /` (the page), `GET /reports/DAY.html|png` (the daily reports), `GET|POST /login`, `POST /logout`.

The page is rendered on the server with Jinja2 from the view in view.py; its stylesheet and its one small
script are inlined, so it loads nothing from anywhere (it works offline). The pause, unpause and close
buttons post to the existing operator routes (executor/service/controls.py) after a confirmation.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from executor.observability.logging import get_logger
from executor.service.access import LOGIN_PATH
from executor.service.dashboard.session import COOKIE, FORM_HEADER, LIFETIME, Sessions
from executor.service.dashboard.throttle import LoginThrottle
from executor.service.dashboard.view import Dashboard
from executor.signals.auth import Authenticator, Unauthorized

log = get_logger("executor.service.dashboard")

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
MAX_LOGIN_BODY = 4096
REPORT_FILE = re.compile(r"\d{4}-\d{2}-\d{2}\.(html|png)")
LOGOUT_PATH = "/logout"


def render(name: str, **context: object) -> str:
    return TEMPLATES.get_template(name).render(form_header=FORM_HEADER, **context)


def _next(value: str | None) -> str:
    """Where to go after signing in: a path on this server only (never `//elsewhere`), else the page."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refusal(
    authenticator: Authenticator,
    throttle: LoginThrottle,
    client: str,
    now: datetime,
    secret: str,
    target: str,
) -> HTMLResponse | None:
    """The login form again (429 while `client` is throttled, 401 for a wrong secret), or None: signed in."""
    wait = throttle.retry_after(client, now)
    if wait is not None:
        log.warning("dashboard_login_throttled", client=client, retry_after=wait)
        error = f"Too many wrong secrets from this address: try again in {wait} s."
        page = render("login.html", error=error, next=target)
        return HTMLResponse(page, status_code=429, headers={"Retry-After": str(wait)})
    try:
        authenticator.check_token(secret)
    except Unauthorized:
        throttle.failed(client, now)
        log.warning("dashboard_login_refused", client=client)
        return HTMLResponse(
            render("login.html", error="That is not the secret.", next=target), status_code=401
        )
    throttle.succeeded(client)
    return None


def dashboard_router(
    build: Callable[[], Awaitable[Dashboard]],
    authenticator: Authenticator,
    clock: Callable[[], datetime],
    reports_dir: Path | None = None,
    throttle: LoginThrottle | None = None,
) -> APIRouter:
    """The page built by `build`, and the daily reports in `reports_dir`; with a secret, /login trades
    it for a session cookie, wrong secrets limited per address by `throttle` (throttle.py)."""
    router = APIRouter()
    sessions = Sessions.for_secrets(authenticator.secrets)
    throttle = throttle or LoginThrottle()

    @router.get("/", response_class=HTMLResponse, responses={200: {"description": "the operator's page"}})
    async def page() -> HTMLResponse:
        """The dashboard: breaker, equity, positions, orders, recent signals, health, pause and close."""
        return HTMLResponse(render("dashboard.html", view=await build(), signed_in=sessions is not None))

    @router.get("/reports/{name}", include_in_schema=False)
    async def report_file(name: str) -> Response:
        """A daily report (DAY.html) or its chart (DAY.png), from the rollover or `executor report`."""
        path = None if reports_dir is None else reports_dir / name
        if path is None or not REPORT_FILE.fullmatch(name) or not path.is_file():
            return JSONResponse({"error": f"no report {name!r}"}, status_code=404)
        return FileResponse(path)

    @router.get(LOGIN_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def login_form(next: str | None = None) -> Response:
        if sessions is None:
            return RedirectResponse(_next(next), status_code=303)
        return HTMLResponse(render("login.html", error=None, next=_next(next)))

    @router.post(LOGIN_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request) -> Response:
        if sessions is None:
            return RedirectResponse("/", status_code=303)
        body = await request.body()
        form = parse_qs(body[:MAX_LOGIN_BODY].decode("utf-8", "replace"))
        secret, target = form.get("secret", [""])[0], _next(form.get("next", ["/"])[0])
        refused = _refusal(authenticator, throttle, _address(request), clock(), secret, target)
        if refused is not None:
            return refused
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            sessions.issue(clock()),
            max_age=int(LIFETIME.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post(LOGOUT_PATH, include_in_schema=False)
    async def logout() -> Response:
        response = RedirectResponse(LOGIN_PATH if sessions else "/", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    return router
