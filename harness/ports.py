"""Free loopback ports for the processes a test starts, disjoint between pytest-xdist workers.

Ports come from below the kernel's ephemeral range (32768 and up on Linux), so no `bind(0)` anywhere
lands on one, and from a block of their own per worker (`PYTEST_XDIST_WORKER=gwN`), taken in turn from
a random start: a daemon restarted on the port it was given does not find it handed to another test of
the same run, and two runs on one machine (two checkouts) do not walk the same sequence.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

BASE = 10_000
BLOCK = 3_500
WORKER_BLOCKS = 6
_turn = itertools.count(random.randrange(BLOCK))


def worker_number() -> int:
    """This process's pytest-xdist worker number (0 outside xdist)."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw") or 0)


def free_port() -> int:
    """The next port of this worker's block that nothing is listening on."""
    start = BASE + (worker_number() % WORKER_BLOCKS) * BLOCK
    for _ in range(BLOCK):
        port = start + next(_turn) % BLOCK
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}..{start + BLOCK - 1}")
