"""the book remembers the dates a close of every account closed, per scope

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Starts empty: closes fanned out before this revision reached every account indexed
    # then; an account opened from now on catches up the closes recorded from now on.
    op.create_table(
        'book_closes',
        sa.Column('scope', sa.String(length=200), nullable=False),
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('event', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'business_date'),
    )


def downgrade() -> None:
    op.drop_table('book_closes')
