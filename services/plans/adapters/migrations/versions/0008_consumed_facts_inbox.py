"""the facts consumed from other services, kept so the read models can be rebuilt

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 07:15:00
"""
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



# Baseline facts get ids of their own: the events they stand for were never kept.
BASELINE = uuid.UUID("0d5f3a51-8b0e-4c56-9a43-2f4a3c1e7b08")


def _fact(event_id: str, type_: str, account_id: str, day: Any, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": type_,
        "account_id": account_id,
        "business_date": day,
        "data": json.dumps(data, sort_keys=True, default=str),
        "consumed_at": datetime.now(UTC),
    }


def _baseline(*key: str) -> str:
    return str(uuid.uuid5(BASELINE, "/".join(key)))


def _seed(facts: list[dict[str, Any]]) -> None:
    if facts:
        table = sa.table(
            "consumed_facts",
            *(sa.column(c) for c in ("event_id", "type", "account_id", "business_date", "data", "consumed_at")),
        )
        op.bulk_insert(table, facts)


def upgrade() -> None:
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
    # The read models' rows from before the inbox, as facts, so a rebuild keeps them.
    bind = op.get_bind()
    facts = []
    for r in bind.execute(sa.text("SELECT account_id, currency, product FROM known_accounts")):
        data = {"currency": r.currency, "product": r.product}
        facts.append(_fact(_baseline("opened", r.account_id), "AccountOpened", r.account_id, None, data))
    for m in bind.execute(sa.text("SELECT * FROM account_standings")).mappings():
        data = {k: m[k] for k in ("bucket", "days_past_due", "deferral_months_used")}
        data.update(balances=json.loads(m["balances"]), overdue=json.loads(m["overdue"]))
        day, account_id = m["business_date"], m["account_id"]
        facts.append(_fact(_baseline("close", account_id), "AccountDayClosed", account_id, day, data))
        if m["moved_since_close"]:
            facts.append(_fact(_baseline("paid", account_id), "PaymentAllocated", account_id, None, {}))
    bills: dict[tuple[str, str], list[str]] = {}
    for r in bind.execute(sa.text(
        "SELECT b.plan_id, b.bill_id, p.account_id FROM plan_bills b "
        "LEFT JOIN plan_index p ON p.plan_id = b.plan_id ORDER BY b.plan_id, b.bill_id"
    )):
        bills.setdefault((r.plan_id, r.account_id or ""), []).append(r.bill_id)
    for (plan_id, account_id), ids in bills.items():
        data = {"plan_id": plan_id, "bill_ids": ids}
        facts.append(_fact(_baseline("bills", plan_id), "BalanceReinstalled", account_id, None, data))
    # A plan a day close expired or broke: that close, by the id its plan event names.
    for r in bind.execute(sa.text(
        "SELECT p.account_id, p.ended_on, e.envelope FROM plan_index p JOIN events e "
        "ON e.stream_id = 'plan-' || p.plan_id AND e.type IN ('PlanExpired', 'PlanBroken')"
    )):
        cause = json.loads(r.envelope).get("causation_id")
        if cause and r.ended_on is not None:
            facts.append(_fact(cause, "AccountDayClosed", r.account_id, r.ended_on, {}))
    # An offer's basis, whose standing (the close of its date) may be gone since.
    for r in bind.execute(sa.text(
        "SELECT plan_id, account_id, offer_basis FROM plan_index WHERE offer_basis IS NOT NULL"
    )):
        data = {"plan_id": r.plan_id, "basis": r.offer_basis}
        facts.append(_fact(_baseline("basis", r.plan_id), "PlanOfferBasis", r.account_id, None, data))
    _seed(facts)


def downgrade() -> None:
    op.drop_index(op.f('ix_consumed_facts_account_id'), table_name='consumed_facts')
    op.drop_table('consumed_facts')
