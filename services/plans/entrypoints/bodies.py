"""Request bodies of the plans API: how large each route takes them, and the strict,
bounded types they are made of, so a loose or absurd value is a 422 naming the field."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Collection, Coroutine
from typing import Annotated, Any

from fastapi import Path, Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.plans.domain.quotes import MAX_DECLARED_FEN, Income
from shared.api import problem
from shared.envelope import MAX_ACCOUNT_ID_LENGTH
from shared.events.plans import Sha256
from shared.security import Rules, secured

JSON_MAX_BODY_BYTES = 64 * 1024
"""The largest body a plans route takes, but for uploads (held by the app-wide limit, the
policy's evidence_max_bytes): its JSON commands are a few hundred bytes, so a body near
this is not a command, and nobody makes the service parse megabytes of it (OWASP API4)."""

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def capped(rules: Rules, *, uploads: Collection[str] = ()) -> type[APIRoute]:
    """`secured(rules)`, whose routes refuse a body over JSON_MAX_BODY_BYTES (413), declared
    or chunked, before anything parses it, or one holding NaN or Infinity (422); the
    endpoints named in `uploads` (raw documents, not JSON) are exempt."""
    unknown = set(uploads) - set(rules)
    if unknown:
        raise RuntimeError(f"uploads {sorted(unknown)} have no access rule")

    class CappedRoute(secured(rules)):  # type: ignore[misc]  # a class built per table
        def get_route_handler(self) -> Handler:
            handle: Handler = super().get_route_handler()
            if self.name in uploads:
                return handle

            async def within_cap(request: Request) -> Response:
                if await _over_cap(request):
                    return problem(
                        413,
                        "Payload too large",
                        f"the body limit of this route is {JSON_MAX_BODY_BYTES} bytes",
                    )
                constant = _non_json_constant(await request.body())
                if constant is not None:
                    return problem(
                        422,
                        "Unprocessable Content",
                        f"the body holds {constant}, a number JSON (RFC 8259) does not have",
                    )
                return await handle(request)

            return within_cap

    return CappedRoute


async def _over_cap(request: Request) -> bool:
    """Whether the request's body is over JSON_MAX_BODY_BYTES, as declared or as read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > JSON_MAX_BODY_BYTES:
        return True
    # Chunked, it is read whole: the app-wide BodyLimit has already held it to the upload
    # limit, and Starlette keeps it for the route to parse.
    return len(await request.body()) > JSON_MAX_BODY_BYTES


def _non_json_constant(body: bytes) -> str | None:
    """The NaN or Infinity the body holds as a value, if any: Python's JSON reader takes
    them, and a refusal that quoted one back could not itself be written as JSON."""
    if b"NaN" not in body and b"Infinity" not in body:
        return None  # the usual case, without parsing twice
    found: list[str] = []

    def note(constant: str) -> None:
        found.append(constant)

    try:
        json.loads(body, parse_constant=note)
    except (ValueError, RecursionError):
        return None  # not JSON (or nested beyond reading): the route says so
    return found[0] if found else None


# ---- what bodies hold ------------------------------------------------------------------

# Letters, marks, digits, punctuation, symbols and spaces: no control characters, line
# breaks, bidirectional overrides or unassigned code points.
_PRINTABLE = ("L", "M", "N", "P", "S", "Zs")


def _printable(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    for c in text:
        if not unicodedata.category(c).startswith(_PRINTABLE):
            raise ValueError(f"must be printable text, not U+{ord(c):04X}")
    return text


def _distinct(hashes: list[str]) -> list[str]:
    if len(set(hashes)) != len(hashes):
        raise ValueError("cite each document once")
    return hashes


Text = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_printable)]
"""A person's words (a reason): 1 to 500 printable characters, not all blank."""

DeclaredFen = Annotated[int, Field(ge=0, lt=MAX_DECLARED_FEN, strict=True)]
"""An amount a borrower declares, in fen: 0 up to 2^53 (exclusive)."""

OptionId = Annotated[str, Field(max_length=64, pattern=r"^[a-z]+(-[0-9]{1,2})?$")]
"""A quote's option id: `waiver`, `personalised`, `deferral-3`, `reinstallment-12`..."""

EvidenceHashes = Annotated[list[Sha256], Field(max_length=20), AfterValidator(_distinct)]
"""The SHA-256 of each uploaded document cited, each once."""

AccountId = Annotated[str, Path(min_length=1, max_length=MAX_ACCOUNT_ID_LENGTH)]
PlanId = Annotated[str, Path(min_length=1, max_length=64)]
"""Plans issues UUIDs; anything longer is no plan's id."""


class Command(BaseModel):
    """A request body: no unknown fields, and no value coerced from another JSON type
    (`0` is not false, `"100"` not a number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Declaration(Command):
    """What the borrower declares they can afford (fen a month), and whether they hold
    hardship evidence for a waiver in a personalised plan."""

    monthly_income: DeclaredFen | None = None
    essential_expenses: DeclaredFen = 0
    other_obligations: DeclaredFen = 0
    with_waiver: bool = False

    def income(self) -> Income | None:
        """The declared income, if any was."""
        if self.monthly_income is None:
            return None
        return Income(self.monthly_income, self.essential_expenses, self.other_obligations)
