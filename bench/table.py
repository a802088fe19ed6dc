"""Runs bench scripts one after another, passing their output through, then prints one table
of every figure they reported on a `BENCH` line, with each bench's peak RSS.

    python bench/table.py bench/pipeline.py "bench/day_close.py --accounts 500" ...
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from typing import Any

from figures import PREFIX  # bench/figures.py: this script's folder is on sys.path


def leaves(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested figures as (dotted name, value) pairs, e.g. quote_ms.p95."""
    out: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if isinstance(value, dict):
            out.extend(leaves(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def run(command: str) -> tuple[int, list[dict[str, Any]]]:
    """One bench script's exit status and BENCH lines; its other output goes to ours."""
    print(f"== {command}", flush=True)
    proc = subprocess.Popen(
        [sys.executable, *shlex.split(command)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    found = []
    for line in proc.stdout:
        if line.startswith(PREFIX):
            found.append(json.loads(line[len(PREFIX) :]))
        else:
            print(line, end="", flush=True)
    return proc.wait(), found


def table(reports: list[dict[str, Any]]) -> str:
    rows = [("bench", "figure", "value", "peak RSS MiB")]
    for r in reports:
        pairs = leaves(r["figures"])
        # Text figures (database, log) describe the setup: they go beside the bench's name.
        setup = ", ".join(dict.fromkeys(v for _, v in pairs if isinstance(v, str)))
        name = f"{r['bench']} ({setup})" if setup else r["bench"]
        numbers = [(k, v) for k, v in pairs if not isinstance(v, str)]
        for i, (key, value) in enumerate(numbers):
            label, rss = (name, str(r["peak_rss_mib"])) if i == 0 else ("", "")
            rows.append((label, key, str(value), rss))
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    cells = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines = [line.rstrip() for line in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    failed, reports = [], []
    for command in sys.argv[1:]:
        status, found = run(command)
        reports.extend(found)
        if status:
            failed.append(command)
    print()
    print(table(reports))
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
