"""`executor health`: is the daemon configured here alive? The container's HEALTHCHECK.

It asks `/health` on the configured `ingress.http` (whatever port the configuration says, a wildcard bind
asked on loopback), so the check follows the configuration instead of a fixed port.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

import click

from executor.cli.common import config_option, settings_or_exit
from executor.cli.status import local_url

TIMEOUT_SECONDS = 2.0
EXIT_UNHEALTHY = 1


@click.command()
@config_option
def health(config_path: Path | None) -> None:
    """Exit 0 when the daemon's /health answers 200 on ingress.http, else 1 with the reason."""
    url = local_url("http", settings_or_exit(config_path, logs=False).ingress.http, "/health")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        click.echo(f"unhealthy: no answer at {url} ({type(reason).__name__})", err=True)
        sys.exit(EXIT_UNHEALTHY)
    if status != 200:
        click.echo(f"unhealthy: {url} answered HTTP {status}", err=True)
        sys.exit(EXIT_UNHEALTHY)
    click.echo(f"healthy: {url}")
