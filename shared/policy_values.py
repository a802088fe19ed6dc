"""Reading policy settings files: exact values or an error that names the key."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from shared.settings import SettingsError

T = TypeVar("T")


class PolicyError(ValueError):
    """A policy mapping that cannot be used; the message names the offending key."""


def integer(key: str, value: Any) -> int:
    """An integer setting (booleans are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{key}: must be an integer, got {value!r}")
    return value


def decimal(key: str, value: Any) -> Decimal:
    """A decimal setting, exact: floats are refused (0.0005 as a float is not 0.0005)."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise PolicyError(f"{key}: must be a decimal string such as '0.0005', got {value!r}")
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise PolicyError(f"{key}: not a decimal: {value!r}") from None
    if not out.is_finite():
        raise PolicyError(f"{key}: must be finite")
    return out


def load_policy(path: Path | None, parse: Callable[[Any], T], default: T) -> T:
    """A service's policy parsed from the JSON file at `path`, or `default` without one;
    an unreadable file or a bad value raises SettingsError naming the file and the key."""
    if path is None:
        return default
    try:
        return parse(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"POLICY_FILE {path}: {exc}") from exc
