"""The contact-compliance engine: rule packs per jurisdiction, a ledger, `check`.

Pure: no I/O. Usage::

    pack = DEFAULT_PACKS.for_jurisdiction("US")
    decision = check(attempt, ledger, state, pack)
    event = decision_event(decision)  # ContactAttemptChecked, allowed or blocked
"""

from __future__ import annotations

from services.contact.domain.compliance.engine import check
from services.contact.domain.compliance.events import decision_event, recorded_attempt
from services.contact.domain.compliance.model import (
    AgreedException,
    ConsumerState,
    ContactAttempt,
    ContactLedger,
    Decision,
    RecordedAttempt,
    Violation,
)
from services.contact.domain.compliance.packs import (
    CN_DEFAULT,
    DEFAULT_PACKS,
    RULE_NAMES,
    US_DEFAULT,
    RulePack,
    RulePackError,
    RulePacks,
)

__all__ = [
    "CN_DEFAULT",
    "DEFAULT_PACKS",
    "RULE_NAMES",
    "US_DEFAULT",
    "AgreedException",
    "ConsumerState",
    "ContactAttempt",
    "ContactLedger",
    "Decision",
    "RecordedAttempt",
    "RulePack",
    "RulePackError",
    "RulePacks",
    "Violation",
    "check",
    "decision_event",
    "recorded_attempt",
]
