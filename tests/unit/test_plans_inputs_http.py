"""Plans over HTTP as an attacker drives it: every malformed input is a 4xx naming what is
wrong, and changes nothing; never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from services.plans.entrypoints.bodies import JSON_MAX_BODY_BYTES
from tests.support import auth, ingest, opened, overdue_account, plans_stack, running_stack
from tests.unit.test_plans_http import PDF, upload

OVER = JSON_MAX_BODY_BYTES + 1


def padded(size: int, **fields: Any) -> bytes:
    """A JSON object of `fields` padded with spaces to `size` bytes."""
    body = json.dumps(fields).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def chunks(body: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    """`body` streamed without a declared length (chunked)."""
    for i in range(0, len(body), size):
        yield body[i : i + size]


def too_large(r: httpx.Response) -> bool:
    return (
        r.status_code == 413
        and r.headers["content-type"] == "application/problem+json"
        and f"{JSON_MAX_BODY_BYTES} bytes" in r.json()["detail"]
    )


async def test_json_bodies_are_capped_per_route_declared_or_chunked(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        json_type = {"Content-Type": "application/json"}
        request = {"plan_type": "deferral", "channel": "agent"}
        for url in ("/v1/accounts/A1/plans", "/v1/accounts/A1/plans/quote"):
            big = padded(OVER, **request)
            declared = await http["plans"].post(url, content=big, headers=json_type)
            assert too_large(declared), declared.text
            chunked = await http["plans"].post(url, content=chunks(big), headers=json_type)
            assert "content-length" not in chunked.request.headers
            assert too_large(chunked), chunked.text
        # ...and nothing was requested. A body at the cap is parsed as usual.
        assert (await http["plans"].get("/v1/accounts/A1/plans")).json()["plans"] == []
        r = await http["plans"].post(
            "/v1/accounts/A1/plans",
            content=padded(JSON_MAX_BODY_BYTES, **request),
            headers=json_type,
        )
        assert r.status_code == 201, r.text
        plan = f"/v1/accounts/A1/plans/{r.json()['plan_id']}"
        # A route without a body is capped too.
        r = await http["plans"].post(
            f"{plan}/approve", content=b"x" * OVER, headers=auth(s["plans"], "supervisor")
        )
        assert too_large(r)


async def test_the_evidence_upload_keeps_the_evidence_limit(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await ingest(http, opened("A1"))
        document = PDF + b"\0" * OVER
        r = await upload(http, document, {"Content-Type": "application/pdf"})
        assert r.status_code == 201, r.text
        assert r.json()["size"] == len(document)


SHA = "ab" * 32
# route (relative to the account, {plan} for the plan's url) -> bad bodies, each with the
# field the 422 must name.
LOOSE_OR_ABSURD: dict[str, list[tuple[dict[str, Any], str]]] = {
    "plans/quote": [
        ({"with_waiver": 0}, "with_waiver"),
        ({"with_waiver": "true"}, "with_waiver"),
        ({"monthly_income": "100000"}, "monthly_income"),
        ({"monthly_income": True}, "monthly_income"),
        ({"monthly_income": 1000.0}, "monthly_income"),
        ({"monthly_income": -1}, "monthly_income"),
        ({"monthly_income": 2**53}, "monthly_income"),
        ({"monthly_income": 2**64}, "monthly_income"),
        ({"monthly_income": 10**30}, "monthly_income"),
        ({"monthly_income": 1, "essential_expenses": 10**30}, "essential_expenses"),
        ({"monthly_income": 1, "other_obligations": 2**53}, "other_obligations"),
    ],
    "plans": [
        ({"plan_type": "deferral", "channel": 1}, "channel"),
        ({"plan_type": "deferral", "channel": "app "}, "channel"),
        ({"plan_type": 0, "channel": "app"}, "plan_type"),
        ({"plan_type": "deferral", "channel": "app", "option": {"option_id": "   "}}, "option_id"),
        ({"plan_type": "deferral", "channel": "app", "option": {"option_id": ""}}, "option_id"),
        (
            {"plan_type": "deferral", "channel": "app", "option": {"option_id": "deferral-1\x00"}},
            "option_id",
        ),
        (
            {"plan_type": "deferral", "channel": "app", "option": {"option_id": "d" * 65}},
            "option_id",
        ),
        (
            {
                "plan_type": "deferral",
                "channel": "app",
                "option": {"option_id": "deferral-1", "with_waiver": 1},
            },
            "with_waiver",
        ),
        (
            {
                "plan_type": "personalised",
                "channel": "app",
                "option": {"option_id": "personalised", "monthly_income": 10**30},
            },
            "monthly_income",
        ),
    ],
    "{plan}/offer": [
        ({"option_id": 3}, "option_id"),
        ({"option_id": "reinstallment-3", "with_waiver": 0}, "with_waiver"),
        ({"option_id": "personalised", "monthly_income": "5000"}, "monthly_income"),
        ({"option_id": "personalised", "monthly_income": 2**64}, "monthly_income"),
        ({"option_id": "reinstallment-3", "evidence": [SHA, SHA]}, "evidence"),
        ({"option_id": "reinstallment-3", "evidence": [SHA.upper()]}, "evidence"),
        (
            {"option_id": "reinstallment-3", "evidence": [f"{i:064x}" for i in range(21)]},
            "evidence",
        ),
    ],
    "{plan}/accept": [
        ({"channel": "app", "disclosure_sha256": 0}, "disclosure_sha256"),
        ({"channel": "app", "disclosure_sha256": SHA + "\n"}, "disclosure_sha256"),
        ({"channel": True, "disclosure_sha256": SHA}, "channel"),
    ],
    "{plan}/decline": [
        ({"channel": "app", "reason": " \t "}, "reason"),
        ({"channel": "app", "reason": "no\x00"}, "reason"),
        ({"channel": "app", "reason": "no\u202eon"}, "reason"),
        ({"channel": "app", "reason": "x" * 501}, "reason"),
        ({"channel": "app", "reason": 5}, "reason"),
    ],
    "{plan}/cancel": [
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "first line\nsecond line"}, "reason"),
        ({"reason": ["a list"]}, "reason"),
    ],
    "{plan}/reject": [({"reason": "\x07"}, "reason"), ({"reason": "\u3000"}, "reason")],
}


async def test_loose_blank_or_absurd_values_are_422_naming_the_field(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        r = await http["plans"].post(
            "/v1/accounts/A1/plans", json={"plan_type": "reinstallment", "channel": "agent"}
        )
        plan = r.json()
        supervisor = auth(s["plans"], "supervisor")
        wrong = []
        for route, cases in LOOSE_OR_ABSURD.items():
            url = "/v1/accounts/A1/" + route.format(plan=f"plans/{plan['plan_id']}")
            for body, field in cases:
                r = await http["plans"].post(url, json=body, headers=supervisor)
                if r.status_code != 422 or field not in r.text:
                    wrong.append((route, body, r.status_code, r.text[:200]))
        assert wrong == []
        # None of it changed anything.
        after = await http["plans"].get(f"/v1/accounts/A1/plans/{plan['plan_id']}")
        assert (after.json()["state"], after.json()["version"]) == ("requested", plan["version"])
        assert len((await http["plans"].get("/v1/accounts/A1/plans")).json()["plans"]) == 1
        # Words in any script, with spaces and symbols, are words.
        r = await http["plans"].post(
            f"/v1/accounts/A1/plans/{plan['plan_id']}/cancel",
            json={"reason": "借款人要求撤回 (call #2, 09:30) ✓"},
        )
        assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text


async def test_ids_out_of_bounds_unknown_or_of_another_account_are_4xx(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        await ingest(http, opened("A2"))
        r = await http["plans"].post(
            "/v1/accounts/A1/plans", json={"plan_type": "reinstallment", "channel": "agent"}
        )
        plan_id = r.json()["plan_id"]
        supervisor = auth(s["plans"], "supervisor")
        long_id = "p" * 65
        steps = {
            "offer": {"option_id": "reinstallment-3"},
            "approve": None,
            "reject": {"reason": "no"},
            "accept": {"channel": "app", "disclosure_sha256": "ab" * 32},
            "decline": {"channel": "app"},
            "cancel": {"reason": "no"},
        }
        for step, body in steps.items():
            for account, pid, status in (
                ("A2", plan_id, 404),  # another account's plan is no plan of this one
                ("A1", "7d0c1d5e-0000-4000-8000-000000000000", 404),
                ("A1", "%E2%82%AC%00%01", 404),
                ("A1", long_id, 422),
                ("A" * 65, plan_id, 422),
            ):
                r = await http["plans"].post(
                    f"/v1/accounts/{account}/plans/{pid}/{step}", json=body, headers=supervisor
                )
                assert r.status_code == status, (step, account, pid, r.text)
        for url, status in (
            (f"/v1/accounts/A2/plans/{plan_id}", 404),
            (f"/v1/accounts/A1/plans/{long_id}", 422),
            ("/v1/accounts/" + "A" * 65 + "/plans", 422),
            ("/v1/accounts/" + "A" * 65 + "/evidence", 422),
        ):
            r = await http["plans"].get(url, headers=supervisor)
            assert r.status_code == status, (url, r.text)
        state = await http["plans"].get(f"/v1/accounts/A1/plans/{plan_id}")
        assert state.json()["state"] == "requested"


async def test_nan_and_infinity_are_not_json_numbers(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        json_type = {"Content-Type": "application/json"}
        for constant in ("NaN", "Infinity", "-Infinity"):
            body = f'{{"monthly_income": {constant}}}'.encode()
            r = await http["plans"].post("/v1/accounts/A1/plans/quote", content=body,
                                         headers=json_type)  # fmt: skip
            assert r.status_code == 422 and constant in r.json()["detail"], r.text
        # As text they are words like any other; nested beyond reading is still a 4xx.
        r = await http["plans"].post(
            "/v1/accounts/A1/plans",
            json={"plan_type": "deferral", "channel": "app", "reason": "NaN Infinity"},
        )
        assert r.status_code == 422 and "reason" in r.text  # no such field, but parsed
        deep = b"[" * 20_000 + b"NaN" + b"]" * 20_000
        r = await http["plans"].post("/v1/accounts/A1/plans/quote", content=deep,
                                     headers=json_type)  # fmt: skip
        assert 400 <= r.status_code < 500
