"""Parametrizations shared by the end-to-end tests (the processes themselves are in `harness.e2e`)."""

from __future__ import annotations

import pytest

DIALECTS_AND_DATABASES = pytest.mark.parametrize(
    ("family", "database"),
    [("binance", "sqlite"), ("binance", "postgresql"), ("phemex", "sqlite")],
    indirect=True,
)
"""Binance on both databases, Phemex on SQLite: every dialect and every database without the full square."""
