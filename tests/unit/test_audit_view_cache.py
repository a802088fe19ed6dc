"""Story and state views reused while the account's head stands still, never after."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.audit.service_layer.view_cache import ViewCache
from shared.envelope import Envelope
from tests.support import running_stack, settings_for

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_the_cache_holds_at_most_its_capacity_in_lines_least_recently_used_out() -> None:
    cache = ViewCache(10)
    cache.put("a", "A", 4)
    cache.put("b", "B", 4)
    assert cache.get("a") == "A"  # a is now the most recently used
    cache.put("c", "C", 4)  # 12 lines > 10: b, the least recently used, goes
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    cache.put("huge", "H", 11)  # bigger than the whole cache: not kept, nothing evicted
    assert cache.get("huge") is None and len(cache) == 2
    cache.put("a", "A2", 7)  # replacing a view counts its new size only: 4 + 7 > 10
    assert cache.get("a") == "A2" and cache.get("c") is None
    assert ViewCache(0).get("x") is None


async def append(
    http: dict[str, httpx.AsyncClient], n: int, type_: str, data: dict[str, Any], at: datetime
) -> None:
    runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.uow() as uow:
        await uow.append_entry(
            Envelope(
                id=uuid.UUID(int=n),
                type=type_,
                schema_version=1,
                account_id="V1",
                occurred_at=at,
                recorded_at=START + timedelta(days=n),
                source="test",
                data=data,
            )
        )
        await uow.commit()


def dispute(n: int) -> dict[str, Any]:
    return {"debt_id": f"B{n}", "reason": f"I never borrowed this, call 1380000{n:04d}"}


async def test_a_new_entry_moves_the_head_and_the_next_read_sees_it(tmp_path: Path) -> None:
    settings = {"audit": settings_for("audit", tmp_path)}
    async with running_stack(settings) as http:
        audit = http["audit"]

        async def story(**params: Any) -> list[dict[str, Any]]:
            r = await audit.get("/v1/accounts/V1/story", params={"purpose": "case 9", **params})
            assert r.status_code == 200, r.text
            return list(r.json()["lines"])

        await append(http, 1, "DebtDisputed", dispute(1), START)
        first = await story()
        assert [x["seq"] for x in first] == [1] and await story() == first
        views = audit._transport.app.state.runtime.uow_class.views  # type: ignore[attr-defined]
        assert views.hits >= 1

        # Masked and revealed readers never share a view.
        masked, revealed = first[0]["text"], (await story(reveal=True))[0]["text"]
        assert "13800000001" not in masked and "13800000001" in revealed
        assert "13800000001" not in (await story())[0]["text"]

        await append(http, 2, "DebtDisputed", dispute(2), START + timedelta(hours=1))
        assert [x["seq"] for x in await story()] == [1, 2]

        async def state(at: datetime) -> dict[str, Any]:
            r = await audit.get(
                "/v1/accounts/V1/state",
                params={"purpose": "case 9", "as_of_occurred": at.isoformat()},
            )
            assert r.status_code == 200, r.text
            return dict(r.json())

        at = START + timedelta(days=1)
        before = await state(at)
        assert before == await state(at) and before["through"]["seq"] == 2
        # An entry that arrives later but happened before `at` changes the state as of `at`.
        await append(http, 3, "DebtDisputed", dispute(3), START + timedelta(hours=2))
        assert (await state(at))["through"]["seq"] == 3
