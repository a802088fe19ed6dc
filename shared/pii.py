"""Personal data: who sees which kind unmasked, masking by kind, and log redaction.

Events declare their personal fields and each field's kind in the catalogue
(`shared.catalogue.Personal`); readers of those fields mask them with `show` by that
declared kind, never by guessing from the text. `redact` (patterns over free text) is
only the logs' defence in depth.

Masking rules (one per kind, the same whether a value is masked alone or inside text):

- phone, Chinese mobile (`1[3-9]` + 9 digits in groups of 3-4-4 at most, optionally after
  +86, 0086 or 86): the Chinese convention, first 3 and last 4 digits, the country code
  kept as written: "138-1234-5678" -> "138****5678", "+86 138 1234 5678" ->
  "+86 138****5678", "+8613812345678" -> "+86138****5678".
- phone, anything else: every digit but the last 4 becomes `*`, the punctuation (+, spaces,
  dashes, parentheses) stays, so the shape is still recognisable: "+44 20 7946 0958" ->
  "+** ** **** 0958". Fewer than 7 digits is not a phone number worth keeping a tail of:
  all digits are masked.
- e-mail: the first character of the local part, then `***`, then the domain:
  "zhang.wei@example.com" -> "z***@example.com" (a one-character local part shows none).
- ID number, PRC resident ID (17 digits and a digit or X): first 3, 11 `*`, last 4:
  "11010119900307123X" -> "110***********123X".
- ID number, US SSN or ITIN (with or without dashes): "123-45-6789" -> "***-**-6789".
- ID number, anything else: every letter or digit but the last 4 becomes `*` (all of them
  when there are fewer than 8).
- name: the first character, then one `*` per other character: "张伟" -> "张*".
- text (free text a person wrote, in which anything may hide): nothing of it, only its
  length, in single guillemets (U+2039, U+203A) so it never reads as the text itself:
  "withheld: 42 characters".

`redact` finds these inside free text. It recognises Chinese mobiles, numbers with a
leading `+` and 8 to 15 digits (E.164), US numbers written like (415) 555-2671 or
415-555-2671, e-mail addresses, PRC resident IDs (shaped like a region code and a birth
date) and dash-separated SSNs. A match must stand alone: a letter or digit right next to
it, or a decimal point, means it is part of something else (a UUID, a hex hash, an
amount, a timestamp), and it is left alone.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

__all__ = [
    "PERSONAL_KINDS",
    "PII_ROLES",
    "PLACEHOLDER",
    "SEES_UNMASKED",
    "PersonalKind",
    "RedactingFilter",
    "install_log_redaction",
    "mask",
    "mask_email",
    "mask_for",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "mask_text",
    "may_see",
    "redact",
    "show",
    "uvicorn_log_config",
]

PersonalKind = Literal["phone", "email", "id_number", "name", "text"]
"""What a personal field holds; its kind decides who sees it and how it is masked."""

PERSONAL_KINDS: tuple[PersonalKind, ...] = ("phone", "email", "id_number", "name", "text")

PiiKind = PersonalKind

PII_ROLES: frozenset[str] = frozenset(
    {
        # Agents and supervisors work collection cases: they have to call and write to
        # the borrower, so they see the real numbers.
        "agent",
        "supervisor",
        # Safe because a borrower only ever reaches their own data: object-level checks
        # (shared.security answers another account id with 404 before the endpoint runs)
        # decide whose data is returned; this only decides how it is shown. A route that
        # lists across accounts must filter to the token's accounts before it masks.
        "borrower",
        # Not here: compliance reviews cases and needs no contact details by default
        # (an unmasking path for it would be a separate, audited route); ops and
        # integrators run and feed the platform and never need them.
    }
)
"""The roles that see personal data unmasked; every other role, known or not, sees it masked."""

SEES_UNMASKED: Mapping[PersonalKind, frozenset[str]] = {
    "phone": PII_ROLES,
    "email": PII_ROLES,
    "id_number": PII_ROLES,
    # A report to a regulator or a court names the borrower; a name reaches no one, so
    # compliance may read it (when it asks to, and the read is logged), unlike a number.
    "name": PII_ROLES | {"compliance"},
    # Free text a borrower wrote (a dispute or cease reason) is what compliance reviews:
    # it may read it, contact details it need not.
    "text": PII_ROLES | {"compliance"},
}
"""Per kind, the roles that may see a value of that kind unmasked (declared once, here)."""

# -- masking single values ----------------------------------------------------------

# "%2B" is "+" percent-encoded, as a number arrives in a query string.
_CN_MOBILE = re.compile(
    r"(?P<cc>(?:\+|%2[Bb]|00)?86)?(?P<sep>[\s\-]*)(?P<number>1[3-9]\d(?:[\s\-]?\d{4}){2})"
)
_PRC_ID = re.compile(r"\d{17}[\dXx]")
_SSN = re.compile(r"\d{3}-?\d{2}-?\d{4}")


def _keep_last(value: str, keep: int, minimum: int, masked: Callable[[str], bool]) -> str:
    # Below `minimum` characters a visible tail would be most of the value, so none is kept.
    total = sum(1 for c in value if masked(c))
    visible = keep if total >= minimum else 0
    out, seen = [], 0
    for c in value:
        if masked(c):
            seen += 1
            out.append(c if seen > total - visible else "*")
        else:
            out.append(c)
    return "".join(out)


def mask_phone(s: str) -> str:
    """A phone number with all but its last 4 digits masked (Chinese mobiles keep the first 3)."""
    value = s.strip()
    cn = _CN_MOBILE.fullmatch(value)
    if cn:
        number = re.sub(r"\D", "", cn["number"])
        # The country code as written, and a space only if there was one: in a URL (the
        # access log) a space would split the request line.
        prefix = (cn["cc"] + (" " if cn["sep"] else "")) if cn["cc"] else ""
        return f"{prefix}{number[:3]}****{number[-4:]}"
    return _keep_last(value, 4, 7, str.isdigit)


def mask_email(s: str) -> str:
    """An e-mail address with its local part masked but for the first character."""
    value = s.strip()
    # "%40" is "@" percent-encoded (a query string); the mask keeps whichever was written.
    local, at, domain = value.rpartition("@" if "@" in value else "%40")
    if not at or not local or not domain:
        return "***"  # not an address: nothing in it is safe to show
    head = local[0] if len(local) > 1 else ""
    return f"{head}***{at}{domain}"


def mask_id_number(s: str) -> str:
    """A PRC resident ID, US SSN or other ID number with all but its last 4 characters masked."""
    value = s.strip()
    if _PRC_ID.fullmatch(value):
        # The first 3 digits name only a province and city; the birth date and serial go.
        return value[:3] + "*" * 11 + value[-4:]
    if _SSN.fullmatch(value):
        return "***-**-" + value[-4:]
    return _keep_last(value, 4, 8, str.isalnum)


def mask_name(s: str) -> str:
    """A name with every character but the first masked."""
    value = s.strip()
    return value[:1] + "*" * max(1, len(value) - 1) if value else "*"


PLACEHOLDER = "\u2039{}\u203a"
"""How a value that is not shown is written: "withheld: 9 characters", "erased" in guillemets."""


def mask_text(s: str) -> str:
    """Free text withheld whole (a phone number can hide anywhere in it); only its length shows."""
    n = len(s)
    return PLACEHOLDER.format(f"withheld: {n} character{'' if n == 1 else 's'}")


_MASKS: dict[str, Callable[[str], str]] = {
    "phone": mask_phone,
    "email": mask_email,
    "id_number": mask_id_number,
    "name": mask_name,
    "text": mask_text,
}


def _kind(kind: str) -> PersonalKind:
    if kind not in _MASKS:
        raise ValueError(f"unknown kind of personal data {kind!r}")
    return kind  # type: ignore[return-value]


def may_see(role: str, kind: PersonalKind) -> bool:
    """Whether `role` may see a value of `kind` unmasked."""
    return role in SEES_UNMASKED[_kind(kind)]


def mask(value: str, kind: PersonalKind) -> str:
    """`value` masked as its kind is masked, whoever asks."""
    return _MASKS[_kind(kind)](value)


def show(role: str, value: str, kind: PersonalKind) -> str:
    """`value` as `role` may see it: unmasked if the kind allows the role, else masked."""
    return value if may_see(role, kind) else mask(value, kind)


def mask_for(role: str, value: str, kind: PiiKind) -> str:
    """`value` as the role may see it (the same as `show`)."""
    return show(role, value, kind)


# -- finding personal data in free text ---------------------------------------------

# Boundaries are ASCII letters and any digit, not \w: \w matches Chinese characters, and
# "手机13812345678" is exactly the text that must be caught. A decimal point before or
# after a number makes it an amount.
_START = r"(?<![\dA-Za-z])(?<!\d\.)"
_END = r"(?![\dA-Za-z])(?!\.\d)"

_PATTERN = re.compile(
    # Alternatives are tried left to right at each position: an e-mail first, so that
    # "13812345678@qq.com" is masked as the address it is.
    # "%40" and "%2B" are "@" and "+" percent-encoded, as they reach the access log in a
    # query string.
    r"(?P<email>(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
    r"\.[A-Za-z]{2,}(?![A-Za-z0-9\-]))"
    # Region code, birth date (years 1800-2099), serial, check character.
    rf"|(?P<prc_id>{_START}[1-9]\d{{5}}(?:18|19|20)\d{{2}}(?:0[1-9]|1[0-2])"
    rf"(?:0[1-9]|[12]\d|3[01])\d{{3}}[\dXx]{_END})"
    # A dash on either side means a longer dash-separated code (UUID-like), not an SSN.
    r"|(?P<ssn>(?<![\dA-Za-z\-])\d{3}-\d{2}-\d{4}(?![\dA-Za-z\-]))"
    rf"|(?P<cn_mobile>{_START}(?:(?:\+|%2[Bb]|00)?86[ \-]?)?1[3-9]\d(?:[ \-]?\d{{4}}){{2}}{_END})"
    # E.164: country codes never start with 0, so a time-zone offset (+08:00) never matches.
    # A parenthesised area code may follow the country code, nowhere else: a "(" later on
    # starts the next number in a list, not more of this one.
    rf"|(?P<intl>{_START}(?:\+|%2[Bb])[1-9]\d{{0,2}}(?:[ \-]?\(\d{{1,4}}\))?"
    rf"(?:[ \-]?\d){{7,14}}{_END})"
    # North American numbers without +1; the separator before the last 4 is required, so
    # a bare 10-digit number (an epoch timestamp) is left alone.
    r"|(?P<nanp>(?<![\dA-Za-z\-])(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .\-]?[2-9]\d{2}[ .\-]\d{4}"
    r"(?![\dA-Za-z])(?![.\-]\d))"
)

_MASK_OF_GROUP: dict[str, Callable[[str], str]] = {
    "email": mask_email,
    "prc_id": mask_id_number,
    "ssn": mask_id_number,
    "cn_mobile": mask_phone,
    "intl": mask_phone,
    "nanp": mask_phone,
}


def _mask_match(match: re.Match[str]) -> str:
    assert match.lastgroup is not None
    return _MASK_OF_GROUP[match.lastgroup](match.group())


def redact(text: str) -> str:
    """`text` with every phone number, e-mail address and ID number in it masked."""
    return _PATTERN.sub(_mask_match, text)


# -- logs ---------------------------------------------------------------------------


_PLAIN = logging.Formatter()  # formats tracebacks exactly as the standard formatter does


def redact_values(value: Any, role: str) -> Any:
    """Every string inside a JSON-like value redacted, unless `role` may see PII.

    Only strings are touched, so amounts stay numbers and the structure stays valid.
    """
    if role in PII_ROLES:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_values(v, role) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_values(v, role) for v in value]
    return value


def _render(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        # A bad format string would make logging print msg and args raw to stderr
        # ("--- Logging error ---"); render what there is instead, so it gets redacted.
        try:
            return f"{record.msg!s} {record.args!r}"
        except Exception:
            return "<unrenderable log message>"


def _redact_arg(arg: object) -> object:
    if isinstance(arg, str):
        return redact(arg)
    text = str(arg)
    masked = redact(text)
    # Anything else keeps its type (so %d still works) unless its text held personal data.
    return arg if masked == text else masked


class RedactingFilter(logging.Filter):
    """A handler filter that masks personal data in a record's message and traceback.

    By default the message is rendered, redacted and stored with no args. A formatter that
    reads `record.args` itself (uvicorn's access log) needs them, so `preserve_args=True`
    redacts each argument in place instead.

    The traceback is formatted here (with the standard formatter), redacted into
    `exc_text`, and `exc_info` is dropped: formatters print `exc_text` when it is set, and
    without `exc_info` none can render the raw exception again. The price is that a
    formatter's own `formatException` is not used.
    """

    def __init__(self, *, preserve_args: bool = False) -> None:
        super().__init__()
        self.preserve_args = preserve_args

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drops it."""
        if self.preserve_args and record.args:
            if isinstance(record.msg, str):
                record.msg = redact(record.msg)
            if isinstance(record.args, Mapping):
                record.args = {k: _redact_arg(v) for k, v in record.args.items()}
            else:
                record.args = tuple(_redact_arg(a) for a in record.args)
        else:
            record.msg = redact(_render(record))
            record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _PLAIN.formatException(record.exc_info)
        if record.exc_text:
            # Also when exc_text was there already: a handler without this filter may have
            # formatted (and cached) the raw traceback before this one ran.
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach a RedactingFilter to every handler of `logger` (the root logger by default), once.

    On handlers, not on the logger: a logger's filters see only records logged on that
    logger itself, while records from child loggers (`shared.consumer`, ...) propagate
    straight to the parents' handlers, whose filters do apply. Handlers added later are
    not covered; call this again after adding one.
    """
    target = logger if logger is not None else logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging config with a RedactingFilter on each of its handlers.

    uvicorn's loggers do not propagate to the root logger, so install_log_redaction never
    sees them. Its access formatter unpacks `record.args`, so that handler's filter keeps
    the args (redacted one by one; a query string can carry a phone number).
    """
    from uvicorn.config import LOGGING_CONFIG  # imported here: only `serve` needs uvicorn

    config = copy.deepcopy(LOGGING_CONFIG)
    filters = config.setdefault("filters", {})
    filters["pii"] = {"()": RedactingFilter}
    filters["pii_args"] = {"()": RedactingFilter, "preserve_args": True}
    formatters = config.get("formatters", {})
    for handler in config["handlers"].values():
        formatter = formatters.get(handler.get("formatter"), {})
        keeps_args = "AccessFormatter" in str(formatter.get("()", ""))
        handler.setdefault("filters", []).append("pii_args" if keeps_args else "pii")
    return config
