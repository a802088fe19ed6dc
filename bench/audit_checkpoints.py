"""Latency of comparing the database with the published checkpoints, with ~170 of them
(issue 11 item 10): the first comparison, the next one (incremental: only what was
published since), a forced full one, and one after a single new checkpoint.

python bench/audit_checkpoints.py [--checkpoints 170] [--accounts 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from inbound import serving  # bench/inbound.py (on sys.path)

from services.audit.bootstrap import create_app
from services.audit.service_layer.checkpoints import make_checkpoint, publish, published_path
from services.registry import migrations_dir
from shared.envelope import Envelope
from shared.migrations import upgrade
from shared.settings import Settings


async def run(checkpoints: int, accounts: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(
            "audit", data_dir=Path(tmp), auth_mode="development", audit_checkpoint_seconds=0
        )
        await asyncio.to_thread(upgrade, settings, migrations_dir("audit"))
        app = create_app(settings)
        runtime = app.state.runtime
        key = app.state.signing_key
        start = datetime(2026, 1, 1, tzinfo=UTC)

        async def grow(i: int) -> None:
            # One more event on one account, then a checkpoint published over every head.
            async with runtime.uow() as uow:
                await uow.append_entry(
                    Envelope(
                        id=uuid.uuid4(),
                        type="PlanCompleted",
                        schema_version=1,
                        account_id=f"A{i % accounts:04d}",
                        occurred_at=start + timedelta(minutes=i),
                        source="bench",
                        data={"plan_id": f"PL{i}"},
                    )
                )
                checkpoint = await make_checkpoint(uow, key)
                await uow.commit()
            publish(published_path(settings), checkpoint)

        for i in range(max(accounts, checkpoints)):
            await grow(i)
        out: dict[str, Any] = {"checkpoints": max(accounts, checkpoints), "accounts": accounts}
        async with serving(app, settings, role="compliance") as client:

            async def compare(label: str, **params: Any) -> None:
                t = time.perf_counter()
                r = await client.get(
                    "/v1/checkpoints/published/compare", params={"purpose": "bench", **params}
                )
                out[f"{label}_s"] = round(time.perf_counter() - t, 3)
                assert r.status_code == 200 and r.json()["consistent"], r.text

            await compare("first")
            await compare("again")
            await compare("forced_full", full="true")
            await grow(10_000)
            await compare("after_one_more")
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoints", type=int, default=170)
    p.add_argument("--accounts", type=int, default=60)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args.checkpoints, args.accounts))))


if __name__ == "__main__":
    main()
