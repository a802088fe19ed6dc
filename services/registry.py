"""Where each service's bootstrap lives, for the CLI and the one-origin gateway.

This module sits above the services and may name all four; the services themselves
never import each other.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from shared.settings import SERVICES


def bootstrap_module(service: str) -> ModuleType:
    """The `bootstrap` module of a service."""
    if service not in SERVICES:
        raise SystemExit(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    return importlib.import_module(f"services.{service}.bootstrap")


def migrations_dir(service: str) -> Path:
    """The Alembic folder of a service."""
    return bootstrap_module(service).MIGRATIONS
