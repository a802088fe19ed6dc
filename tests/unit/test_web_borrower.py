"""The borrower page's server side and its word list: served under the console's policy,
every word in both languages, and a development sign-in that names the borrower's account."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.auth import TokenVerifier
from shared.web.console import STATIC
from tests.support import settings_for
from tests.unit.test_web_console import Markup, client, hosted


def _strings() -> dict[str, dict[str, str]]:
    text = (STATIC / "borrower-strings.js").read_text()
    body = text[text.index("{") : text.rindex("}") + 1]
    # The file is a JS object literal of plain string pairs: quote its keys, drop the
    # trailing commas, and it reads as JSON.
    body = re.sub(r"^(\s*)([A-Za-z_][\w]*):", r'\1"\2":', body, flags=re.M)
    body = re.sub(r",(\s*[}\]])", r"\1", body)
    return dict(json.loads(body))


async def test_the_borrower_page_is_served_at_me_under_the_strict_policy(tmp_path: Path) -> None:
    async with client(hosted(settings_for("audit", tmp_path))) as http:
        page = await http.get("/console/me")
        script = await http.get("/console/static/borrower.js")
    assert page.status_code == 200 and 'id="owed-title"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert script.status_code == 200


def test_the_borrower_page_needs_nothing_the_policy_refuses() -> None:
    markup = Markup()
    markup.feed((STATIC / "borrower.html").read_text())
    assert markup.inline == []
    for source in markup.sources:
        assert (STATIC / source.removeprefix("static/")).is_file(), source
    for own in ("borrower.html", "borrower.js", "borrower-strings.js", "borrower.css"):
        text = (STATIC / own).read_text()
        assert not re.search(r"https?://", text), own
        assert "innerHTML" not in text, own


def test_every_word_the_page_uses_is_in_both_languages() -> None:
    strings = _strings()
    assert set(strings) == {"en", "zh-CN"}
    assert set(strings["en"]) == set(strings["zh-CN"])
    used = set(re.findall(r'data-t="([^"]+)"', (STATIC / "borrower.html").read_text()))
    used |= set(re.findall(r'\bt\("([^"]+)"\)', (STATIC / "borrower.js").read_text()))
    assert used and used <= set(strings["en"]), used - set(strings["en"])


async def test_development_sign_in_mints_a_borrower_token_naming_its_account(
    tmp_path: Path,
) -> None:
    settings = settings_for("audit", tmp_path)
    async with client(hosted(settings)) as http:
        minted = await http.post(
            "/console/dev-token",
            json={"role": "borrower", "subject": "borrower-C1", "accounts": ["C1"]},
        )
        without = await http.post("/console/dev-token", json={"role": "borrower"})
    principal = TokenVerifier(settings).verify(minted.json()["token"])
    assert principal.role == "borrower" and "C1" in principal.accounts
    assert without.status_code == 422


def test_every_field_on_the_borrower_page_has_a_label() -> None:
    html = (STATIC / "borrower.html").read_text()
    fields = set(re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html))
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    assert fields and fields <= labelled, fields - labelled
