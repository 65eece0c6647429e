"""With a secret, the HTTP port answers only /health, /ready and self-authenticating routes to strangers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter

from executor.observability.metrics import Metrics
from executor.service.http import build_app
from executor.service.state import ServiceState
from executor.signals.auth import Authenticator, sign
from tests.support.http import serving

SECRET = "http-secret-0123456789"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    hook = APIRouter()

    @hook.post("/hook")
    async def self_authenticating() -> dict[str, str]:
        return {"seen": "yes"}

    async def report() -> dict[str, str]:
        return {"breaker": "active"}

    app = build_app(
        ServiceState(),
        routers=[hook],
        metrics=Metrics(),
        status=report,
        authenticator=Authenticator(SECRET),
        open_paths=["/hook"],
    )
    async with serving(app) as http:
        yield http


@pytest.mark.parametrize("path", ["/status", "/metrics", "/openapi.json", "/no-such-path"])
async def test_every_other_path_needs_the_secret_in_a_header(client: httpx.AsyncClient, path: str) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"X-Token": "wrong"},
        {"Authorization": "Basic x"},
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, (path, headers)
        assert response.json()["errors"][0]["field"] == "auth"
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert SECRET not in response.text
    stamp = int(time.time())
    for headers in (
        {"Authorization": f"Bearer {SECRET}"},
        {"X-Token": SECRET},
        {"X-Timestamp": str(stamp), "X-Signature": sign(SECRET, b"", stamp)},
    ):
        assert (await client.get(path, headers=headers)).status_code != 401, (path, headers)


async def test_health_ready_and_self_authenticating_routes_stay_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/ready")).status_code == 503  # not ready yet, but answered
    assert (await client.post("/hook")).json() == {"seen": "yes"}


async def test_a_right_bearer_with_a_wrong_token_header_is_refused(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {SECRET}", "X-Token": "wrong"}
    assert (await client.get("/status", headers=headers)).status_code == 401
