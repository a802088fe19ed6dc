"""Contact handlers: react to the accounts service's events."""

from __future__ import annotations

from datetime import date

from services.contact.service_layer.unit_of_work import ContactUnitOfWork, stream_id
from shared.catalogue import new_envelope
from shared.envelope import Envelope
from shared.topics import Topics

SOURCE = "contact"


class AccountsEventHandler:
    """Opens a collection case when an account goes overdue."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics

    async def __call__(self, uow: ContactUnitOfWork, env: Envelope) -> None:
        if env.type != "BillBecameOverdue":
            return
        case_file = await uow.case_file(env.account_id)
        opened = case_file.on_overdue(
            env.data["bill_id"], date.fromisoformat(env.data["business_date"])
        )
        if opened is None:
            return
        event = new_envelope(
            opened,
            account_id=env.account_id,
            occurred_at=env.occurred_at,
            recorded_at=uow.now,
            source=SOURCE,
            cause=env,
        )
        await uow.record(
            stream_id(env.account_id), case_file.version, [event], self._topics.contact
        )
