"""The `executor` command: one click group, each sub-command in its own module."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="perp-executor")
def main() -> None:
    """Live execution daemon for crypto perpetual futures."""


from executor.cli import breaker as _breaker_cmd  # noqa: E402
from executor.cli import config as _config_cmd  # noqa: E402
from executor.cli import db as _db_cmd  # noqa: E402
from executor.cli import explain as _explain_cmd  # noqa: E402
from executor.cli import run as _run_cmd  # noqa: E402
from executor.cli import send as _send_cmd  # noqa: E402
from executor.cli import sim as _sim_cmd  # noqa: E402
from executor.cli import size as _size_cmd  # noqa: E402
from executor.cli import status as _status_cmd  # noqa: E402

for _command in (
    _config_cmd.config,
    _db_cmd.db,
    _run_cmd.run,
    _sim_cmd.sim,
    _size_cmd.size,
    _status_cmd.status,
    _explain_cmd.explain,
    _breaker_cmd.halt,
    _breaker_cmd.resume_command,
    _send_cmd.signal_group,
):
    main.add_command(_command)
