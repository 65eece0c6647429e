"""Shared fixtures: a simulator on a free 127.0.0.1 port with a static price path, and ccxt clients on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from adapters.sim import SimServer
from adapters.sim.config import PhemexEnvelope
from tests.support.simkit import Control, binance_client, phemex_client, static_config


async def _serve(exchange: str) -> AsyncIterator[tuple[SimServer, str]]:
    # The unmodified ccxt client reads Phemex's by-order-id answer only in the list envelope (see
    # docs/simulator.md); tests of the default rows envelope start their own server.
    config = static_config().with_overrides(phemex_envelope=PhemexEnvelope.LIST)
    server = SimServer(config, exchange=exchange)  # type: ignore[arg-type]
    url = await server.start()
    try:
        yield server, url
    finally:
        await server.stop()


@pytest.fixture
async def binance_sim() -> AsyncIterator[tuple[SimServer, str]]:
    async for item in _serve("binance"):
        yield item


@pytest.fixture
async def phemex_sim() -> AsyncIterator[tuple[SimServer, str]]:
    async for item in _serve("phemex"):
        yield item


@pytest.fixture
async def binance(binance_sim: tuple[SimServer, str]) -> AsyncIterator[Any]:
    client = binance_client(binance_sim[1])
    await client.load_markets()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def phemex_ex(phemex_sim: tuple[SimServer, str]) -> AsyncIterator[Any]:
    client = phemex_client(phemex_sim[1])
    await client.load_markets()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def control_b(binance_sim: tuple[SimServer, str]) -> AsyncIterator[Control]:
    async with aiohttp.ClientSession() as session:
        yield Control(binance_sim[1], session)


@pytest.fixture
async def control_p(phemex_sim: tuple[SimServer, str]) -> AsyncIterator[Control]:
    async with aiohttp.ClientSession() as session:
        yield Control(phemex_sim[1], session)
