"""The PDF report for people: typeset with ReportLab, read back with pypdf as a reader's
viewer would; Chinese names and sentences print, the chart is an image, the integrity
findings and the checkpoint are stated, and poppler renders the file (issue 15 item 4)."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from services.audit.adapters.pdf_report import CJK, markup
from services.audit.adapters.tables import audit_entries
from services.audit.domain.report import account_zone, borrower_name, local_time, locale_for
from services.audit.domain.state import Point, over_time
from services.audit.domain.story import money
from tests.support import (
    bill,
    day_closed,
    eventually,
    now,
    opened,
    payment,
    running_stack,
    settings_for,
)

Clients = dict[str, httpx.AsyncClient]

NAME = "张伟"
PAID = "2026-03-05T10:00:00+08:00"
ZH_PAYMENT = f"收到还款 P1，金额 ¥100.00，付款时间 {PAID}。"
EN_PAYMENT = f"Payment P1 of CNY 100.00 received, paid at {PAID}."


def pdf_text(pdf: bytes) -> str:
    """The text a viewer extracts from every page, pages joined by a newline."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def pdf_lines(pdf: bytes) -> list[str]:
    return [line.strip() for line in pdf_text(pdf).splitlines()]


def image_xobjects(pdf: bytes) -> list[tuple[int, int]]:
    """(width, height) of each image XObject placed on a page (not a vector form)."""
    out = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        xobjects = page["/Resources"].get("/XObject") or {}
        for ref in xobjects.values():
            obj = ref.get_object()
            if obj["/Subtype"] == "/Image":
                out.append((int(obj["/Width"]), int(obj["/Height"])))
    return out


def fonts(pdf: bytes) -> set[str]:
    """The base font names the pages use."""
    out = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for ref in (page["/Resources"].get("/Font") or {}).values():
            out.add(str(ref.get_object()["/BaseFont"]))
    return out


# -- pure parts ---------------------------------------------------------------------


def test_money_is_formatted_once_with_the_currency_sign_for_a_page() -> None:
    assert money(1_234_56, "CNY", symbol=True) == "¥1,234.56"
    assert money(-1_00, "CNY", symbol=True) == "-¥1.00"
    assert money(5, "USD", symbol=True) == "$0.05"
    # A currency without a sign keeps its code; the story's API text keeps the code too.
    assert money(1_00, "EUR", symbol=True) == "EUR 1.00"
    assert money(1_234_56, "CNY") == "CNY 1,234.56"
    with pytest.raises(TypeError):
        money(1.5, "CNY", symbol=True)  # type: ignore[arg-type]


