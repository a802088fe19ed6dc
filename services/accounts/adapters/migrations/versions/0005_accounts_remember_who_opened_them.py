"""accounts remember which integrator opened them (for INTEGRATOR_ACCOUNT_SCOPING)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 22:55:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Accounts opened before this revision have no owner: scoping leaves them open to all.
    op.add_column('account_index', sa.Column('opened_by', sa.String(length=200), nullable=True))
    op.create_index('ix_account_index_opened_by', 'account_index', ['opened_by', 'account_id'])


def downgrade() -> None:
    op.drop_index('ix_account_index_opened_by', table_name='account_index')
    op.drop_column('account_index', 'opened_by')
