"""Personal data out of the hash chain: commitments in, values beside it, masked by kind,
disclosed with their salt, erased after retention (issue 11 item 4)."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.audit.adapters.tables import audit_personal_values, audit_subject_keys
from services.audit.bootstrap import bootstrap as audit_bootstrap
from services.audit.domain.bundle import verify_bundle
from services.audit.domain.personal import ERASED, MARKER, commitment, get_at
from services.audit.service_layer.rebuild import heads_and_root, rebuild
from services.cli import parser
from tests.support import auth, envelope, eventually, now, opened, running_stack, settings_for
from tests.unit.test_audit_report import pdf_text

Clients = dict[str, httpx.AsyncClient]

# The values of the issue, each of which audit showed in clear to compliance.
FULL_WIDTH = "\uff11\uff13\uff18\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"  # 13812345678
PHONES = ["2025550143", "010-65529988", "0755 8601 3388", "138.1234.5678", FULL_WIDTH]
CUSTOMER_ID = "01065529988"
IDN_EMAIL = "张伟@例子.中国"
REASON = "I never took out this loan"


def needles() -> list[str]:
    """Each value as written, and its digits alone (full-width ones made ASCII)."""
    out = []
    for value in [*PHONES, CUSTOMER_ID, IDN_EMAIL]:
        out.append(value)
        digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", value))
        if len(digits) >= 7:
            out.append(digits)
    out.append("张伟")  # the name part of the IDN address
    return out


def leaked(text: str) -> list[str]:
    return [n for n in needles() if n in text]


def when(days_ago: int) -> str:
    return (now() - timedelta(days=days_ago)).isoformat()


async def seed(http: Clients, account: str, days_ago: int) -> None:
    """An account whose events carry every personal value of the issue, `days_ago` old."""
    at = when(days_ago)
    events = [
        {**opened(account, customer_id=CUSTOMER_ID), "occurred_at": at},
        *(
            envelope("ContactPointReported", account, {"kind": "phone", "value": v}, occurred_at=at)
            for v in PHONES
        ),
        envelope(
            "ContactPointReported", account, {"kind": "email", "value": IDN_EMAIL}, occurred_at=at
        ),
    ]
    r = await http["accounts"].post("/v1/inbound/events", json={"events": events})
    assert r.status_code == 200, r.text
    # What the borrower wrote reaches audit on the contact topic, as contact publishes it.
    runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
    dispute = envelope("DebtDisputed", account, {"debt_id": "B1", "reason": REASON}, occurred_at=at)
    await runtime.log.publish(
        runtime.settings.topics.contact,
        account.encode(),
        json.dumps({**dispute, "source": "contact"}).encode(),
    )
    await eventually(lambda: history(http, account), lambda r: len(r.json()["entries"]) >= 8)


async def history(http: Clients, account: str, **params: Any) -> httpx.Response:
    return await http["audit"].get(
        f"/v1/accounts/{account}/history", params={"purpose": "test", **params}
    )


async def get(http: Clients, path: str, **params: Any) -> httpx.Response:
    r = await http["audit"].get(path, params={"purpose": "complaint 7", **params})
    assert r.status_code == 200, r.text
    return r


async def checkpoint(http: Clients) -> None:
    made = await http["audit"].post("/v1/checkpoints", params={"purpose": "test"})
    assert made.status_code == 201, made.text


def as_text(r: httpx.Response) -> str:
    if r.headers["content-type"].startswith("application/json"):
        return json.dumps(r.json(), ensure_ascii=False)
    return r.text


@pytest.fixture
def stack(tmp_path: Path) -> dict[str, Any]:
    return {
        "accounts": settings_for("accounts", tmp_path),
        "audit": settings_for("audit", tmp_path, audit_retention_days=30),
    }


async def test_no_read_shows_compliance_a_contact_detail_reveal_or_not(
    stack: dict[str, Any],
) -> None:
    async with running_stack(stack) as http:
        await seed(http, "P1", days_ago=1)
        await checkpoint(http)
        for reveal in ("false", "true"):
            for path in ("history", "story", "export.csv", "bundle", "state"):
                r = await get(http, f"/v1/accounts/P1/{path}", reveal=reveal)
                assert leaked(as_text(r)) == [], (path, reveal)
            pdf = await get(http, "/v1/accounts/P1/report.pdf", reveal=reveal)
            assert leaked(pdf_text(pdf.content)) == []
        # Masked by the kind the catalogue declares, not guessed from the text.
        entries = (await history(http, "P1")).json()["entries"]
        shown = {e["data"].get("value") or e["data"].get("customer_id") for e in entries}
        assert {"**** **** 3388", "***-****9988", "*******9988", "张***@例子.中国"} <= shown
        (dispute,) = [e for e in entries if e["type"] == "DebtDisputed"]
        assert dispute["data"]["reason"] == "\u2039withheld: 26 characters\u203a"
        assert dispute["personal"] == [{"path": "reason", "kind": "text", "shown": "masked"}]

        # Compliance reads what a borrower wrote when it asks to; the read says so.
        revealed = (await history(http, "P1", reveal="true")).json()["entries"]
        (dispute,) = [e for e in revealed if e["type"] == "DebtDisputed"]
        assert dispute["data"]["reason"] == REASON
        log = (await get(http, "/v1/access-log", account_id="P1")).json()["entries"]
        assert any(e["filters"].get("reveal") and e["filters"]["revealed"] >= 1 for e in log)


async def test_the_chain_holds_commitments_and_the_values_sit_beside_it(
    stack: dict[str, Any],
) -> None:
    async with running_stack(stack) as http:
        await seed(http, "P2", days_ago=1)
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.uow() as uow:
            stored = await uow.trail.stored_entries("P2", 100)
            kept = (
                await uow.session.execute(
                    select(audit_personal_values.c.value).where(
                        audit_personal_values.c.account_id == "P2"
                    )
                )
            ).scalars()
            assert set(kept) == {*PHONES, CUSTOMER_ID, IDN_EMAIL, REASON}
        assert leaked(json.dumps(stored, ensure_ascii=False)) == []
        opened_event = json.loads(next(e for e in stored if e["type"] == "AccountOpened")["event"])
        marker = opened_event["data"]["customer_id"]
        assert set(marker) == {MARKER, "kind"} and marker["kind"] == "id_number"


async def test_a_bundle_verifies_without_values_and_a_disclosure_checks_against_the_chain(
    stack: dict[str, Any],
) -> None:
    async with running_stack(stack) as http:
        await seed(http, "P3", days_ago=1)
        await checkpoint(http)
        plain = json.loads((await get(http, "/v1/accounts/P3/bundle")).text)
        assert plain["disclosures"] == [] and verify_bundle(plain) == []
        assert REASON not in json.dumps(plain)

        bundle = json.loads((await get(http, "/v1/accounts/P3/bundle", reveal="true")).text)
        assert verify_bundle(bundle) == []
        # Compliance may read a borrower's text, never their contact details.
        (disclosure,) = bundle["disclosures"]
        assert disclosure["kind"] == "text" and disclosure["value"] == REASON
        # Checked by hand, as the README says: HMAC-SHA256(salt, value) is the commitment.
        entry = next(e for e in bundle["entries"] if e["seq"] == disclosure["seq"])
        node = get_at(json.loads(entry["event"])["data"], disclosure["path"])
        assert commitment(bytes.fromhex(disclosure["salt"]), REASON) == node[MARKER]

        lie = {**bundle, "disclosures": [{**disclosure, "value": "I took it"}]}
        assert any("do not match the entry's commitment" in p for p in verify_bundle(lie))


async def test_erasure_is_refused_before_retention_ends_and_only_for_compliance(
    tmp_path: Path,
) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        await seed(http, "P4", days_ago=1)
        url = "/v1/accounts/P4/personal-data/erasure"
        early = await http["audit"].post(url, json={"reason": "borrower asked"})
        assert early.status_code == 409, early.text
        ends = (now() - timedelta(days=1) + timedelta(days=1095)).date().isoformat()
        assert "runs until" in early.json()["detail"] and ends in early.json()["detail"]
        agent = auth(settings["audit"], "agent")
        denied = await http["audit"].post(url, json={"reason": "x" * 9}, headers=agent)
        assert denied.status_code == 403
        assert (await http["audit"].post(url, json={})).status_code == 422
        missing = await http["audit"].post(
            "/v1/accounts/NOPE/personal-data/erasure", json={"reason": "asked"}
        )
        assert missing.status_code == 404
        # Nothing was erased by the refusals.
        entries = (await history(http, "P4", reveal="true")).json()["entries"]
        assert all(f["shown"] != "erased" for e in entries for f in e["personal"])


async def test_erasure_keeps_every_chain_verifying_and_survives_a_rebuild(
    stack: dict[str, Any],
) -> None:
    async with running_stack(stack) as http:
        await seed(http, "P5", days_ago=40)
        await seed(http, "P6", days_ago=40)
        r = await http["audit"].post(
            "/v1/accounts/P5/personal-data/erasure", json={"reason": "retention ended, case 9"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["values_erased"] == len(PHONES) + 3
        assert (await get(http, "/v1/verify")).json()["intact"] is True
        await checkpoint(http)
        bundle = json.loads((await get(http, "/v1/accounts/P5/bundle", reveal="true")).text)
        assert verify_bundle(bundle) == [] and bundle["disclosures"] == []
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.uow() as uow:
            assert await uow.trail.subject_key("P5") is None and await uow.trail.subject_key("P6")
        before = await heads_and_root(runtime)
        erased_view = await erased_reads(http, "P5")

    runtime = audit_bootstrap(stack["audit"])
    await runtime.start(consume=False)
    try:
        await rebuild(runtime)
        assert await heads_and_root(runtime) == before
        async with runtime.uow() as uow:
            assert await uow.trail.verify("P5") is None and await uow.trail.verify("P6") is None
            assert await uow.trail.personal_values("P5", 1, 100) == {}
            assert await uow.trail.subject_key("P5") is None
            assert len(await uow.trail.personal_values("P6", 1, 100)) == len(PHONES) + 3
    finally:
        await runtime.stop()
    async with running_stack(stack) as http:
        assert await erased_reads(http, "P5") == erased_view


async def erased_reads(http: Clients, account: str) -> dict[str, Any]:
    """What compliance reads of an erased account: every value erased, the erasure told."""
    entries = (await history(http, account, reveal="true")).json()["entries"]
    fields = [f for e in entries for f in e["personal"]]
    assert fields and all(f["shown"] == "erased" for f in fields)
    (dispute,) = [e for e in entries if e["type"] == "DebtDisputed"]
    assert dispute["data"]["reason"] == ERASED
    lines = (await get(http, f"/v1/accounts/{account}/story")).json()["lines"]
    (told,) = [x for x in lines if x["type"] == "PersonalDataErased"]
    assert f"erased the account's personal data ({len(PHONES) + 3} values" in told["text"]
    assert "retention ended, case 9" in told["text"]
    csv_text = (await get(http, f"/v1/accounts/{account}/export.csv", reveal="true")).text
    assert leaked(csv_text) == [] and REASON not in csv_text
    return {"entries": entries, "story": lines}


def test_the_cli_erases_after_retention_and_refuses_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    for key, value in {
        "DATA_DIR": str(tmp_path),
        "EMBEDDED_LOG_PATH": str(tmp_path / "eventlog.sqlite3"),
        "AUTH_MODE": "development",
        "AUTH_DEV_SECRET_FILE": str(tmp_path / "dev-secret"),
        "AUDIT_RETENTION_DAYS": "30",
    }.items():
        monkeypatch.setenv(key, value)
    stack = {
        "accounts": settings_for("accounts", tmp_path),
        "audit": settings_for("audit", tmp_path, audit_retention_days=30),
    }

    async def given() -> None:
        async with running_stack(stack) as http:
            await seed(http, "C1", days_ago=40)
            await seed(http, "C2", days_ago=1)

    asyncio.run(given())

    def erase(account: str) -> int:
        args = parser().parse_args(["audit", "erase", account, "--reason", "retention ended"])
        try:
            args.fn(args)
        except Exception as exc:  # the command's refusal, as main() would print it
            print(f"arrears: {exc}")
            return 2
        return 0

    assert erase("C1") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["account_id"] == "C1" and out["values_erased"] == len(PHONES) + 3
    assert erase("C2") == 2 and "runs until" in capsys.readouterr().out

    async def after() -> None:
        async with running_stack(stack) as http:
            await erased_reads_by_cli(http)

    async def erased_reads_by_cli(http: Clients) -> None:
        lines = (await get(http, "/v1/accounts/C1/story")).json()["lines"]
        (told,) = [x for x in lines if x["type"] == "PersonalDataErased"]
        assert told["text"].startswith("The operator cli:")
        assert (await get(http, "/v1/verify")).json()["intact"] is True
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.uow() as uow:
            keys = (await uow.session.execute(select(audit_subject_keys.c.account_id))).scalars()
            assert set(keys) == {"C2"}

    asyncio.run(after())
