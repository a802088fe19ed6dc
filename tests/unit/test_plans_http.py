"""The plan lifecycle over HTTP: each step, and a clear error for every bad request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.settings import Settings
from tests.support import (
    accept_offer,
    auth,
    bill,
    day_closed,
    envelope,
    eventually,
    ingest,
    opened,
    overdue_account,
    payment,
    plans_stack,
    request_option,
    running_stack,
)

PDF = b"%PDF-1.4\n% medical certificate\n"


def as_(s: dict[str, Settings], role: str, sub: str = "tester", account: str = "A1") -> Any:
    return auth(s["plans"], role, sub, [account] if role == "borrower" else None)


async def upload(
    http: dict[str, Any], content: bytes, headers: dict[str, str], account_id: str = "A1"
) -> Any:
    """Upload a medical document once plans knows the account; the last answer."""
    return await eventually(
        lambda: http["plans"].post(
            f"/v1/accounts/{account_id}/evidence?kind=medical", content=content, headers=headers
        ),
        lambda r: "no account" not in r.text,
    )


async def test_staff_request_offer_and_the_borrower_declines(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        plan = await request_option(
            http, s["plans"], "A1", "reinstallment", {"option_id": "reinstallment-6"}
        )
        agent = as_(s, "agent", "agent-1")
        r = await http["plans"].post(
            "/v1/accounts/A1/plans/" + plan["plan_id"] + "/offer",
            json={"option_id": "reinstallment-3"},
            headers=agent,
        )
        assert r.status_code == 200, r.text
        reoffered = r.json()
        assert reoffered["offer"]["proposed_by"] == "agent-1"
        assert len(reoffered["offer"]["terms"]["installments"]) == 3
        # The first offer's disclosure is no longer the one to accept.
        stale = await accept_offer(http, s["plans"], plan)
        assert stale.status_code == 422 and "disclosure" in stale.json()["detail"]

        r = await http["plans"].post(
            f"/v1/accounts/A1/plans/{plan['plan_id']}/decline",
            json={"channel": "app", "reason": "cannot afford it"},
            headers=as_(s, "borrower", "borrower-1"),
        )
        assert r.json()["state"] == "declined"
        again = await accept_offer(http, s["plans"], reoffered)
        assert again.status_code == 409
        assert f"cannot accept plan {plan['plan_id']}: it is declined" in again.json()["detail"]
        listed = (await http["plans"].get("/v1/accounts/A1/plans")).json()["plans"]
        assert [(p["plan_id"], p["state"]) for p in listed] == [(plan["plan_id"], "declined")]


async def test_unknown_account_and_unpriced_account_are_404(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        body = {"plan_type": "deferral", "channel": "agent"}
        r = await http["plans"].post("/v1/accounts/NOPE/plans", json=body)
        assert r.status_code == 404 and "no account NOPE" in r.json()["detail"]
        await ingest(http, opened("A2"))
        r = await eventually(
            lambda: http["plans"].post("/v1/accounts/A2/plans", json=body),
            lambda r: "no account" not in r.text,
        )
        assert r.status_code == 404 and "no day close" in r.json()["detail"]
        r = await http["plans"].get("/v1/accounts/A2/plans/not-a-plan")
        assert r.status_code == 404


async def test_a_second_plan_while_one_is_open_is_a_conflict(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        plan = await request_option(http, s["plans"], "A1", "deferral", {"option_id": "deferral-1"})
        r = await http["plans"].post(
            "/v1/accounts/A1/plans", json={"plan_type": "reinstallment", "channel": "agent"}
        )
        assert r.status_code == 409
        assert f"plan {plan['plan_id']}" in r.json()["detail"] and "one plan" in r.json()["detail"]
        await accept_offer(http, s["plans"], plan)
        r = await http["plans"].post(
            "/v1/accounts/A1/plans", json={"plan_type": "reinstallment", "channel": "agent"}
        )
        assert r.status_code == 409 and "active" in r.json()["detail"]


async def test_an_ineligible_request_names_the_rule(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        # Not yet due: nothing past due to re-spread and no late fee to waive.
        await ingest(http, opened("A1"), bill("A1", "B1"), day_closed("2026-03-05", "A1"))
        await eventually(
            lambda: http["plans"].post("/v1/accounts/A1/plans/quote", json={}),
            lambda r: r.status_code == 200,
        )
        r = await http["plans"].post(
            "/v1/accounts/A1/plans", json={"plan_type": "waiver", "channel": "agent"}
        )
        assert r.status_code == 422 and "eligibility" in r.json()["detail"]
        r = await http["plans"].post(
            "/v1/accounts/A1/plans",
            json={"plan_type": "deferral", "channel": "agent", "option": {"option_id": "nope"}},
        )
        assert r.status_code == 422 and "no option 'nope'" in r.json()["detail"]
        # ...and the refused request left no plan behind.
        assert (await http["plans"].get("/v1/accounts/A1/plans")).json()["plans"] == []


async def test_an_expired_offer_cannot_be_accepted(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        plan = await request_option(http, s["plans"], "A1", "deferral", {"option_id": "deferral-1"})
        assert plan["offer"]["expires_on"] == "2026-03-19"
        await ingest(http, day_closed("2026-03-20", "A1"))
        await eventually(
            lambda: http["plans"].get(f"/v1/accounts/A1/plans/{plan['plan_id']}"),
            lambda r: r.json()["state"] == "expired",
        )
        r = await accept_offer(http, s["plans"], plan)
        assert r.status_code == 409 and "it is expired" in r.json()["detail"]


async def test_an_offer_priced_before_the_balance_moved_must_be_re_offered(
    tmp_path: Path,
) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        plan = await request_option(
            http, s["plans"], "A1", "reinstallment", {"option_id": "reinstallment-3"}
        )
        # A payment after the close: prices from that close are stale until the next one.
        await ingest(http, payment("A1", "PAY1", 100_00, paid_at="2026-03-13T09:00:00+08:00"))
        await eventually(
            lambda: http["plans"].post("/v1/accounts/A1/plans/quote", json={}),
            lambda r: "a payment reached the account" in " ".join(r.json()["notes"]),
        )
        paid = await accept_offer(http, s["plans"], plan)
        assert paid.status_code == 409
        assert "a payment reached the account after the close of 2026-03-12" in paid.text
        await ingest(http, day_closed("2026-03-13", "A1"))
        stale = await eventually(
            lambda: accept_offer(http, s["plans"], plan), lambda r: "balances moved" in r.text
        )
        assert stale.status_code == 409
        borrower = as_(s, "borrower", "borrower-1")
        r = await http["plans"].post(
            f"/v1/accounts/A1/plans/{plan['plan_id']}/offer",
            json={"option_id": "reinstallment-3"},
            headers=borrower,
        )
        fresh = r.json()
        assert fresh["offer"]["terms"]["amount"] < plan["offer"]["terms"]["amount"]
        assert (await accept_offer(http, s["plans"], fresh)).json()["state"] == "active"


async def test_maker_checker_refuses_self_approval_and_non_supervisors(tmp_path: Path) -> None:
    policy = tmp_path / "plans-policy.json"
    thresholds = {"deferral": 10**9, "reinstallment": 1000, "waiver": 10**9, "personalised": 10**9}
    policy.write_text(json.dumps({"approval_thresholds": thresholds}))
    s = plans_stack(tmp_path, policy_file=policy)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        await eventually(
            lambda: http["plans"].post("/v1/accounts/A1/plans/quote", json={}),
            lambda r: r.status_code == 200 and r.json()["as_of"] == "2026-03-12",
        )
        sup1 = as_(s, "supervisor", "sup-1")
        r = await http["plans"].post(
            "/v1/accounts/A1/plans",
            json={"plan_type": "reinstallment", "channel": "agent"},
            headers=sup1,
        )
        url = f"/v1/accounts/A1/plans/{r.json()['plan_id']}"
        r = await http["plans"].post(
            f"{url}/offer", json={"option_id": "reinstallment-3"}, headers=sup1
        )
        assert r.json()["approval"] == "pending"
        assert "approval_thresholds.reinstallment" in r.json()["offer"]["approval_required"][0]
        own = await http["plans"].post(f"{url}/approve", headers=sup1)
        assert own.status_code == 403 and "cannot approve" in own.json()["detail"]
        agent = await http["plans"].post(f"{url}/approve", headers=as_(s, "agent"))
        assert agent.status_code == 403
        r = await http["plans"].post(
            f"{url}/reject",
            json={"reason": "term too short"},
            headers=as_(s, "supervisor", "sup-2"),
        )
        assert r.json()["state"] == "rejected"


INCOME = {"monthly_income": 1200_00, "essential_expenses": 400_00, "other_obligations": 200_00}


async def test_a_waiver_in_a_personalised_plan_waits_for_a_supervisor(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        await overdue_account(http, "A2")
        # An agent's offer: with the waiver a supervisor must approve it, without it not.
        r = await http["plans"].post(
            "/v1/accounts/A1/plans", json={"plan_type": "personalised", "channel": "agent"}
        )
        url = f"/v1/accounts/A1/plans/{r.json()['plan_id']}"
        option = {"option_id": "personalised", **INCOME}
        waived = await http["plans"].post(f"{url}/offer", json={**option, "with_waiver": True})
        assert waived.status_code == 200, waived.text
        assert waived.json()["offer"]["terms"]["waiver_amount"] > 0
        assert waived.json()["approval"] == "pending"
        [reason] = waived.json()["offer"]["approval_required"]
        assert "approval_thresholds.waiver (0 fen)" in reason
        plain = (await http["plans"].post(f"{url}/offer", json=option)).json()
        assert (plain["offer"]["terms"]["waiver_amount"], plain["approval"]) == (0, "none")

        # A borrower's pick in self-service is proposed by the system, and waits too.
        mine = await request_option(
            http, s["plans"], "A2", "personalised", {**option, "with_waiver": True}
        )
        assert mine["approval"] == "pending"
        early = await accept_offer(http, s["plans"], mine)
        assert early.status_code == 409 and "approval" in early.json()["detail"]
        approve = f"/v1/accounts/A2/plans/{mine['plan_id']}/approve"
        assert (await http["plans"].post(approve, headers=as_(s, "supervisor"))).status_code == 200
        assert (await accept_offer(http, s["plans"], mine)).json()["state"] == "active"


async def test_a_borrower_cannot_cancel_an_active_plan_but_an_agent_can(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        plan = await request_option(
            http, s["plans"], "A1", "reinstallment", {"option_id": "reinstallment-3"}
        )
        await accept_offer(http, s["plans"], plan)
        url = f"/v1/accounts/A1/plans/{plan['plan_id']}/cancel"
        body = {"reason": "changed my mind"}
        mine = await http["plans"].post(url, json=body, headers=as_(s, "borrower", "borrower-1"))
        assert mine.status_code == 403 and "ask an agent" in mine.json()["detail"]
        r = await http["plans"].post(url, json={"reason": "borrower asked, recorded call"})
        assert r.json()["state"] == "cancelled"
        # Accounts ends the pause when the plan is cancelled.
        agent = auth(s["accounts"], "agent")
        await eventually(
            lambda: http["accounts"].get("/v1/accounts/A1", headers=agent),
            lambda r: r.json()["relief"]["active_plans"] == [],
        )


@pytest.mark.parametrize(
    ("content", "content_type", "status", "says"),
    [
        (b"just some text", "text/plain", 415, "not accepted"),
        (b"MZ\x90\x00 an executable", "application/pdf", 415, "first bytes"),
        (b"", "application/pdf", 422, "empty"),
        (PDF + b"x" * 100, "application/pdf", 413, "evidence_max_bytes"),
    ],
)
async def test_bad_evidence_is_refused_with_the_reason(
    tmp_path: Path, content: bytes, content_type: str, status: int, says: str
) -> None:
    policy = tmp_path / "plans-policy.json"
    policy.write_text(json.dumps({"evidence_max_bytes": 100}))
    s = plans_stack(tmp_path, policy_file=policy)
    async with running_stack(s) as http:
        await ingest(http, opened("A1"))
        r = await upload(http, content, {"Content-Type": content_type})
        assert r.status_code == status and says in r.text
        assert (await http["plans"].get("/v1/accounts/A1/evidence")).json()["evidence"] == []


async def test_evidence_is_stored_once_and_only_cited_by_its_own_account(tmp_path: Path) -> None:
    s = plans_stack(tmp_path, policy_file=None)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        await overdue_account(http, "A2")
        borrower = {**as_(s, "borrower", "borrower-1"), "Content-Type": "application/pdf"}
        first = await eventually(
            lambda: http["plans"].post(
                "/v1/accounts/A1/evidence?kind=medical", content=PDF, headers=borrower
            ),
            lambda r: r.status_code != 404,
        )
        again = await http["plans"].post(
            "/v1/accounts/A1/evidence?kind=medical", content=PDF, headers=borrower
        )
        assert (first.status_code, again.status_code) == (201, 200)
        sha = first.json()["sha256"]
        assert len((await http["plans"].get("/v1/accounts/A1/evidence")).json()["evidence"]) == 1
        stored = list((tmp_path / "evidence").rglob(sha))
        assert len(stored) == 1 and stored[0].read_bytes() == PDF
        # Another account cannot cite it, nor read it.
        await eventually(
            lambda: http["plans"].post("/v1/accounts/A2/plans/quote", json={}),
            lambda r: r.status_code == 200 and r.json()["as_of"] == "2026-03-12",
        )
        r = await http["plans"].post(
            "/v1/accounts/A2/plans",
            json={"plan_type": "waiver", "channel": "agent",
                  "option": {"option_id": "waiver", "evidence": [sha]}},
        )  # fmt: skip
        assert r.status_code == 422 and "not received for account A2" in r.json()["detail"]
        r = await http["plans"].get(f"/v1/accounts/A2/evidence/{sha}", headers=as_(s, "supervisor"))
        assert r.status_code == 404
        r = await http["plans"].post(
            "/v1/accounts/A1/evidence?kind=horoscope", content=PDF, headers=borrower
        )
        assert r.status_code == 422


async def test_evidence_is_downloaded_as_an_attachment_never_sniffed_nor_cached(
    tmp_path: Path,
) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await ingest(http, opened("A1"))
        borrower = as_(s, "borrower", "b-1")
        up = await upload(http, PDF, {**borrower, "Content-Type": "application/pdf"})
        sha = up.json()["sha256"]
        doc = await http["plans"].get(
            f"/v1/accounts/A1/evidence/{sha}", headers=as_(s, "supervisor")
        )
        assert doc.status_code == 200 and doc.content == PDF
        assert doc.headers["x-content-type-options"] == "nosniff"
        assert doc.headers["cache-control"] == "no-store"
        assert doc.headers["content-disposition"] == (
            f"attachment; filename=\"medical-{sha}.pdf\"; filename*=UTF-8''medical-{sha}.pdf"
        )


def test_the_evidence_upload_documents_its_raw_body_and_kind(tmp_path: Path) -> None:
    from services.plans.bootstrap import create_app
    from tests.support import settings_for

    schema = create_app(settings_for("plans", tmp_path)).openapi()
    upload = schema["paths"]["/v1/accounts/{account_id}/evidence"]["post"]
    body = upload["requestBody"]
    assert body["required"] is True
    assert sorted(body["content"]) == ["application/pdf", "image/jpeg", "image/png"]
    for media in body["content"].values():
        assert media["schema"] == {"type": "string", "format": "binary"}
    [kind] = [p for p in upload["parameters"] if p["name"] == "kind"]
    assert kind["in"] == "query" and kind["required"] is True
    assert kind["schema"]["enum"] == ["unemployment", "medical", "disaster", "other"]


async def test_terms_accounts_refuses_cancel_the_plan_with_its_reason(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        plan = await request_option(
            http, s["plans"], "A1", "reinstallment", {"option_id": "reinstallment-3"}
        )
        await accept_offer(http, s["plans"], plan)
        # As accounts says when the balance moved between the close and the activation.
        runtime = http["plans"]._transport.app.state.runtime  # type: ignore[attr-defined]
        refused = envelope(
            "PlanTermsRefused",
            "A1",
            {
                "plan_id": plan["plan_id"],
                "reason": "the balance moved",
                "business_date": "2026-03-12",
            },
            source="accounts",
        )
        await runtime.log.publish(
            runtime.settings.topics.accounts, b"A1", json.dumps(refused).encode()
        )
        ended = await eventually(
            lambda: http["plans"].get(f"/v1/accounts/A1/plans/{plan['plan_id']}"),
            lambda r: r.json()["state"] == "cancelled",
        )
        assert ended.json()["state"] == "cancelled"
        events = (await http["plans"].get("/v1/accounts/A1/plans")).json()["plans"]
        assert events[0]["ended_on"] == "2026-03-12"


async def test_a_request_nobody_answers_lapses_and_frees_the_account(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        body = {"plan_type": "deferral", "channel": "app"}
        borrower = as_(s, "borrower", "borrower-1")
        first = await http["plans"].post("/v1/accounts/A1/plans", json=body, headers=borrower)
        assert first.status_code == 201
        blocked = await http["plans"].post("/v1/accounts/A1/plans", json=body, headers=borrower)
        assert blocked.status_code == 409
        # Requested on the 12th, unanswered: it lapses at the close of the 20th.
        await ingest(http, day_closed("2026-03-20", "A1"))
        lapsed = await eventually(
            lambda: http["plans"].get(f"/v1/accounts/A1/plans/{first.json()['plan_id']}"),
            lambda r: r.json()["state"] == "expired",
        )
        assert lapsed.json()["state"] == "expired"
        again = await http["plans"].post("/v1/accounts/A1/plans", json=body, headers=borrower)
        assert again.status_code == 201, again.text
