"""Events integrators publish to `arrears.inbound`: a stable, documented contract."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, field_validator

from shared.bounds import Ref
from shared.catalogue import EventData, Personal, Upcaster
from shared.money import Currency, NonNegativeMinor, PositiveMinor

PLATFORM_ACCOUNT = "*"
"""The account id of platform-wide events such as a day close for every account."""

Product = Literal["consumer_credit", "cash_loan"]

CustomerId = Annotated[str, Personal("id_number"), Field(min_length=1, max_length=64)]
"""The platform's id of the borrower: personal data (some lenders use the phone number)."""


class AccountOpenedV1(EventData):
    """A credit account was opened for a customer (v1: no time zone)."""

    event_type: ClassVar[str] = "AccountOpened"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    product: Product
    currency: Currency


class AccountOpened(EventData):
    """A credit account was opened for a customer, who lives in `time_zone`."""

    event_type: ClassVar[str] = "AccountOpened"
    schema_version: ClassVar[int] = 2

    customer_id: CustomerId
    product: Product
    currency: Currency
    time_zone: str = Field(
        max_length=64, description="IANA zone of the borrower, e.g. Asia/Shanghai"
    )
    jurisdiction: Literal["CN", "US"] | None = Field(
        default=None,
        description="whose collection rules apply; absent: US for US time zones, else CN",
    )
    # Optional, so a producer of v2 without it stays valid: no new schema version.
    customer_name: Annotated[str, Personal("name")] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="the borrower's name as the platform holds it, for printed reports",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


def upcast_account_opened_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 accounts predate time zones; they were all Chinese borrowers."""
    return {**data, "time_zone": "Asia/Shanghai"}


class BillIssued(EventData):
    """A bill was issued: principal, interest and fees due on `due_date`."""

    event_type: ClassVar[str] = "BillIssued"
    schema_version: ClassVar[int] = 1

    bill_id: Ref = Field(min_length=1, max_length=64)
    currency: Currency
    principal: NonNegativeMinor
    interest: NonNegativeMinor = 0
    fees: NonNegativeMinor = 0
    issued_on: date
    due_date: date

    @field_validator("due_date")
    @classmethod
    def _due_after_issue(cls, value: date, info: Any) -> date:
        issued = info.data.get("issued_on")
        if issued is not None and value < issued:
            raise ValueError("due_date is before issued_on")
        return value


class PaymentReceived(EventData):
    """The borrower paid `amount`; `bill_id` names a bill when the payment was for one."""

    event_type: ClassVar[str] = "PaymentReceived"
    schema_version: ClassVar[int] = 1

    payment_id: Ref = Field(min_length=1, max_length=64)
    currency: Currency
    amount: PositiveMinor
    paid_at: AwareDatetime
    bill_id: Ref | None = Field(default=None, max_length=64)


class BusinessDayClosed(EventData):
    """The platform closed `business_date`; account `*` means every account."""

    event_type: ClassVar[str] = "BusinessDayClosed"
    schema_version: ClassVar[int] = 1

    business_date: date


class ContactPointReported(EventData):
    """The platform knows a way to reach the borrower: a phone number or an e-mail address.

    `verified` says the platform itself confirmed it reaches the borrower (KYC, an OTP of
    its own); otherwise the contact service verifies it. Personal data: logs never carry
    the value and audit readers see it masked.
    """

    event_type: ClassVar[str] = "ContactPointReported"
    schema_version: ClassVar[int] = 1

    kind: Literal["phone", "email"]
    value: Annotated[str, Personal(kind_from="kind")] = Field(min_length=3, max_length=254)
    verified: bool = False


MODELS: list[type[EventData]] = [
    AccountOpenedV1,
    AccountOpened,
    BillIssued,
    PaymentReceived,
    BusinessDayClosed,
    ContactPointReported,
]
UPCASTERS: dict[tuple[str, int], Upcaster] = {("AccountOpened", 1): upcast_account_opened_v1_v2}
