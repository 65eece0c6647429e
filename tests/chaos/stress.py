"""The stress toolkit shared by the crash trials, fault matrix, soak, fuzzing and `bench/`.

Small pieces only: signal bodies, percentiles, aligned tables, and a process's resident memory.
The simulator and daemon processes come from `e2e.harness`; the invariants from `chaos.invariants`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def signal_json(signal_id: str, **fields: Any) -> str:
    """An `open` signal at market with a stop; any field can be replaced or added."""
    data: dict[str, Any] = {
        "id": signal_id,
        "symbol": "SOL/USDT:USDT",
        "side": "long",
        "entry": {"type": "market"},
        "stop": "140",
        "conviction": 8,
        **fields,
    }
    return json.dumps(data)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc/<pid>/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Table:
    """A markdown table whose columns line up in a terminal too."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.headers = [str(h) for h in headers]
        self.rows: list[list[str]] = []

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"{len(cells)} cells for {len(self.headers)} columns")
        self.rows.append([str(cell) for cell in cells])

    def render(self) -> str:
        widths = [max(len(row[i]) for row in [self.headers, *self.rows]) for i in range(len(self.headers))]

        def line(cells: Sequence[str]) -> str:
            return (
                "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)) + " |"
            )

        rule = "|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|"
        return "\n".join([line(self.headers), rule, *(line(row) for row in self.rows)])

    def print(self) -> None:
        print(self.render(), flush=True)
