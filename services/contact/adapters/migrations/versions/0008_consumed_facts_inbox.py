"""the facts consumed from other services, kept so the read models can be rebuilt

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 07:15:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Starts empty: read-model rows from before it have no facts behind them, so a
    # rebuild of a database migrated with rows in it reports them (see the README).
    op.create_table('consumed_facts',
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('consumed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('position'),
    sa.UniqueConstraint('event_id')
    )
    op.create_index(op.f('ix_consumed_facts_account_id'), 'consumed_facts', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_consumed_facts_account_id'), table_name='consumed_facts')
    op.drop_table('consumed_facts')
