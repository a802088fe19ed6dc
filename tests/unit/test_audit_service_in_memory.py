"""Audit's service layer on the in-memory unit of work: chaining, erasure and reading the
whole trail with no database."""

from __future__ import annotations

import pytest

from services.audit.service_layer import views
from services.audit.service_layer.erasure import RetentionNotOver, erase_personal_data
from shared.auth import Principal
from shared.clock import FixedClock
from shared.events import default_catalogue
from tests.contract.audit_contract import NOW, chain, event
from tests.fakes.audit import AuditStore, FakeAuditUnitOfWork

OFFICER = Principal(subject="dpo", role="compliance")


class OrderedUnitOfWork(FakeAuditUnitOfWork):
    order_topic = "arrears.audit"


def units(store: AuditStore) -> OrderedUnitOfWork:
    return OrderedUnitOfWork(store, default_catalogue(), FixedClock(NOW))


async def test_erasure_waits_for_retention_then_leaves_a_verifiable_frozen_trail() -> None:
    store = AuditStore()
    await chain(lambda: units(store), event(1, personal=True), event(2))
    async with units(store) as uow:
        with pytest.raises(RetentionNotOver):
            await erase_personal_data(uow, "A1", by=OFFICER, reason="asked", retention_days=30)
    async with units(store) as uow:
        erased = await erase_personal_data(uow, "A1", by=OFFICER, reason="asked", retention_days=1)
        await uow.commit()
    assert (erased.values_erased, erased.seq) == (1, 3)
    assert store.values == [] and "A1" not in store.keys
    assert [row["type"] for row in store.frozen["A1"]] == [
        "DebtDisputed",
        "LateFeeAccrued",
        "PersonalDataErased",
    ]
    async with units(store) as uow:
        assert await uow.trail.verify("A1") is None


async def test_the_whole_trail_is_read_page_by_page_and_its_order_is_published(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "PAGE", 2)
    store = AuditStore()
    await chain(lambda: units(store), *(event(n) for n in range(1, 6)))
    async with units(store) as uow:
        trail = await views.whole_trail(uow, "A1")
    assert [e["seq"] for e in trail] == [1, 2, 3, 4, 5]
    ((topic, fact),) = store.outbox
    assert topic == "arrears.audit" and fact.type == "TrailChained"
    assert [e["seq"] for e in fact.data["entries"]] == [1, 2, 3, 4, 5]
