"""The contact service's settings: promises, lost contact, queues, strategy, skip trace,
reminders.

Loaded once at start from the contact policy file (JSON, `CONTACT_POLICY_FILE`); every
value is validated here, so a bad file stops the service with the key named, e.g.
`promises.max_days: must be between 1 and 366`. Absent keys keep the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from services.contact.domain.strategy import DEFAULT_STRATEGY, Strategy
from shared.policy_values import PolicyError
from shared.policy_values import integer as _int


@dataclass(frozen=True)
class PromiseRules:
    """How far ahead a promise to pay may be dated."""

    max_days: int = 14
    """A promise is due at most this many days after the day it was made."""


@dataclass(frozen=True)
class LostContactRule:
    """When a borrower counts as unreachable (失联).

    Every known, still valid contact point had at least `failed_attempts` failed
    attempts (no answer, wrong number) within the last `window_days` local days, with no
    conversation since; or every known point has been invalidated.
    """

    failed_attempts: int = 3
    window_days: int = 7


@dataclass(frozen=True)
class QueueRules:
    """How agents pull work."""

    stale_after_minutes: int = 240
    """A claimed case nobody worked for this long may be claimed by someone else."""
    max_open_per_agent: int = 40
    """An agent holding this many cases must work them before claiming another."""
    scan_limit: int = 50
    """How many candidates one claim looks at before saying the queue has nothing ready."""


@dataclass(frozen=True)
class SkipTraceSettings:
    """Where skip-trace requests go: the local fake (development) or an HTTP provider."""

    provider: str = "fake"
    url: str | None = None
    timeout_seconds: int = 10


@dataclass(frozen=True)
class ReminderSettings:
    """Automated reminders: where messages go, and how often a blocked one is retried."""

    notifier: str = "fake"
    """`fake` (records messages; development) or `http` (a messaging provider at `url`)."""
    url: str | None = None
    timeout_seconds: int = 10
    retry_minutes: int = 60
    """A reminder no channel may carry now (quiet hours, a failed send) is tried again
    this much later."""
    max_tries: int = 24
    """After this many blocked or failed tries the reminder is skipped."""
    poll_seconds: int = 60
    """How often the worker looks for reminders that are due."""


@dataclass(frozen=True)
class ContactPolicy:
    """Everything the contact service reads from its settings besides the rule packs."""

    promises: PromiseRules = field(default_factory=PromiseRules)
    lost_contact: LostContactRule = field(default_factory=LostContactRule)
    queues: QueueRules = field(default_factory=QueueRules)
    strategy: Strategy = DEFAULT_STRATEGY
    skip_trace: SkipTraceSettings = field(default_factory=SkipTraceSettings)
    reminders: ReminderSettings = field(default_factory=ReminderSettings)

    @classmethod
    def from_mapping(cls, raw: Any) -> ContactPolicy:
        """A policy from settings over the defaults; errors name the key."""
        if not isinstance(raw, Mapping):
            raise PolicyError("must be a mapping of contact settings")
        known = {"promises", "lost_contact", "queues", "strategy", "skip_trace", "reminders"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PolicyError(f"{unknown[0]}: unknown key (known: {sorted(known)})")
        policy = cls()
        if "promises" in raw:
            values = _ints("promises", raw["promises"], {"max_days": (1, 366)})
            policy = replace(policy, promises=replace(policy.promises, **values))
        if "lost_contact" in raw:
            limits = {"failed_attempts": (1, 100), "window_days": (1, 366)}
            values = _ints("lost_contact", raw["lost_contact"], limits)
            policy = replace(policy, lost_contact=replace(policy.lost_contact, **values))
        if "queues" in raw:
            limits = {
                "stale_after_minutes": (1, 60 * 24 * 30),
                "max_open_per_agent": (1, 10_000),
                "scan_limit": (1, 1000),
            }
            values = _ints("queues", raw["queues"], limits)
            policy = replace(policy, queues=replace(policy.queues, **values))
        if "strategy" in raw:
            policy = replace(policy, strategy=Strategy.from_mapping(raw["strategy"]))
        if "skip_trace" in raw:
            policy = replace(policy, skip_trace=_skip_trace(raw["skip_trace"]))
        if "reminders" in raw:
            policy = replace(policy, reminders=_reminders(raw["reminders"]))
        return policy


def _ints(section: str, raw: Any, limits: dict[str, tuple[int, int]]) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{section}: must be a mapping")
    unknown = sorted(set(raw) - set(limits))
    if unknown:
        raise PolicyError(f"{section}.{unknown[0]}: unknown key (known: {sorted(limits)})")
    out = {}
    for key, value in raw.items():
        low, high = limits[key]
        number = _int(f"{section}.{key}", value)
        if not low <= number <= high:
            raise PolicyError(f"{section}.{key}: must be between {low} and {high}, got {number}")
        out[key] = number
    return out


def _endpoint(section: str, raw: Mapping[str, Any], kind_key: str) -> tuple[str, str | None]:
    """(`fake` or `http`, its URL) from a section naming an outside service; the URL is
    required for `http`."""
    kind = raw.get(kind_key, "fake")
    if kind not in ("fake", "http"):
        raise PolicyError(f"{section}.{kind_key}: must be 'fake' or 'http', got {kind!r}")
    url = raw.get("url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        raise PolicyError(f"{section}.url: must be an http(s) URL, got {url!r}")
    if kind == "http" and url is None:
        raise PolicyError(f"{section}.url: required when {section}.{kind_key} is 'http'")
    return kind, url


def _skip_trace(raw: Any) -> SkipTraceSettings:
    if not isinstance(raw, Mapping):
        raise PolicyError("skip_trace: must be a mapping")
    unknown = sorted(set(raw) - {"provider", "url", "timeout_seconds"})
    if unknown:
        raise PolicyError(
            f"skip_trace.{unknown[0]}: unknown key (known: provider, timeout_seconds, url)"
        )
    provider, url = _endpoint("skip_trace", raw, "provider")
    timeout = _int("skip_trace.timeout_seconds", raw.get("timeout_seconds", 10))
    if not 1 <= timeout <= 120:
        raise PolicyError(f"skip_trace.timeout_seconds: must be between 1 and 120, got {timeout}")
    return SkipTraceSettings(provider=provider, url=url, timeout_seconds=timeout)


def _reminders(raw: Any) -> ReminderSettings:
    if not isinstance(raw, Mapping):
        raise PolicyError("reminders: must be a mapping")
    limits = {
        "timeout_seconds": (1, 120),
        "retry_minutes": (1, 60 * 24 * 7),
        "max_tries": (1, 1000),
        "poll_seconds": (1, 3600),
    }
    known = {"notifier", "url", *limits}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PolicyError(f"reminders.{unknown[0]}: unknown key (known: {sorted(known)})")
    notifier, url = _endpoint("reminders", raw, "notifier")
    numbers = _ints("reminders", {k: v for k, v in raw.items() if k in limits}, limits)
    return ReminderSettings(notifier=notifier, url=url, **numbers)


DEFAULT_POLICY = ContactPolicy()
