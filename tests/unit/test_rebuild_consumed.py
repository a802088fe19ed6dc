"""`arrears rebuild plans` and `arrears rebuild contact`: read models fed by other services'
facts, rebuilt from the facts each service kept in its inbox and its own store, equal the
live ones row for row."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, update

from services.cli import main
from services.contact.adapters.tables import borrowers, open_cases, payments, standings
from services.contact.service_layer.projections import PROJECTION as CONTACT
from services.plans.adapters.tables import account_standings, known_accounts, plan_bills
from services.plans.adapters.tables import plan_index as plans_index
from services.plans.service_layer.projections import PROJECTION as PLANS
from services.registry import migrations_dir
from shared.eventstore.inbox import Fact
from shared.eventstore.rebuild import Projection, Target
from shared.migrations import alembic_config, upgrade
from shared.settings import Settings
from tests.support import (
    accept_offer,
    auth,
    bill,
    day_closed,
    eventually,
    ingest,
    opened,
    overdue_account,
    payment,
    request_option,
    running_stack,
    settings_for,
)
from tests.unit.test_rebuild import change, rows_of, run_rebuild

SERVICES = ("accounts", "plans", "contact")


async def plan_state(http: dict[str, Any], plan: dict[str, Any], state: str) -> None:
    url = f"/v1/accounts/{plan['account_id']}/plans/{plan['plan_id']}"
    await eventually(lambda: http["plans"].get(url), lambda r: r.json()["state"] == state)


async def requested(http: dict[str, Any], s: Settings, account_id: str) -> dict[str, Any]:
    """An overdue account whose borrower asks for a deferral and picks no option."""
    await overdue_account(http, account_id)
    r = await http["plans"].post(
        f"/v1/accounts/{account_id}/plans",
        json={"plan_type": "deferral", "channel": "app"},
        headers=auth(s, "borrower", "borrower-1", [account_id]),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def workload(s: dict[str, Settings]) -> None:
    """Plans requested, offered, accepted, paid to completion, broken, expired and
    cancelled; contact's cases opened and cured on the way; accounts never in plans."""
    async with running_stack(s) as http:
        # A re-installment paid in full: completed.
        await overdue_account(http, "R1")
        r1 = await request_option(
            http, s["plans"], "R1", "reinstallment", {"option_id": "reinstallment-3"}
        )
        active = (await accept_offer(http, s["plans"], r1)).json()
        owed = sum(i["amount"] for i in active["installments"])
        # Accounts re-bills the plan before the payment: plans learns the plan's bills.
        await eventually(
            lambda: http["accounts"].get("/v1/accounts/R1", headers=auth(s["accounts"], "agent")),
            lambda r: r.json()["relief"]["delinquency_paused"],
        )
        await ingest(http, payment("R1", "PAY1", owed, paid_at="2026-03-20T10:00:00+08:00"))
        await plan_state(http, r1, "completed")
        # A deferral left unpaid past its grace: broken at a day close.
        await overdue_account(http, "D1")
        d1 = await request_option(http, s["plans"], "D1", "deferral", {"option_id": "deferral-1"})
        assert (await accept_offer(http, s["plans"], d1)).status_code == 200
        await ingest(http, day_closed("2026-04-16", "D1"))
        await plan_state(http, d1, "broken")
        # An offer nobody accepted (its basis kept), then a payment moves the standing.
        await overdue_account(http, "E1")
        e1 = await request_option(http, s["plans"], "E1", "deferral", {"option_id": "deferral-1"})
        await ingest(http, payment("E1", "PAY-E", 10_00, paid_at="2026-03-13T10:00:00+08:00"))
        # A request cancelled by the borrower, and one that expires unanswered.
        c1 = await requested(http, s["plans"], "C1")
        r = await http["plans"].post(
            f"/v1/accounts/C1/plans/{c1['plan_id']}/cancel",
            json={"reason": "changed my mind"},
            headers=auth(s["plans"], "borrower", "borrower-1", ["C1"]),
        )
        assert r.status_code == 200, r.text
        x1 = await requested(http, s["plans"], "X1")
        await ingest(http, day_closed("2026-03-25", "X1"))
        await plan_state(http, x1, "expired")
        # Accounts plans never hears a plan for; one cured (its case closed in contact).
        await ingest(http, opened("N1"), bill("N1", "NB1", principal=300_00))
        await ingest(http, day_closed("2026-03-15", "N1"))
        await ingest(http, payment("N1", "NP1", 300_00, paid_at="2026-03-16T10:00:00+08:00"))
        await ingest(http, day_closed("2026-03-17", "N1"))
        await eventually(
            lambda: http["contact"].get("/v1/accounts/N1/case"), lambda r: r.status_code == 404
        )
        assert e1["state"] == "offered"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the workload, copied by each test that changes it."""
    data_dir = tmp_path_factory.mktemp("rebuild-consumed")
    asyncio.run(workload({name: settings_for(name, data_dir) for name in SERVICES}))
    return data_dir


@pytest.fixture
def install(ran: Path, tmp_path: Path) -> dict[str, Settings]:
    copy = tmp_path / "install"
    shutil.copytree(ran, copy)
    return {name: settings_for(name, copy) for name in SERVICES}


@pytest.mark.parametrize(("service", "projection"), [("plans", PLANS), ("contact", CONTACT)])
async def test_a_rebuild_from_the_inbox_and_the_store_equals_the_live_read_models(
    install: dict[str, Settings], service: str, projection: Projection
) -> None:
    s = install[service]
    live = await rows_of(s, projection.tables)
    assert all(live.values()), live  # the workload filled every table
    seen: list[tuple[int, int]] = []
    report = await run_rebuild(s, projection, page=7, progress=lambda d, t: seen.append((d, t)))
    assert report.equal, report.tables
    assert seen[-1][0] == seen[-1][1] == report.events and len(seen) > 3
    assert await rows_of(s, projection.tables) == live


async def test_the_plans_workload_reached_every_end(install: dict[str, Settings]) -> None:
    rows = (await rows_of(install["plans"], (plans_index,)))["plan_index"]
    by_state = {r[3]: r for r in rows}
    assert set(by_state) == {"completed", "broken", "offered", "cancelled", "expired"}
    # ended_on came from a day close (broken, expired), a payment or a cancellation.
    assert all(by_state[s][6] is not None for s in ("completed", "broken", "cancelled", "expired"))
    assert by_state["offered"][7] is not None  # the offer's basis


REBUILT = {
    "plans": {"known_accounts", "account_standings", "plan_bills", "plan_index"},
    "contact": {"borrowers", "standings", "payments", "open_cases"},
}
TAMPER = {
    "plans": [
        update(known_accounts).where(known_accounts.c.account_id == "N1").values(product="x"),
        update(account_standings)
        .where(account_standings.c.account_id == "E1")
        .values(moved_since_close=False),
        delete(plan_bills),
        update(plans_index).values(ended_on=None),
        update(plans_index).values(offer_basis="stale"),
    ],
    "contact": [
        update(borrowers).where(borrowers.c.account_id == "N1").values(time_zone="UTC"),
        update(standings).where(standings.c.account_id == "D1").values(days_past_due=0),
        delete(payments),
        update(open_cases).values(segment="hardship"),
    ],
}


@pytest.mark.parametrize(("service", "projection"), [("plans", PLANS), ("contact", CONTACT)])
async def test_a_check_finds_each_tampered_table_and_a_rebuild_repairs_it(
    install: dict[str, Settings], service: str, projection: Projection
) -> None:
    s = install[service]
    # Every projected table is rebuilt: none left out of the projection.
    assert {t.name for t in projection.tables} == REBUILT[service]
    live = await rows_of(s, projection.tables)
    for statement in TAMPER[service]:
        await change(s, statement)
    checked = await run_rebuild(s, projection, check=True)
    assert {name for name, d in checked.tables.items() if not d.equal} == {
        t.name for t in projection.tables
    }
    assert await rows_of(s, projection.tables) != live  # a check changes nothing
    assert not (await run_rebuild(s, projection)).equal
    assert await rows_of(s, projection.tables) == live
    assert (await run_rebuild(s, projection, check=True)).equal


@pytest.mark.parametrize(
    ("service", "projection", "skipped"),
    [
        ("plans", PLANS, "BalanceReinstalled"),
        ("plans", PLANS, "PaymentAllocated"),
        ("contact", CONTACT, "PaymentAllocated"),
        ("contact", CONTACT, "DelinquencyBucketChanged"),
    ],
)
async def test_a_rebuild_that_skips_a_fact_is_caught(
    install: dict[str, Settings], service: str, projection: Projection, skipped: str
) -> None:
    assert projection.facts is not None
    facts = projection.facts

    async def skipping(t: Target, fact: Fact) -> Any:
        if fact.type != skipped:
            return await facts(t, fact)
        return None

    broken = dataclasses.replace(projection, facts=skipping)
    assert not (await run_rebuild(install[service], broken, check=True)).equal


async def test_a_rebuild_that_skips_the_plan_streams_is_caught(
    install: dict[str, Settings],
) -> None:
    broken = dataclasses.replace(PLANS, types=())
    report = await run_rebuild(install["plans"], broken, check=True)
    assert not report.tables["plan_index"].equal


def test_the_cli_checks_and_rebuilds_plans_and_contact(
    install: dict[str, Settings], monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setenv("DATA_DIR", str(install["plans"].data_dir))
    for service in ("plans", "contact"):
        monkeypatch.setenv(f"{service.upper()}_DATABASE_URL", install[service].database_url)
        main(["rebuild", service, "--check"])
        assert ": equal" in capsys.readouterr().err
    asyncio.run(change(install["plans"], delete(known_accounts)))
    with pytest.raises(SystemExit) as exc:
        main(["rebuild", "plans", "--check"])
    assert exc.value.code == 1
    assert "known_accounts: 0 live rows, 6 rebuilt" in capsys.readouterr().err
    main(["rebuild", "plans"])
    assert '"replaced": true' in capsys.readouterr().out
    main(["rebuild", "plans", "--check"])


@pytest.mark.parametrize(("service", "projection"), [("plans", PLANS), ("contact", CONTACT)])
def test_a_database_from_before_the_inbox_rebuilds_to_its_own_rows(
    install: dict[str, Settings], service: str, projection: Projection
) -> None:
    # As if the workload had run before migration 0008: no inbox, read models full.
    from_before_the_inbox(install[service])
    report = asyncio.run(run_rebuild(install[service], projection, check=True))
    assert report.equal, report.tables
    assert all(d.rebuilt for d in report.tables.values())


def from_before_the_inbox(s: Settings) -> None:
    """Migrate the service's database down to before the inbox, then up again."""
    command.downgrade(alembic_config(s, migrations_dir(s.service)), "0007")
    upgrade(s, migrations_dir(s.service))
