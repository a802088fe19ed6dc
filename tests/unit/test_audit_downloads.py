"""Audit's downloads name their file safely whatever the account id (issue 11 item 8)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from services.audit.entrypoints.downloads import attachment
from tests.support import eventually, opened, running_stack, settings_for

DOWNLOADS = ("export.csv", "report.pdf", "bundle")
ODD = ['账户"1', "A\x07;b", 'é"; filename="evil.exe', "a\r\nSet-Cookie: x=1", "\x00", "x" * 300]


def printable_ascii(header: str) -> bool:
    return all(" " <= c <= "~" for c in header)


@pytest.mark.parametrize("account_id", ODD)
def test_the_file_name_is_rfc_6266_with_an_ascii_fallback(account_id: str) -> None:
    headers = attachment(account_id, "csv")
    disposition = headers["Content-Disposition"]
    assert printable_ascii(disposition)
    head, fallback, star = disposition.split("; ")
    assert head == "attachment"
    # One quoted parameter with nothing in it that could end it early.
    assert fallback.startswith('filename="') and fallback.count('"') == 2
    assert star.startswith("filename*=UTF-8''")
    assert unquote(star.removeprefix("filename*=UTF-8''")) == f"{account_id}-audit.csv"
    assert headers["Cache-Control"] == "no-store"


async def test_downloads_answer_404_never_500_for_any_account_id(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        await http["audit"].post("/v1/checkpoints", params={"purpose": "test"})
        for account_id in ODD:
            for download in DOWNLOADS:
                r = await http["audit"].get(
                    f"/v1/accounts/{quote(account_id, safe='')}/{download}",
                    params={"purpose": "test"},
                )
                assert r.status_code in (404, 422), (account_id, download, r.status_code)
                assert r.headers["content-type"].startswith("application/")


async def test_a_download_carries_its_name_and_no_store(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    # The characters an account id may hold besides letters and digits, all of them.
    account_id = "A1.b_c:d@e-f"
    async with running_stack(settings) as http:
        await http["accounts"].post("/v1/inbound/events", json={"events": [opened(account_id)]})
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]

        async def on_trail() -> bool:
            async with runtime.uow() as uow:
                return await uow.trail.has_trail(account_id)

        await eventually(on_trail, bool)
        await http["audit"].post("/v1/checkpoints", params={"purpose": "test"})
        for download, extension in zip(DOWNLOADS, ("csv", "pdf", "json"), strict=True):
            r = await http["audit"].get(
                f"/v1/accounts/{quote(account_id, safe='')}/{download}",
                params={"purpose": "test"},
            )
            assert r.status_code == 200, (download, r.text)
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["content-disposition"] == (
                f'attachment; filename="A1.b_c_d_e-f-audit.{extension}"; '
                f"filename*=UTF-8''A1.b_c%3Ad%40e-f-audit.{extension}"
            )
        assert json.loads(r.text)["account_id"] == account_id
