"""Dated benchmark results: ``benchmarks/results/<name>-<YYYY-MM-DD>.json``, so a regression shows across commits."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save_result(name: str, result: dict, date: str | None = None) -> Path:
    """Write ``result`` as JSON to ``results/<name>-<date>.json`` (date: today) and say where."""
    date = date or dt.date.today().isoformat()
    dest = RESULTS / f"{name}-{date}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"saved {dest.relative_to(RESULTS.parents[1])}")
    return dest
