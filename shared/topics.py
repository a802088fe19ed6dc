"""Topic names, all under one configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """The six topics of arrears: integrators' inbound, one per service (audit's holds the
    order it chained in), and dead letters."""

    prefix: str = "arrears"

    @property
    def inbound(self) -> str:
        return f"{self.prefix}.inbound"

    @property
    def accounts(self) -> str:
        return f"{self.prefix}.accounts"

    @property
    def plans(self) -> str:
        return f"{self.prefix}.plans"

    @property
    def contact(self) -> str:
        return f"{self.prefix}.contact"

    @property
    def audit(self) -> str:
        return f"{self.prefix}.audit"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    def all(self) -> list[str]:
        """Every topic, for provisioning."""
        return [self.inbound, self.accounts, self.plans, self.contact, self.audit, self.dlq]
