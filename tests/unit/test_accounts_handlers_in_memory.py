"""The inbound handler's book of closes of every account, on the in-memory unit of work:
service-layer behaviour with no database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

from services.accounts.service_layer.handlers import InboundHandler
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from shared.clock import FixedClock
from shared.envelope import Envelope, decode_envelope
from shared.events import default_catalogue
from shared.topics import Topics
from tests.fakes.accounts import AccountsStore, FakeAccountsUnitOfWork
from tests.support import bill, day_closed, opened

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
TOPICS = Topics()


async def apply(store: AccountsStore, *events: dict[str, Any]) -> None:
    """Handle each event in its own committed unit of work, as the inbound consumer does."""
    catalogue = default_catalogue()
    handler = InboundHandler(catalogue, TOPICS)
    for raw in events:
        async with FakeAccountsUnitOfWork(store, FixedClock(NOW)) as uow:
            # The fake implements what the handler uses of the SQL unit of work.
            await handler(cast(AccountsUnitOfWork, uow), catalogue.validate(decode_envelope(raw)))
            await uow.commit()


def closes(store: AccountsStore) -> list[tuple[str, str]]:
    """(account, business date) of each per-account close queued on the inbound topic."""
    queued: list[Envelope] = [env for topic, env in store.outbox if topic == TOPICS.inbound]
    return [(e.account_id, str(e.data["business_date"])) for e in queued]


async def test_a_close_of_every_account_reaches_each_opened_account_once() -> None:
    store = AccountsStore()
    await apply(store, opened("B"), opened("A"), bill("A", "B1"))
    await apply(store, day_closed("2026-03-05"))
    await apply(store, day_closed("2026-03-05"))  # another `*` close of a booked date
    assert closes(store) == [("A", "2026-03-05"), ("B", "2026-03-05")]
    assert [day for _, day in store.book] == [date(2026, 3, 5)]
    assert [e.type for e in store.streams["A"]] == ["AccountOpened", "BillIssued"]


async def test_an_account_opened_after_a_close_of_every_account_is_sent_that_close() -> None:
    store = AccountsStore()
    await apply(store, day_closed("2026-03-05"))
    assert closes(store) == []  # nobody was in the index
    await apply(store, opened("LATE"))  # opened on 1 March, before the booked close
    assert closes(store) == [("LATE", "2026-03-05")]
    assert store.index["LATE"][1] == "integrator-test"
