"""How a bench script reports: its figures as a JSON line, and a `BENCH` line for bench/table.py."""

from __future__ import annotations

import json
import resource
from typing import Any

PREFIX = "BENCH "


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_line(bench: str, figures: dict[str, Any], rss_mib: float | None = None) -> None:
    """One line that bench/table.py collects into the table of every bench."""
    rss = peak_rss_mib() if rss_mib is None else rss_mib
    print(PREFIX + json.dumps({"bench": bench, "figures": figures, "peak_rss_mib": rss}))


def report(bench: str, figures: dict[str, Any]) -> None:
    """A bench's figures for a person (one JSON line), then its `BENCH` line."""
    print(json.dumps(figures))
    bench_line(bench, figures)
