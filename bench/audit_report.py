"""Time to generate the audit report's PDF for an account with 1,000 story lines (issue 15
item 4): the ReportLab typesetter in English and in Chinese, and, side by side in the same
run, the hand-written writer it replaced, loaded from git history when it can be.

python bench/audit_report.py [--lines 1000] [--repeat 3]

The story, the facts and the chart's points are built once; each figure is the median of
`--repeat` renders of the same content (the pure model and the typesetting; no database).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from figures import report as bench_report  # bench/figures.py (on sys.path)

from services.audit.adapters.pdf_report import ReportLabTypesetter
from services.audit.domain.report import Lang, ReportFacts, build_report
from services.audit.domain.state import over_time
from services.audit.domain.story import tell
from services.audit.domain.story_zh import tell_zh

ROOT = Path(__file__).resolve().parents[1]
OLD = ("services/audit/domain/pdf.py", "services/audit/domain/report.py")


def trail(lines: int) -> list[dict[str, Any]]:
    """An account's trail with `lines` story lines: bills, payments, late fees and closes
    (the closes, one a day, tell nothing but feed the chart)."""
    out: list[dict[str, Any]] = []
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)

    def add(type_: str, data: dict[str, Any], at: datetime) -> None:
        seq = len(out) + 1
        out.append(
            {
                "seq": seq,
                "event_id": f"00000000-0000-0000-0000-{seq:012d}",
                "type": type_,
                "schema_version": 1,
                "source": "bench",
                "occurred_at": at.isoformat(),
                "recorded_at": at.isoformat(),
                "data": data,
                "hash": f"{seq:064x}",
            }
        )

    add(
        "AccountOpened",
        {"customer_id": "c-1", "product": "consumer_credit", "currency": "CNY",
         "time_zone": "Asia/Shanghai", "customer_name": "张伟"},
        start,
    )  # fmt: skip
    told, day = 1, 0
    while told < lines:
        at = start + timedelta(days=day)
        on = (date(2026, 1, 1) + timedelta(days=day)).isoformat()
        match day % 3:
            case 0:
                add(
                    "BillIssued",
                    {"bill_id": f"B{day}", "currency": "CNY", "principal": 1_000_00 + day,
                     "interest": 12_34, "fees": 0, "issued_on": on, "due_date": on},
                    at,
                )  # fmt: skip
            case 1:
                add(
                    "PaymentReceived",
                    {"payment_id": f"P{day}", "currency": "CNY", "amount": 300_00,
                     "paid_at": at.isoformat()},
                    at,
                )  # fmt: skip
            case _:
                add(
                    "LateFeeAccrued",
                    {"bill_id": f"B{day - 2}", "currency": "CNY", "amount": 62,
                     "business_date": on, "daily_rate": "0.0005", "base": 1_234_00},
                    at,
                )  # fmt: skip
        add("AccountDayClosed", {"business_date": on, "days_past_due": day, "bucket": "1-30"}, at)
        told, day = told + 1, day + 1
    return out


def facts(entries: list[dict[str, Any]], lang: Lang) -> ReportFacts:
    return ReportFacts(
        account_id="BENCH-1",
        generated_at=datetime(2026, 6, 1, tzinfo=UTC),
        generated_by="bench",
        role="compliance",
        purpose="bench",
        entries=len(entries),
        head=(entries[-1]["seq"], entries[-1]["hash"]),
        broken=None,
        checkpoint=None,
        borrower="张伟",
        zone="Asia/Shanghai",
        lang=lang,
        currency="CNY",
    )


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    done.check_returncode()
    return done.stdout


def old_writer() -> ModuleType | None:
    """The hand-written report module as it was before ReportLab, from git; None if the
    history at hand does not have it."""
    try:
        # The newest commit that touched the old writer is the one that deleted it.
        deleted = _git("rev-list", "-1", "HEAD", "--", OLD[0]).strip()
        if not deleted:
            return None
        sources = [_git("show", f"{deleted}^:{path}") for path in OLD]
    except (OSError, subprocess.CalledProcessError):
        return None
    folder = Path(tempfile.mkdtemp(prefix="old-report-"))
    (folder / "old_pdf.py").write_text(sources[0])
    (folder / "old_report.py").write_text(
        sources[1].replace("from services.audit.domain.pdf import", "from old_pdf import")
    )
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("old_report", folder / "old_report.py")
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_report"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def timed(render: Callable[[], bytes], repeat: int) -> dict[str, float]:
    """Median wall and CPU milliseconds of `repeat` renders, and the file's size in KiB
    (CPU time too: on a machine shared with other work the wall clock says little)."""
    wall, cpu, size = [], [], 0
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        size = len(render())
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return {
        "ms": round(statistics.median(wall) * 1000, 1),
        "cpu_ms": round(statistics.median(cpu) * 1000, 1),
        "kib": round(size / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    entries = trail(args.lines)
    series = over_time(entries)
    typesetter = ReportLabTypesetter()
    figures: dict[str, Any] = {"story_lines": len(tell(entries)), "chart_points": len(series)}

    for lang, teller in (("en", tell), ("zh-CN", tell_zh)):

        def new(lang: Lang = lang, teller: Callable[..., Any] = teller) -> bytes:
            content = build_report(facts(entries, lang), teller(entries), series)
            return typesetter.render(content)

        key = lang.replace("-", "_").lower()
        for name, value in timed(new, args.repeat).items():
            figures[f"reportlab_{key}_{name}"] = value

    old = old_writer()
    if old is not None:
        old_facts = old.ReportFacts(
            account_id="BENCH-1", generated_at=datetime(2026, 6, 1, tzinfo=UTC),
            generated_by="bench", role="compliance", purpose="bench", entries=len(entries),
            head=(entries[-1]["seq"], entries[-1]["hash"]), broken=None, checkpoint=None,
        )  # fmt: skip
        for name, value in timed(
            lambda: old.report_pdf(old_facts, tell(entries)), args.repeat
        ).items():
            figures[f"old_writer_en_{name}"] = value
        figures["reportlab_en_vs_old_cpu"] = round(
            figures["reportlab_en_cpu_ms"] / figures["old_writer_en_cpu_ms"], 1
        )
    else:
        figures["old_writer"] = "not in this checkout's history"
    bench_report("audit_report", figures)


if __name__ == "__main__":
    main()
