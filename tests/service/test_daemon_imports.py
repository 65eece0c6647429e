"""A daemon start pays only for what its configuration uses: Redis, Apprise and httpx are imported by the
ingress, notifier and webhook that need them, not by the daemon's module (each is 0.1–0.25 s)."""

from __future__ import annotations

import json
import subprocess
import sys

OPTIONAL = {"redis", "apprise", "httpx"}


def test_importing_the_daemon_loads_neither_redis_nor_apprise_nor_httpx() -> None:
    probe = "import sys, json, executor.service.daemon; print(json.dumps(sorted(sys.modules)))"
    command = [sys.executable, "-c", probe]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)

    loaded = {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}

    assert "ccxt" in loaded  # the daemon's own module was imported in earnest
    assert not loaded & OPTIONAL, sorted(loaded & OPTIONAL)
