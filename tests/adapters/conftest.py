"""Make `adapters` the real package under pytest.

tests/ is on sys.path (tests/conftest.py, rootdir import mode), so `adapters.sim` would otherwise resolve
to tests/adapters/sim as a namespace package; putting the checkout root first fixes that, as a
`pythonpath = ["."]` pytest setting would.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
