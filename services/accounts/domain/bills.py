"""A bill's components and what has happened to each: paid, waived, reinstalled."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from shared.events.accounts import COMPONENTS, Allocation


def zero() -> dict[str, int]:
    """A fresh per-component amount, all zero."""
    return dict.fromkeys(COMPONENTS, 0)


@dataclass
class Bill:
    """One bill: charged per component, and how each charge was settled so far."""

    bill_id: str
    due_date: date
    issued_on: date
    charged: dict[str, int] = field(default_factory=zero)
    paid_by: dict[str, int] = field(default_factory=zero)
    waived: dict[str, int] = field(default_factory=zero)
    reinstalled: dict[str, int] = field(default_factory=zero)
    overdue_reported: bool = False
    due_soon_reported: bool = False

    def copy(self) -> Bill:
        """An independent copy (its amounts are mutable)."""
        return replace(
            self,
            charged=dict(self.charged),
            paid_by=dict(self.paid_by),
            waived=dict(self.waived),
            reinstalled=dict(self.reinstalled),
        )

    def unpaid(self, component: str) -> int:
        """What is still owed of one component."""
        return (
            self.charged[component]
            - self.paid_by[component]
            - self.waived[component]
            - self.reinstalled[component]
        )

    def unpaid_by_component(self) -> dict[str, int]:
        """What is still owed, per component."""
        return {c: self.unpaid(c) for c in COMPONENTS}

    @property
    def amount(self) -> int:
        """Everything ever charged on the bill, late fees included."""
        return sum(self.charged.values())

    @property
    def paid(self) -> int:
        """Everything paid on the bill."""
        return sum(self.paid_by.values())

    @property
    def outstanding(self) -> int:
        """Everything still owed on the bill."""
        return sum(self.unpaid(c) for c in COMPONENTS)

    @property
    def late_fee_base(self) -> int:
        """What late fees accrue on: unpaid principal + interest + fees (never late fee)."""
        return self.unpaid("principal") + self.unpaid("interest") + self.unpaid("fees")


@dataclass
class AllocationRecord:
    """The current allocation of one source: a payment, or credit applied to a bill."""

    kind: str  # "payment" or "credit"
    amount: int
    by_bill: dict[str, dict[str, int]] = field(default_factory=dict)

    def copy(self) -> AllocationRecord:
        """An independent copy."""
        return replace(self, by_bill={k: dict(v) for k, v in self.by_bill.items()})

    @property
    def allocated(self) -> int:
        """How much of the source went to bills."""
        return sum(sum(parts.values()) for parts in self.by_bill.values())

    @property
    def unallocated(self) -> int:
        """The rest of a payment, which became credit (always 0 for credit applied)."""
        return self.amount - self.allocated if self.kind == "payment" else 0

    def allocations(self) -> list[Allocation]:
        """As itemised event allocations, in the order they were made."""
        return [to_allocation(bill_id, parts) for bill_id, parts in self.by_bill.items()]


def to_allocation(bill_id: str, parts: dict[str, int]) -> Allocation:
    """An itemised Allocation of per-component amounts to one bill."""
    return Allocation(
        bill_id=bill_id, amount=sum(parts.values()), **{c: parts[c] for c in COMPONENTS}
    )
