"""Personal data is masked for roles that may not see it and never reaches a log unmasked."""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import sys
import textwrap
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from services import cli
from shared.auth import ROLES
from shared.pii import (
    PII_ROLES,
    RedactingFilter,
    install_log_redaction,
    mask_email,
    mask_for,
    mask_id_number,
    mask_phone,
    redact,
    uvicorn_log_config,
)

ROOT = Path(__file__).resolve().parents[2]

PHONE, EMAIL, PRC_ID, SSN = (
    "13812345678",
    "zhang.wei@example.com",
    "11010119900307123X",
    "123-45-6789",
)

# -- masking single values ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+86 138 1234 5678", "+86 138****5678"),
        ("+86-138-1234-5678", "+86 138****5678"),
        ("+8613812345678", "+86138****5678"),
        ("008613812345678", "0086138****5678"),
        ("8613812345678", "86138****5678"),
        ("%2B8613812345678", "%2B86138****5678"),  # percent-encoded, from a query string
        ("19912345678", "199****5678"),
        (" 13812345678 ", "138****5678"),
        # Not a Chinese mobile (12 is no mobile prefix): every digit but the last 4.
        ("12812345678", "*******5678"),
        ("+44 20 7946 0958", "+** ** **** 0958"),
        ("+1 (415) 555-2671", "+* (***) ***-2671"),
        ("(415) 555-2671", "(***) ***-2671"),
        ("010-6552-9988", "***-****-9988"),
        # Too short to be a phone number: no tail is worth keeping.
        ("12345", "*****"),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("zhang.wei@example.com", "z***@example.com"),
        ("Zhang.Wei+loans@mail.example.com.cn", "Z***@mail.example.com.cn"),
        ("13812345678@qq.com", "1***@qq.com"),
        ("zhang.wei%40example.com", "z***%40example.com"),  # percent-encoded
        ("a@example.com", "***@example.com"),  # one character shown would be all of it
        ("not an address", "***"),
        ("@example.com", "***"),
    ],
)
def test_mask_email(raw: str, masked: str) -> None:
    assert mask_email(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("11010119900307123X", "110***********123X"),
        ("11010119900307123x", "110***********123x"),
        ("440305199912310018", "440***********0018"),
        ("123-45-6789", "***-**-6789"),
        ("123456789", "***-**-6789"),
        # Anything else (a passport number): all but the last 4 letters or digits.
        ("G12345678", "*****5678"),
        ("AB-1234567", "**-***4567"),
        ("X1234", "*****"),
    ],
)
def test_mask_id_number(raw: str, masked: str) -> None:
    assert mask_id_number(raw) == masked


def test_masked_id_numbers_keep_their_length() -> None:
    assert len(mask_id_number(PRC_ID)) == 18


# -- who sees what --------------------------------------------------------------------


def test_pii_roles_are_real_roles() -> None:
    assert set(ROLES) >= PII_ROLES


@pytest.mark.parametrize(
    ("role", "sees_raw"),
    [
        ("agent", True),
        ("supervisor", True),
        ("borrower", True),
        ("compliance", False),
        ("ops", False),
        ("integrator", False),
        ("admin", False),  # a role nobody defined is masked, not trusted
        ("", False),
    ],
)
def test_mask_for(role: str, sees_raw: bool) -> None:
    if sees_raw:
        assert mask_for(role, PHONE, "phone") == PHONE
        assert mask_for(role, EMAIL, "email") == EMAIL
        assert mask_for(role, PRC_ID, "id_number") == PRC_ID
    else:
        assert mask_for(role, PHONE, "phone") == "138****5678"
        assert mask_for(role, EMAIL, "email") == "z***@example.com"
        assert mask_for(role, PRC_ID, "id_number") == "110***********123X"
        assert mask_for(role, SSN, "id_number") == "***-**-6789"


def test_mask_for_every_known_role_is_decided() -> None:
    assert {r for r in ROLES if mask_for(r, PHONE, "phone") == PHONE} == {
        "agent",
        "supervisor",
        "borrower",
    }


def test_mask_for_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="address"):
        mask_for("ops", "Beijing", "address")  # type: ignore[arg-type]


# -- redact ---------------------------------------------------------------------------


def test_redact_masks_every_kind_in_a_sentence() -> None:
    text = (
        "客户手机13812345678\N{FULLWIDTH COMMA}身份证110101199003071234\N{FULLWIDTH SEMICOLON}"
        "call +86 138-1234-5678 or +44 20 7946 0958 or (415) 555-2671, "
        "mail Zhang.Wei@example.com or 13912345678@qq.com, SSN 123-45-6789."
    )
    assert redact(text) == (
        "客户手机138****5678\N{FULLWIDTH COMMA}身份证110***********1234\N{FULLWIDTH SEMICOLON}"
        "call +86 138****5678 or +** ** **** 0958 or (***) ***-2671, "
        "mail Z***@example.com or 1***@qq.com, SSN ***-**-6789."
    )


