"""Alembic environment of the accounts service; the URL comes from its settings."""

from services.accounts.adapters.tables import metadata
from shared.migrations import run_env

run_env(metadata)
