"""The PDF report for people: a well-formed file, the story in it, the integrity findings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from services.audit.adapters.tables import audit_entries
from services.audit.domain.pdf import (
    MARGIN,
    PAGE_WIDTH,
    Paragraph,
    escape,
    latin1,
    render,
    text_width,
    wrap,
)
from tests.support import bill, eventually, opened, payment, running_stack, settings_for


def check_structure(pdf: bytes) -> dict[int, bytes]:
    """Parse the xref table; every offset must point at its object. Returns the objects."""
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[startxref:].startswith(b"xref\n")
    header = re.match(rb"xref\n0 (\d+)\n", pdf[startxref:])
    assert header is not None
    count = int(header.group(1))
    table = pdf[startxref + header.end() :]
    rows = [table[i * 20 : (i + 1) * 20] for i in range(count)]
    assert rows[0] == b"0000000000 65535 f \n"
    objects = {}
    for number, row in enumerate(rows[1:], start=1):
        assert re.fullmatch(rb"\d{10} 00000 n \n", row), row
        offset = int(row[:10])
        assert pdf[offset:].startswith(f"{number} 0 obj\n".encode()), (number, offset)
        end = pdf.index(b"\nendobj\n", offset)
        objects[number] = pdf[offset:end]
    trailer = table[count * 20 :]
    assert trailer.startswith(b"trailer\n") and f"/Size {count}".encode() in trailer
    return objects


def shown_text(objects: dict[int, bytes]) -> list[str]:
    """Every string drawn with Tj, unescaped, in stream order; checks each /Length."""
    out = []
    for body in objects.values():
        found = re.search(rb"<< /Length (\d+) >>\nstream\n", body)
        if not found:
            continue
        content = body[found.end() :]
        assert content.endswith(b"\nendstream")
        content = content[: -len(b"\nendstream")]
        assert len(content) == int(found.group(1))
        for raw in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", content):
            out.append(re.sub(rb"\\(.)", rb"\1", raw).decode("latin-1"))
    return out


def test_a_long_document_spans_pages_with_a_correct_xref_and_escaped_text() -> None:
    tricky = "Balance (overdue) \\ 5% — 张伟 owes CNY 1,234.56"
    paragraphs = [Paragraph("Title", size=16, bold=True), Paragraph(tricky)]
    paragraphs += [Paragraph(f"Line {i}: " + "word " * 40) for i in range(120)]
    pdf = render(paragraphs, title="Report (test)")
    objects = check_structure(pdf)
    pages = [o for o in objects.values() if b"/Type /Page " in o]
    assert len(pages) >= 3
    assert f"/Count {len(pages)}".encode() in objects[2]
    text = shown_text(objects)
    # Parentheses and the backslash escaped; what Latin-1 cannot hold replaced.
    assert escape("a(b)c\\") == "a\\(b\\)c\\\\"
    assert latin1(tricky) == "Balance (overdue) \\ 5% ? ?? owes CNY 1,234.56"
    assert latin1(tricky) in text
    assert f"Report (test) - page {len(pages)} of {len(pages)}" in text
    assert "Line 119: word" in " ".join(text)


def test_wrapped_lines_fit_the_page_and_lose_no_words() -> None:
    width = PAGE_WIDTH - 2 * MARGIN
    text = "The borrower accepted plan PL1 " * 20 + "x" * 300
    lines = wrap(text, width, 9)
    assert all(text_width(line, 9) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


# -- through the API ------------------------------------------------------------------


async def report(http: dict[str, httpx.AsyncClient], account: str) -> httpx.Response:
    return await http["audit"].get(
        f"/v1/accounts/{account}/report.pdf", params={"purpose": "regulator request 12"}
    )


async def story_of(http: dict[str, httpx.AsyncClient], account: str) -> list[dict[str, Any]]:
    r = await http["audit"].get(f"/v1/accounts/{account}/story", params={"purpose": "test"})
    lines: list[dict[str, Any]] = r.json()["lines"] if r.status_code == 200 else []
    return lines


async def test_the_report_carries_the_story_integrity_and_checkpoint(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        events = [
            opened("R1", customer_id="13812345678"),
            bill("R1", "B1", principal=1_234_56),
            payment("R1", "P1", 100_00),
        ]
        await http["accounts"].post("/v1/inbound/events", json={"events": events})
        lines = await eventually(lambda: story_of(http, "R1"), lambda lines: len(lines) >= 4)

        r = await report(http, "R1")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF-")
        text = " ".join(shown_text(check_structure(r.content)))
        (bill_line,) = [x for x in lines if x["type"] == "BillIssued"]
        assert bill_line["text"] in text and bill_line["hash"] in text
        assert "Account: R1" in text and "Purpose: regulator request 12" in text
        assert "Verification: intact" in text
        assert "Covering checkpoint: none yet" in text
        # customer_id is declared an id_number: masked as one, whatever it looks like.
        assert "13812345678" not in text and "customer *******5678" in text

        made = await http["audit"].post("/v1/checkpoints", params={"purpose": "test"})
        assert made.status_code == 201
        text = " ".join(shown_text(check_structure((await report(http, "R1")).content)))
        assert f"Merkle root {made.json()['root']}" in text
        assert "the inclusion proof and the Ed25519 signature all verify" in text

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
        text = " ".join(shown_text(check_structure((await report(http, "R1")).content)))
        assert f"Verification: BROKEN at seq {bill_line['seq']}" in text
        assert "Checkpoint check FAILED" in text

        assert (await report(http, "NOPE")).status_code == 404
        no_purpose = await http["audit"].get("/v1/accounts/R1/report.pdf")
        assert no_purpose.status_code == 422
        log = (
            await http["audit"].get(
                "/v1/access-log", params={"purpose": "review", "account_id": "R1"}
            )
        ).json()["entries"]
        exports = [e for e in log if e["action"] == "export-pdf"]
        assert len(exports) == 3 and exports[0]["purpose"] == "regulator request 12"
