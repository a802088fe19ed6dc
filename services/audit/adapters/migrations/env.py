"""Alembic environment of the audit service; the URL comes from its settings."""

from services.audit.adapters.tables import metadata
from shared.migrations import run_env

run_env(metadata)
