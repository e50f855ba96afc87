"""Benchmarks (`make bench`, docs/benchmarks.md). Each module runs alone as `python -m bench.X`."""

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, result: dict) -> None:
    """Write one benchmark's figures to bench/results/{name}.json (read by `python -m bench`)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