def test_the_language_follows_the_account_zone_and_times_read_in_it() -> None:
    assert locale_for("Asia/Shanghai") == "zh-CN" and locale_for("Asia/Urumqi") == "zh-CN"
    assert locale_for("America/New_York") == "en" and locale_for("Asia/Hong_Kong") == "en"
    v1 = [{"type": "AccountOpened", "data": {"customer_id": "c", "currency": "CNY"}}]
    assert account_zone(v1) == "Asia/Shanghai"  # v1 accounts were all Chinese borrowers
    assert account_zone([]) == "Asia/Shanghai"
    ny = [{"type": "AccountOpened", "data": {"time_zone": "America/New_York"}}]
    assert account_zone(ny) == "America/New_York"
    assert local_time("2026-03-05T02:00:00+00:00", "Asia/Shanghai") == "2026-03-05 10:00:00+08:00"
    assert local_time("2026-03-05T02:00:00+00:00", "America/New_York") == (
        "2026-03-04 21:00:00-05:00"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        local_time("2026-03-05T02:00:00", "Asia/Shanghai")


def test_an_erased_name_is_no_name() -> None:
    opened_with = {"type": "AccountOpened", "data": {"customer_name": NAME}}
    assert borrower_name([opened_with]) == NAME
    erased = {"type": "AccountOpened", "data": {"customer_name": "\u2039erased\u203a"}}
    assert borrower_name([erased]) is None
    assert borrower_name([{"type": "AccountOpened", "data": {}}]) is None


def test_the_chart_has_a_point_per_day_close_with_what_was_owed_then() -> None:
    entries: list[dict[str, Any]] = [
        {"seq": 1, "type": "BillIssued", "data": {**bill("X", "B1")["data"], "principal": 100_00}},
        {"seq": 2, "type": "AccountDayClosed", "data": {"business_date": "2026-03-11",
                                                        "days_past_due": 1, "bucket": "1-30"}},
        {"seq": 3, "type": "LateFeeAccrued", "data": {"bill_id": "B1", "amount": 50}},
        {"seq": 4, "type": "AccountDayClosed", "data": {"business_date": "2026-03-12",
                                                        "days_past_due": 2, "bucket": "1-30"}},
    ]  # fmt: skip
    assert over_time(entries) == [
        Point(date(2026, 3, 11), owed=100_00, days_past_due=1, late_fees=0),
        Point(date(2026, 3, 12), owed=100_50, days_past_due=2, late_fees=50),
    ]


def test_latin_runs_keep_helvetica_and_the_rest_goes_to_the_cid_font() -> None:
    assert markup("Bill B1 <x> & 5%") == "Bill B1 &lt;x&gt; &amp; 5%"
    assert markup(f"借款人：{NAME} (B1)") == f'<font face="{CJK}">借款人：{NAME}</font> (B1)'
    assert markup("¥1.00") == "¥1.00"  # the yen sign is in Helvetica's WinAnsi set


# -- through the API ------------------------------------------------------------------


@pytest.fixture
def stack(tmp_path: Path) -> dict[str, Any]:
    return {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}


async def report(http: Clients, account: str, **params: Any) -> httpx.Response:
    return await http["audit"].get(
        f"/v1/accounts/{account}/report.pdf", params={"purpose": "regulator request 12", **params}
    )


async def story_of(http: Clients, account: str) -> list[dict[str, Any]]:
    r = await http["audit"].get(f"/v1/accounts/{account}/story", params={"purpose": "test"})
    lines: list[dict[str, Any]] = r.json()["lines"] if r.status_code == 200 else []
    return lines


async def ingest(http: Clients, *events: dict[str, Any]) -> None:
    r = await http["accounts"].post("/v1/inbound/events", json={"events": list(events)})
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


async def test_the_report_carries_the_story_integrity_and_checkpoint(stack: dict[str, Any]) -> None:
    async with running_stack(stack) as http:
        events = [
            opened("R1", customer_id="13812345678"),
            bill("R1", "B1", principal=1_234_56),
            payment("R1", "P1", 100_00),
        ]
        await ingest(http, *events)
        lines = await eventually(lambda: story_of(http, "R1"), lambda lines: len(lines) >= 4)

        r = await report(http, "R1", lang="en")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment")
        assert r.content.startswith(b"%PDF-")
        text = pdf_text(r.content)
        flat = " ".join(text.split())
        (bill_line,) = [x for x in lines if x["type"] == "BillIssued"]
        assert bill_line["text"] in flat and bill_line["hash"] in flat
        assert "Account: R1" in text and "Purpose: regulator request 12" in text
        assert "Time zone: Asia/Shanghai" in text
        assert f"Chain head: seq {lines[-1]['seq']}, hash {lines[-1]['hash']}." in flat
        assert "Verification: intact" in text
        assert "Covering checkpoint: none yet" in text
        # customer_id is declared an id_number: masked as one, whatever it looks like.
        assert "13812345678" not in text and "customer *******5678" in text

        made = await http["audit"].post("/v1/checkpoints", params={"purpose": "test"})
        assert made.status_code == 201
        flat = " ".join(pdf_text((await report(http, "R1", lang="en")).content).split())
        assert f"Merkle root {made.json()['root']}" in flat
        assert "the inclusion proof and the Ed25519 signature all verify" in flat

        # Someone edits a stored event: the report says the chain is broken, and where.
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
        t = audit_entries
        where = (t.c.account_id == "R1", t.c.seq == bill_line["seq"])
        async with runtime.uow() as uow:
            stored = (await uow.session.execute(select(t.c.event).where(*where))).scalar_one()
            assert "123456" in stored
            forged = stored.replace("123456", "100")
            await uow.session.execute(update(t).where(*where).values(event=forged))
            await uow.commit()
        flat = " ".join(pdf_text((await report(http, "R1", lang="en")).content).split())
        assert f"Verification: BROKEN at seq {bill_line['seq']}" in flat
        assert "Checkpoint check FAILED" in flat
        # The same findings in the account's own language.
        zh = pdf_text((await report(http, "R1")).content)
        assert f"校验结果：在 seq {bill_line['seq']} 处断裂" in zh and "检查点校验失败" in zh

        assert (await report(http, "NOPE")).status_code == 404
        no_purpose = await http["audit"].get("/v1/accounts/R1/report.pdf")
        assert no_purpose.status_code == 422
        assert (await report(http, "R1", lang="fr")).status_code == 422
        log = (
            await http["audit"].get(
                "/v1/access-log", params={"purpose": "review", "account_id": "R1"}
            )
        ).json()["entries"]
        exports = [e for e in log if e["action"] == "export-pdf"]
        assert len(exports) == 4 and exports[0]["purpose"] == "regulator request 12"


async def test_a_shanghai_account_reads_in_chinese_with_its_name_chart_and_fonts(
    stack: dict[str, Any],
) -> None:
    async with running_stack(stack) as http:
        await ingest(
            http,
            opened("Z1", customer_name=NAME),
            bill("Z1", "B1", due="2026-03-10", principal=1_234_56),
            payment("Z1", "P1", 100_00, paid_at=PAID),
            day_closed("2026-03-12", "Z1"),
            day_closed("2026-03-14", "Z1"),
        )
        await eventually(
            lambda: story_of(http, "Z1"),
            lambda lines: any(x["type"] == "LateFeeAccrued" for x in lines),
        )
        pdf = (await report(http, "Z1", reveal="true")).content
        lines = pdf_lines(pdf)
        # Whole lines, exactly as written: the name and a sentence of the story.
        assert f"借款人：{NAME}" in lines
        assert ZH_PAYMENT in lines
        assert "时区：Asia/Shanghai" in lines and EN_PAYMENT not in pdf_text(pdf)
        # Owed at the last close, in yuan with the sign: principal less the payment plus
        # the late fees of the closes so far.
        owed = [x for x in lines if x.startswith("最近日终欠款：2026-03-14 欠款 ¥1,1")]
        assert owed and "逾期 4 天" in owed[0], lines
        # Chinese is set in the CID font, the rest in Helvetica; the chart is a bitmap.
        assert {"/STSong-Light", "/Helvetica"} <= {f.split("-UniGB")[0] for f in fonts(pdf)}
        ((width, height),) = image_xobjects(pdf)
        assert width > height > 100

        # Without reveal the name is masked as a name, still Chinese.
        masked = pdf_lines((await report(http, "Z1")).content)
        assert f"借款人：{NAME[0]}*" in masked and NAME not in " ".join(masked)
        # The reader may ask for English; the name prints the same.
        english = pdf_lines((await report(http, "Z1", reveal="true", lang="en")).content)
        assert f"Borrower: {NAME}" in english and EN_PAYMENT in english
        assert ZH_PAYMENT not in english


async def test_an_account_elsewhere_reads_in_english_and_without_closes_has_no_chart(
    stack: dict[str, Any],
) -> None:
    async with running_stack(stack) as http:
        await ingest(
            http,
            opened("N1", time_zone="America/New_York", customer_name="Ann Lee"),
            payment("N1", "P1", 100_00, paid_at=PAID),
        )
        await eventually(lambda: story_of(http, "N1"), lambda lines: len(lines) >= 2)
        pdf = (await report(http, "N1", reveal="true")).content
        lines = pdf_lines(pdf)
        assert EN_PAYMENT in lines and "Borrower: Ann Lee" in lines
        assert "Time zone: America/New_York" in lines
        assert "No day close on the trail yet: nothing to chart." in lines
        assert image_xobjects(pdf) == []
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in pdf_text(pdf))
        # Times read in the account's zone: the payment occurred at 02:00 UTC.
        assert any(x.startswith("#") and "-05:00" in x for x in lines), lines


