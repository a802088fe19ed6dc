"""Decisions and attempts as the events the contact service publishes."""

from __future__ import annotations

from services.contact.domain.compliance.model import Decision, RecordedAttempt
from shared.events.contact import ContactAttemptChecked, ContactAttemptRecorded


def decision_event(decision: Decision) -> ContactAttemptChecked:
    """The `ContactAttemptChecked` of a decision (allowed or blocked)."""
    a = decision.attempt
    return ContactAttemptChecked(
        attempt_id=a.attempt_id,
        debt_id=a.debt_id,
        channel=a.channel,
        party=a.party,
        purpose=a.purpose,
        planned_at=a.planned_at,
        jurisdiction=decision.jurisdiction,
        decision="allowed" if decision.allowed else "blocked",
        rule_ids=list(decision.rule_ids),
        rules_checked=list(decision.rules_checked),
        explanation=decision.explanation,
        exception_id=decision.exception_id,
    )


def recorded_attempt(
    attempt: RecordedAttempt, *, duration_seconds: int = 0, agent: str | None = None
) -> ContactAttemptRecorded:
    """The `ContactAttemptRecorded` of an attempt that was made."""
    return ContactAttemptRecorded(
        attempt_id=attempt.attempt_id,
        debt_id=attempt.debt_id,
        agency=attempt.agency,
        channel=attempt.channel,
        party=attempt.party,
        outcome=attempt.outcome,
        duration_seconds=duration_seconds,
        agent=agent,
        at=attempt.at,
        exception_id=attempt.exception_id,
    )
