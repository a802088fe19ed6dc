"""Run-wide hooks: which Kafka and PostgreSQL the run uses, and which it actually started."""

from __future__ import annotations

import pytest

from tests.infra_start import STARTED, choices


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The path each dependency takes and why (the lookups only: nothing starts here)."""
    return [f"infra {choice.header()}" for choice in choices(config).values()]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The servers this run's fixtures used, as started (none when no tier needed one)."""
    for line in terminalreporter.config.stash.get(STARTED, []):
        terminalreporter.write_line(f"infra {line}")
