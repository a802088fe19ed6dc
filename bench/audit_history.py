"""Latency of audit reads on a 10k-event account: history pages, chain verification, the
negotiation story and the reconstructed state. The trail mixes day closes, late fees and
contact attempts (what a long delinquency accumulates).

python bench/audit_history.py [--events 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from figures import report  # bench/figures.py: this script's folder is on sys.path

from services.audit.bootstrap import create_app
from services.registry import migrations_dir
from shared.auth import mint_dev_token
from shared.envelope import Envelope
from shared.migrations import upgrade
from shared.settings import Settings


def event(i: int, at: datetime) -> tuple[str, dict[str, Any]]:
    """The i-th event of the synthetic trail: a day close, a late fee or a contact attempt."""
    day = (at.date()).isoformat()
    if i % 3 == 0:
        balances = {"principal": 100_000, "interest": 0, "fees": 0, "late_fee": i}
        return "AccountDayClosed", {
            "business_date": day,
            "days_past_due": 40,
            "bucket": "31-60",
            "balances": balances,
            "overdue": balances,
            "deferral_months_used": 0,
        }
    if i % 3 == 1:
        return "LateFeeAccrued", {
            "bill_id": "B1",
            "currency": "CNY",
            "business_date": day,
            "amount": 50,
            "base": 100_000,
            "daily_rate": "0.0005",
        }
    return "ContactAttemptRecorded", {
        "attempt_id": f"att-{i}",
        "debt_id": "B1",
        "agency": "in-house",
        "channel": "call",
        "outcome": "no_answer",
        "at": at.isoformat(),
    }


def timed(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


async def run(n: int, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {
            "data_dir": Path(tmp),
            "auth_mode": "development",
            "audit_checkpoint_seconds": 0,
        }
        if database_url:
            overrides["database_url"] = database_url
        settings = Settings.load("audit", **overrides)
        await asyncio.to_thread(upgrade, settings, migrations_dir("audit"))
        app = create_app(settings)
        runtime = app.state.runtime
        account = f"BIG-{uuid.uuid4().hex[:6]}"
        start = datetime(2026, 1, 1, tzinfo=UTC)
        t0 = time.perf_counter()
        for first in range(0, n, 500):
            batch = []
            for i in range(first, min(first + 500, n)):
                at = start + timedelta(minutes=i)
                type_, data = event(i, at)
                batch.append(
                    Envelope(
                        id=uuid.uuid4(),
                        type=type_,
                        schema_version=1,
                        account_id=account,
                        occurred_at=at,
                        recorded_at=at,
                        source="bench",
                        data=data,
                    )
                )
            # As the consumer does with a run: one prefetch, then every event chained.
            async with runtime.uow() as uow:
                await uow.prefetch(batch)
                for env in batch:
                    await uow.append_entry(env)
                await uow.commit()
        load_s = time.perf_counter() - t0
        token = mint_dev_token(settings, role="compliance", subject="bench")
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://audit", headers=headers
            ) as client,
        ):
            pages, after, got = [], 0, 0
            while True:
                t = time.perf_counter()
                r = await client.get(
                    f"/v1/accounts/{account}/history",
                    params={"purpose": "bench", "limit": 1000, "after_seq": after},
                )
                pages.append(time.perf_counter() - t)
                body = r.json()
                got += len(body["entries"])
                if body["next_after_seq"] is None:
                    break
                after = body["next_after_seq"]
            t = time.perf_counter()
            v = await client.get(f"/v1/accounts/{account}/verify", params={"purpose": "bench"})
            verify_s = time.perf_counter() - t
            stories, states = [], []
            for _ in range(3):
                t = time.perf_counter()
                story = await client.get(
                    f"/v1/accounts/{account}/story", params={"purpose": "bench", "limit": 1000}
                )
                stories.append(time.perf_counter() - t)
                t = time.perf_counter()
                state = await client.get(
                    f"/v1/accounts/{account}/state",
                    params={"purpose": "bench", "as_of_occurred": start + timedelta(days=3)},
                )
                states.append(time.perf_counter() - t)
            assert story.status_code == 200 and state.status_code == 200, (story.text, state.text)
        assert got == n and v.json()["intact"], (got, v.text)
        return {
            "db": settings.database_url.split(":", 1)[0],
            "events": n,
            "append_events_per_s": round(n / load_s),
            "history_page_1000_ms_median": round(statistics.median(pages) * 1000, 1),
            "history_page_1000_ms_max": round(max(pages) * 1000, 1),
            "full_history_ms": round(sum(pages) * 1000),
            "verify_ms": round(verify_s * 1000),
            # The first read tells the whole trail; the repeats are served from the view
            # cache (the head has not moved), which is what a reader paging through sees.
            "story_page_1000_ms_first": round(stories[0] * 1000, 1),
            "story_page_1000_ms_cached": timed(stories[1:]),
            "state_as_of_ms_first": round(states[0] * 1000, 1),
            "state_as_of_ms_cached": timed(states[1:]),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--database-url")
    args = p.parse_args()
    report("audit_history", asyncio.run(run(args.events, args.database_url)))


if __name__ == "__main__":
    main()
