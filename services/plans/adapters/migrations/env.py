"""Alembic environment of the plans service; the URL comes from its settings."""

from services.plans.adapters.tables import metadata
from shared.migrations import run_env

run_env(metadata)