def test_redact_leaves_ids_times_amounts_and_hashes_alone() -> None:
    sha = hashlib.sha256(b"arrears").hexdigest()
    # Digits that would be personal data if they stood alone, buried in other tokens.
    digit_hash = ("13812345678" + "110101199003071234").ljust(64, "0")
    tokens = [
        str(uuid.uuid4()),
        "00000000-0000-0000-0000-013812345678",
        "13812345-6789-4123-8567-138123456789",
        "2026-03-01T09:00:00+08:00",
        "2026-03-01T09:00:00.123456+00:00",
        "2026-03-01 09:00:00-05:00",
        "20260301T090000+0800",
        "1772326800",
        "1772326800000",
        "100000",
        "-250000",
        "13812345678.50",
        "1234.5678",
        "arrears.inbound/3@1024",
        "offset=1024",
        sha,
        "a13812345678f" + sha[13:],
        digit_hash,
        "192.168.1.100:8000",
        "CNY 12345678",
    ]
    text = " | ".join(tokens)
    assert redact(text) == text


def test_redact_is_idempotent() -> None:
    text = f"{PHONE} {EMAIL} {PRC_ID} {SSN} +44 20 7946 0958 (415) 555-2671"
    once = redact(text)
    assert once != text
    assert redact(once) == once


# -- the log filter ---------------------------------------------------------------------


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    """A handler on the root logger writing to a string; logging is put back afterwards."""
    root = logging.getLogger()
    saved_level = root.level
    saved_filters = {h: list(h.filters) for h in root.handlers}
    # A handler an earlier test left on the root logger may redact records in place before
    # ours sees them (filters mutate the record): each test here starts unredacted.
    for h in root.handlers:
        h.filters[:] = [f for f in h.filters if not isinstance(f, RedactingFilter)]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        # install_log_redaction also filtered pytest's own handlers on the root logger.
        for h, filters in saved_filters.items():
            h.filters[:] = filters


def _our_handler() -> logging.Handler:
    return logging.getLogger().handlers[-1]


def test_logs_from_child_loggers_are_redacted_on_root_handlers(root_stream: io.StringIO) -> None:
    install_log_redaction()
    log = logging.getLogger("arrears.test.child")
    log.warning("call %s at %s", "13812345678", "zhang.wei@example.com")
    try:
        try:
            raise KeyError("ssn 123-45-6789")
        except KeyError as cause:
            raise ValueError(f"no borrower with ID {PRC_ID}") from cause
    except ValueError:
        log.exception("lookup for %s failed", "+86 138 1234 5678")

    out = root_stream.getvalue()
    for raw in ("13812345678", "zhang.wei@", PRC_ID, "1234 5678", "123-45-6789"):
        assert raw not in out
    assert "WARNING arrears.test.child call 138****5678 at z***@example.com" in out
    assert "lookup for +86 138****5678 failed" in out
    assert "Traceback (most recent call last)" in out
    assert "ValueError: no borrower with ID 110***********123X" in out
    assert "KeyError: 'ssn ***-**-6789'" in out


def test_without_redaction_the_same_log_leaks(root_stream: io.StringIO) -> None:
    # The control: the handler really does write what it is given.
    logging.getLogger("arrears.test.child").warning("call %s", "13812345678")
    assert "13812345678" in root_stream.getvalue()


def test_install_is_idempotent(root_stream: io.StringIO) -> None:
    install_log_redaction()
    install_log_redaction()
    ours = [f for f in _our_handler().filters if isinstance(f, RedactingFilter)]
    assert len(ours) == 1


def test_install_on_a_given_logger() -> None:
    logger = logging.getLogger("arrears.test.own")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_redaction(logger)
        logger.warning("mail %s", EMAIL)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert stream.getvalue() == "mail z***@example.com\n"


def _record(
    msg: object, args: tuple[object, ...] | None = None, **extra: object
) -> logging.LogRecord:
    return logging.makeLogRecord({"msg": msg, "args": args, **extra})


def test_filter_renders_and_drops_args() -> None:
    record = _record("call %s (%d tries, 100%%)", (PHONE, 3))
    assert RedactingFilter().filter(record) is True
    assert (record.msg, record.args) == ("call 138****5678 (3 tries, 100%)", ())
    assert record.getMessage() == "call 138****5678 (3 tries, 100%)"