async def test_an_erased_borrower_name_is_not_in_the_report(tmp_path: Path) -> None:
    settings = {
        "accounts": settings_for("accounts", tmp_path),
        "audit": settings_for("audit", tmp_path, audit_retention_days=30),
    }
    at = (now() - timedelta(days=40)).isoformat()
    async with running_stack(settings) as http:
        await ingest(http, {**opened("E1", customer_name=NAME), "occurred_at": at})
        await eventually(lambda: story_of(http, "E1"), lambda lines: len(lines) >= 1)
        before = pdf_text((await report(http, "E1", reveal="true")).content)
        assert NAME in before  # the control: the name was there to erase
        r = await http["audit"].post(
            "/v1/accounts/E1/personal-data/erasure", json={"reason": "retention ended"}
        )
        assert r.status_code == 200, r.text
        for reveal in ("true", "false"):
            after = pdf_text((await report(http, "E1", reveal=reveal)).content)
            assert NAME not in after and f"{NAME[0]}*" not in after
            assert "借款人" not in after  # no borrower line at all, not a placeholder
            assert "删除了该账户的个人信息" in after


async def test_the_report_renders_with_poppler(stack: dict[str, Any], tmp_path: Path) -> None:
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftoppm (poppler-utils) is missing: .ci/run installs it")
        pytest.skip("pdftoppm not installed (apt-get install poppler-utils)")
    async with running_stack(stack) as http:
        await ingest(
            http,
            opened("PP1", customer_name=NAME),
            bill("PP1", "B1", due="2026-03-10"),
            day_closed("2026-03-12", "PP1"),
        )
        await eventually(lambda: story_of(http, "PP1"), lambda lines: len(lines) >= 3)
        pdf = (await report(http, "PP1", reveal="true")).content
    pages = await asyncio.to_thread(poppler_pages, pdftoppm, pdf, tmp_path)
    assert pages and all(p.startswith(b"\x89PNG") for p in pages)


def poppler_pages(pdftoppm: str, pdf: bytes, tmp_path: Path) -> list[bytes]:
    """The PDF's pages as pdftoppm renders them; fails on any complaint of poppler's."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        [pdftoppm, "-r", "40", "-png", str(path), str(tmp_path / "page")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Poppler warns on stderr about a font it cannot map or a broken object; none here.
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [p.read_bytes() for p in sorted(tmp_path.glob("page-*.png"))]
