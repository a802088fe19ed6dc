"""Sending reminders: app push, SMS and e-mail through a messaging provider.

`Notifier` is the port; `HttpNotifier` posts to a real provider, `FakeNotifier` keeps the
messages in a list (development and tests). The provider resolves the borrower's address
from the account id, so no address passes through here. Neither adapter logs a message's
text: it is about someone's debt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from services.contact.adapters.http_json import ProviderFailed, post_json

log = logging.getLogger(__name__)


class NotifierError(Exception):
    """The message did not go out (provider down, refused, timed out); try again later."""


class Notifier(Protocol):
    """Delivers one message; `message_id` makes a repeated send of it idempotent."""

    async def send(self, message_id: str, account_id: str, channel: str, text: str) -> None: ...


@dataclass(frozen=True)
class SentMessage:
    """A message the fake accepted."""

    message_id: str
    account_id: str
    channel: str
    text: str


@dataclass
class FakeNotifier:
    """Accepts every message and remembers it; `fail` makes every send raise instead."""

    sent: list[SentMessage] = field(default_factory=list)
    fail: bool = False

    async def send(self, message_id: str, account_id: str, channel: str, text: str) -> None:
        if self.fail:
            raise NotifierError(f"fake notifier refused message {message_id}")
        self.sent.append(SentMessage(message_id, account_id, channel, text))


class HttpNotifier:
    """POSTs `{message_id, account_id, channel, text}` to the provider's URL; any 2xx is
    accepted, anything else (or no answer within the timeout) is a NotifierError."""

    def __init__(
        self, url: str, *, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._transport = transport

    async def send(self, message_id: str, account_id: str, channel: str, text: str) -> None:
        body = {
            "message_id": message_id,
            "account_id": account_id,
            "channel": channel,
            "text": text,
        }
        try:
            await post_json(
                self._url,
                body,
                what=f"notifier failed for message {message_id}",
                timeout=self._timeout,
                transport=self._transport,
            )
        except ProviderFailed as exc:
            raise NotifierError(str(exc)) from None
        log.info("reminder %s handed to the provider (%s)", message_id, channel)