def test_filter_redacts_a_message_that_cannot_be_formatted() -> None:
    # Left alone, logging would print msg and args raw in its "--- Logging error ---".
    record = _record("call %d", (PHONE,))
    RedactingFilter().filter(record)
    assert PHONE not in record.getMessage()
    assert "138****5678" in record.getMessage()


def test_filter_redacts_a_traceback_another_handler_already_cached() -> None:
    record = _record("failed", exc_text=f"Traceback ...\nValueError: {EMAIL}")
    RedactingFilter().filter(record)
    assert record.exc_text == "Traceback ...\nValueError: z***@example.com"


def test_filter_leaves_no_raw_exception_to_format_again() -> None:
    try:
        raise RuntimeError(PHONE)
    except RuntimeError:
        record = _record("failed", exc_info=sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_info is None
    formatted = logging.Formatter().format(record)
    assert PHONE not in formatted
    assert "RuntimeError: 138****5678" in formatted


def test_filter_preserving_args_redacts_each_one() -> None:
    record = _record("%s %s %d %d", (f"GET /a?phone={PHONE}", EMAIL, 200, int(PHONE)))
    RedactingFilter(preserve_args=True).filter(record)
    # Plain numbers keep their type; one that reads as a phone number is masked.
    assert record.args == ("GET /a?phone=138****5678", "z***@example.com", 200, "138****5678")


# -- uvicorn --------------------------------------------------------------------------


def test_uvicorn_log_config_filters_every_handler() -> None:
    config = uvicorn_log_config()
    assert set(config["filters"]) >= {"pii", "pii_args"}
    assert config["filters"]["pii"]["()"] is RedactingFilter
    assert config["handlers"]["default"]["filters"] == ["pii"]
    assert config["handlers"]["access"]["filters"] == ["pii_args"]
    # uvicorn's own default is not touched.
    from uvicorn.config import LOGGING_CONFIG

    assert "filters" not in LOGGING_CONFIG["handlers"]["access"]


_UVICORN_SCRIPT = textwrap.dedent(
    """
    import logging, logging.config
    from shared.pii import uvicorn_log_config

    logging.config.dictConfig(uvicorn_log_config())
    # The arguments uvicorn's access log passes (h11_impl / httptools_impl).
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:50000", "GET", "/accounts?phone=13812345678", "1.1", 200,
    )
    logging.getLogger("uvicorn.error").warning("lookup for %s", "zhang.wei@example.com")
    try:
        raise ValueError("bad id 11010119900307123X")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    """
)


def test_uvicorn_handlers_redact_after_dict_config() -> None:
    # In a child process: dictConfig replaces (and closes) every handler in the process,
    # pytest's own included, so it is not run in this one.
    done = subprocess.run(
        [sys.executable, "-c", _UVICORN_SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Logging error" not in done.stderr, done.stderr
    everything = done.stdout + done.stderr
    for raw in (PHONE, "zhang.wei@", PRC_ID):
        assert raw not in everything
    # The access formatter still got the five args it unpacks.
    assert '127.0.0.1:50000 - "GET /accounts?phone=138****5678 HTTP/1.1" 200' in done.stdout
    assert "lookup for z***@example.com" in done.stderr
    assert "ValueError: bad id 110***********123X" in done.stderr


@pytest.mark.parametrize(
    ("line", "redacted"),
    [
        (
            "GET /accounts?phone=%2B8613812345678&email=zhang.wei%40example.com&page=2",
            "GET /accounts?phone=%2B86138****5678&email=z***%40example.com&page=2",
        ),
        ("GET /accounts?phone=+442079460958", "GET /accounts?phone=+********0958"),
        ("GET /borrowers/110101199003071234/cases", "GET /borrowers/110***********1234/cases"),
    ],
)
def test_redact_access_log_paths(line: str, redacted: str) -> None:
    assert redact(line) == redacted


# -- the command ------------------------------------------------------------------------

_CLI_SCRIPT = textwrap.dedent(
    """
    import argparse, logging
    from services import cli

    def log_something(args):
        logging.getLogger("shared.consumer").warning("call %s", "13812345678")

    command = argparse.ArgumentParser()
    command.set_defaults(fn=log_something)
    cli.parser = lambda: command
    cli.main([])
    """
)


def test_the_command_redacts_its_logs() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CLI_SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING shared.consumer call 138****5678" in done.stderr
    assert PHONE not in done.stderr


def test_serve_hands_uvicorn_the_redacting_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs, app=app))
    monkeypatch.setattr(
        cli, "bootstrap_module", lambda name: types.SimpleNamespace(create_app=lambda: name)
    )
    cli.cmd_serve(cli.parser().parse_args(["serve", "accounts", "--no-migrate", "--port", "8123"]))
    assert seen["app"] == "accounts"
    assert seen["log_config"] == uvicorn_log_config()
