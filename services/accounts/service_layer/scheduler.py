"""Closes each business day at a configured local cut-off when no integrator does.

The close is published as an ordinary `BusinessDayClosed` for every account (`*`) on
the inbound topic, so it is applied, audited and deduplicated like one an integrator
sent. Its id is derived from the date, so every running copy of the service publishes
the same event and it takes effect once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from shared.clock import Clock
from shared.envelope import Envelope
from shared.events.inbound import PLATFORM_ACCOUNT, BusinessDayClosed

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("9a0f5d55-2d0e-4c51-9d0e-6f3c1d7b2a11")


class DayCloseScheduler:
    """Publishes `BusinessDayClosed` for each local date once its cut-off has passed."""

    def __init__(
        self,
        *,
        cut_off: str,
        time_zone: str,
        clock: Clock,
        uow_factory: Callable[[], AccountsUnitOfWork],
        inbound_topic: str,
        notify: Callable[[], None],
    ) -> None:
        hours, minutes = (int(x) for x in cut_off.split(":"))
        self._cut_off = time(hours, minutes)
        self._zone = ZoneInfo(time_zone)
        self._clock = clock
        self._uow = uow_factory
        self._topic = inbound_topic
        self._notify = notify

    def last_due(self, now: datetime) -> date:
        """The latest business date whose cut-off is at or before `now`."""
        local = now.astimezone(self._zone)
        today_cut = datetime.combine(local.date(), self._cut_off, tzinfo=self._zone)
        return local.date() if local >= today_cut else local.date() - timedelta(days=1)

    def next_cut_off(self, now: datetime) -> datetime:
        """The first cut-off strictly after `now`."""
        day = self.last_due(now) + timedelta(days=1)
        return datetime.combine(day, self._cut_off, tzinfo=self._zone)

    def event_for(self, business_date: date) -> Envelope:
        """The close of one date; the same id whoever publishes it."""
        at = datetime.combine(business_date, self._cut_off, tzinfo=self._zone)
        return Envelope(
            id=uuid.uuid5(NAMESPACE, business_date.isoformat()),
            type=BusinessDayClosed.event_type,
            schema_version=BusinessDayClosed.schema_version,
            account_id=PLATFORM_ACCOUNT,
            occurred_at=at,
            source="accounts-scheduler",
            data={"business_date": business_date.isoformat()},
        )

    async def publish(self, business_date: date) -> None:
        """Queue the close of `business_date` on the inbound topic."""
        async with self._uow() as uow:
            await uow.outbox.add(self._topic, [self.event_for(business_date)])
            await uow.commit()
        self._notify()
        log.info("scheduled close of business date %s published", business_date)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish the latest due close now (catch-up is per account), then each cut-off."""
        await self.publish(self.last_due(self._clock.now()))
        while not stop.is_set():
            wait = (self.next_cut_off(self._clock.now()) - self._clock.now()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 0) + 0.5)
            if not stop.is_set():
                await self.publish(self.last_due(self._clock.now()))
