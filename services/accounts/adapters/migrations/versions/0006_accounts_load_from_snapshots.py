"""accounts load from snapshots of their state plus the events after them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Starts empty: accounts replay from their events until their next snapshot is due.
    op.create_table(
        'snapshots',
        sa.Column('stream_id', sa.String(length=128), nullable=False),
        sa.Column('schema_version', sa.Integer(), nullable=False),
        sa.Column('stream_version', sa.Integer(), nullable=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('stream_id'),
    )


def downgrade() -> None:
    op.drop_table('snapshots')
