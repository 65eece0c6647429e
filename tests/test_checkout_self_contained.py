"""A fresh clone with nothing beside it runs every test and bench: they read only files in the checkout."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Split so this file does not match its own search.
OUTSIDE = ("../" + "shared", "shared" + "/reference", '"shared" / ' + '"reference"', "ccxt" + "-fixtures")


def test_no_test_or_bench_names_a_folder_beside_the_checkout() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for folder in ("tests", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for needle in OUTSIDE
        if needle in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_the_ccxt_fixtures_are_in_the_checkout_with_their_origin() -> None:
    folder = ROOT / "tests" / "fixtures" / "ccxt"
    files = sorted(folder.glob("*.json"))
    assert [path.name for path in files] == [
        "request_phemex.json",
        "response_binanceusdm_subset.json",
        "response_phemex_swap_subset.json",
    ]
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "MIT" in readme and "github.com/ccxt/ccxt" in readme
    for path in files:
        assert json.loads(path.read_text(encoding="utf-8"))["_source"].startswith("ccxt/ccxt ")
