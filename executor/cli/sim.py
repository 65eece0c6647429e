"""`executor sim`: run the exchange simulator standalone, print its base URL, serve until SIGTERM/Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from executor.cli.common import EXIT_BAD_INPUT

if TYPE_CHECKING:
    from adapters.sim import SimConfig


async def _serve(
    exchange: Literal["binance", "phemex"], host: str, port: int, config: SimConfig, state: Path, fresh: bool
) -> None:
    from adapters.sim import SimServer, SimStateError

    try:
        server = SimServer(config, exchange=exchange, state_path=state, fresh=fresh)
    except SimStateError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    url = await server.start(host=host, port=port)
    click.echo(url)
    try:
        await stop.wait()
    finally:
        await server.stop()


@click.command("sim")
@click.option("--exchange", type=click.Choice(["binance", "phemex"]), required=True, help="Dialect.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=0, show_default=True, help="Port (0 picks a free one).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TOML merged over config/sim/*.toml.",
)
@click.option("--seed", type=int, default=None, help="Seed for the price path and fault probabilities.")
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="State file kept across restarts  [default: var/sim-EXCHANGE.json]",
)
@click.option("--fresh", is_flag=True, help="Start over: ignore the state file and replace it.")
def sim(
    exchange: str,
    host: str,
    port: int,
    config_file: Path | None,
    seed: int | None,
    state: Path | None,
    fresh: bool,
) -> None:
    """Run the local exchange simulator; prints its base URL on one line."""
    from adapters.sim import SimConfigError, load_sim_config
    from executor.config.paths import config_dir

    try:
        config = load_sim_config(config_file, defaults_dir=config_dir() / "sim")
    except SimConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)
    if seed is not None:
        config = config.with_overrides(seed=seed)
    with contextlib.suppress(KeyboardInterrupt):
        state = state or Path("var") / f"sim-{exchange}.json"
        asyncio.run(_serve(exchange, host, port, config, state, fresh))  # type: ignore[arg-type]
