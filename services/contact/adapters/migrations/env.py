"""Alembic environment of the contact service; the URL comes from its settings."""

from services.contact.adapters.tables import metadata
from shared.migrations import run_env

run_env(metadata)
