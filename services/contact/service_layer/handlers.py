"""Contact handlers: react to the accounts service's events."""

from __future__ import annotations

from datetime import date

from services.contact.domain.model import CloseReason
from services.contact.service_layer.unit_of_work import ContactUnitOfWork, stream_id
from shared.catalogue import EventData, new_envelope
from shared.envelope import Envelope
from shared.topics import Topics

SOURCE = "contact"
# Accounts' facts that end a collection case, and the reason each gives.
SETTLED: dict[str, CloseReason] = {
    "AccountCured": "cured",
    "AccountChargedOff": "charged_off",
    "DelinquencyPaused": "plan",
}


class AccountsEventHandler:
    """Opens a collection case when an account goes overdue."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics

    async def __call__(self, uow: ContactUnitOfWork, env: Envelope) -> None:
        if env.type not in ("BillBecameOverdue", *SETTLED):
            return
        case_file = await uow.case_file(env.account_id)
        day = env.data.get("business_date")
        on = date.fromisoformat(day) if day else None
        decided: EventData | None
        if env.type == "BillBecameOverdue":
            assert on is not None
            decided = case_file.on_overdue(env.data["bill_id"], on)
        else:
            decided = case_file.on_settled(SETTLED[env.type], on)
        if decided is None:
            return
        event = new_envelope(
            decided,
            account_id=env.account_id,
            occurred_at=env.occurred_at,
            recorded_at=uow.now,
            source=SOURCE,
            cause=env,
        )
        await uow.record(
            stream_id(env.account_id), case_file.version, [event], self._topics.contact
        )
