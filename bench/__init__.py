"""Benchmarks of LabelOps; ``python -m bench`` runs them (see bench/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def append_run(name: str, run: dict[str, Any]) -> Path:
    """Append one run to ``bench/results/<name>.json`` (a list of runs); returns the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(run)
    path.write_text(json.dumps(runs, indent=2, default=str) + "\n")
    return path
