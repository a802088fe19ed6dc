"""The compliance console in headless Chromium against the real one-origin server."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import SCREENSHOTS, Server
from tests.support import (
    accept_offer,
    bill,
    envelope,
    eventually,
    ingest,
    opened,
    overdue_account,
    request_option,
)

pytestmark = pytest.mark.browser

PURPOSE = "browser test: complaint 42 review"
WAIT_S = 30


def yuan(fen: int) -> str:
    """As the console shows money."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


async def _trail_types(audit: httpx.AsyncClient, account: str) -> list[dict[str, Any]]:
    r = await audit.get(
        f"/v1/accounts/{account}/history", params={"purpose": "seed", "limit": 1000}
    )
    return r.json().get("entries", []) if r.status_code == 200 else []


async def _wait_trail(audit: httpx.AsyncClient, account: str, *types: str) -> None:
    await eventually(
        lambda: _trail_types(audit, account),
        lambda entries: set(types) <= {e["type"] for e in entries},
        timeout=WAIT_S,
    )


async def _contact(http: dict[str, httpx.AsyncClient], account: str) -> None:
    """One call made at 10:00 and one blocked at 22:30 Shanghai time (quiet hours)."""

    async def check(at: str) -> httpx.Response:
        body = {"channel": "call", "planned_at": at, "debt_id": "B1"}
        return await http["contact"].post(
            f"/v1/accounts/{account}/contact-attempts/check", json=body
        )

    allowed = await eventually(
        lambda: check("2026-03-12T10:00:00+08:00"), lambda r: r.status_code == 200, WAIT_S
    )
    assert allowed.json()["decision"] == "allowed", allowed.text
    made = {
        "attempt_id": allowed.json()["attempt_id"],
        "channel": "call",
        "at": "2026-03-12T10:00:00+08:00",
        "outcome": "no_answer",
        "debt_id": "B1",
    }
    r = await http["contact"].post(f"/v1/accounts/{account}/contact-attempts", json=made)
    assert r.status_code == 201, r.text
    blocked = await check("2026-03-12T22:30:00+08:00")
    assert blocked.json()["decision"] == "blocked", blocked.text


async def _seed(server: Server) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        http = {n: await stack.enter_async_context(c) for n, c in server.clients().items()}
        await overdue_account(http, "C1")
        plans = server.settings("plans")
        plan = await request_option(http, plans, "C1", "deferral", {"option_id": "deferral-1"})
        assert (await accept_offer(http, plans, plan)).status_code == 200
        await _wait_trail(http["audit"], "C1", "LateFeeAccrued", "PlanActivated")
        before_payment = datetime.now(UTC).isoformat()
        # Paid on 5 March, posted only now, after the closes of the 9th and 12th.
        paid = {
            "payment_id": "PAY1",
            "currency": "CNY",
            "amount": 300_00,
            "paid_at": "2026-03-05T10:00:00+08:00",
        }
        await ingest(
            http,
            envelope("PaymentReceived", "C1", paid, occurred_at="2026-03-05T10:00:00+08:00"),
        )
        await _contact(http, "C1")
        await ingest(http, opened("T1"), bill("T1", "TB1"))
        await _wait_trail(
            http["audit"],
            "C1",
            "PaymentAllocated",
            "ContactAttemptRecorded",
            "ContactAttemptChecked",
        )
        await _wait_trail(http["audit"], "T1", "BillIssued")
        r = await http["audit"].post("/v1/checkpoints", params={"purpose": "seed"})
        assert r.status_code == 201, r.text

        async def state(**as_of: str) -> int:
            r = await http["audit"].get(
                "/v1/accounts/C1/state", params={"purpose": "seed", **as_of}
            )
            return int(r.json()["outstanding"])

        return {
            "before_payment": before_payment,
            "owed_now": await state(),
            "owed_before_payment": await state(as_of_recorded=before_payment),
        }


@pytest.fixture(scope="module")
def seeded(server: Server) -> dict[str, Any]:
    """Accounts C1 (overdue, a backdated payment, contact made and blocked, a plan) and T1."""
    return asyncio.run(_seed(server))


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition)


def _by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def _text(driver: Any, element_id: str) -> str:
    return str(_by_id(driver, element_id).text)


def _fresh(driver: Any, server: Server) -> None:
    driver.get(f"{server.base}/console/")
    driver.execute_script("sessionStorage.clear()")
    driver.get_log("browser")  # drop what an earlier page logged
    driver.get(f"{server.base}/console/")


def _sign_in_as_picked_role(driver: Any, role: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(_by_id(driver, "dev-role")).select_by_value(role)
    _by_id(driver, "dev-form").submit()
    _wait(driver, lambda d: _by_id(d, "workspace").is_displayed())


def _sign_in_with_token(driver: Any, token: str) -> None:
    _by_id(driver, "token").send_keys(token)
    _by_id(driver, "token-form").submit()
    _wait(driver, lambda d: _by_id(d, "workspace").is_displayed())


def _open(driver: Any, account: str) -> None:
    _by_id(driver, "purpose").clear()
    _by_id(driver, "purpose").send_keys(PURPOSE)
    _by_id(driver, "account").clear()
    _by_id(driver, "account").send_keys(account)
    _by_id(driver, "search-form").submit()


def _shown(driver: Any) -> bool:
    return bool(_by_id(driver, "account-view").is_displayed() and _text(driver, "outstanding"))


def _shot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(SCREENSHOTS / f"console-{name}.png"))


def _page_errors(driver: Any) -> list[str]:
    """What the page logged as errors (a CSP refusal among them)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_console_shows_an_account_and_as_of_recorded_takes_back_the_late_payment(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    _fresh(browser, server)
    _sign_in_as_picked_role(browser, "compliance")
    assert "compliance" in _text(browser, "who")
    _open(browser, "C1")
    _wait(browser, _shown)
    assert _text(browser, "outstanding") == yuan(seeded["owed_now"])
    assert _by_id(browser, "badge").get_attribute("data-status") == "verified"
    assert "signed checkpoint" in _text(browser, "badge")
    _shot(browser, "account")

    _by_id(browser, "as-of-recorded").send_keys(seeded["before_payment"])
    _by_id(browser, "asof-form").submit()
    before = yuan(seeded["owed_before_payment"])
    _wait(browser, lambda d: _text(d, "outstanding") == before)
    assert before != yuan(seeded["owed_now"])  # the backdated payment was not known yet
    assert seeded["before_payment"][:16] in _text(browser, "state-as-of")
    _shot(browser, "as-of-recorded")
    assert _page_errors(browser) == []


def test_every_read_the_console_makes_is_logged_with_the_stated_purpose(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    _fresh(browser, server)
    _sign_in_as_picked_role(browser, "compliance")
    _open(browser, "C1")
    _wait(browser, _shown)
    r = httpx.get(
        f"{server.base}/audit/v1/access-log",
        params={"purpose": "test: check the console's reads", "account_id": "C1", "limit": 1000},
        headers={"Authorization": f"Bearer {server.token('compliance')}"},
    )
    mine = [e for e in r.json()["entries"] if e["purpose"] == PURPOSE]
    assert {"state", "story", "history", "series", "verify"} <= {e["action"] for e in mine}
    assert {e["subject"] for e in mine} == {"console-dev"}


def test_the_chart_draws_the_series_with_plan_periods_and_contacts(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    _fresh(browser, server)
    _sign_in_as_picked_role(browser, "compliance")
    _open(browser, "C1")
    _wait(browser, _shown)
    chart = _by_id(browser, "chart")
    assert int(chart.get_attribute("data-points")) >= 4
    assert int(chart.get_attribute("data-plans")) == 1
    assert int(chart.get_attribute("data-contacts")) == 2
    painted = browser.execute_script(
        """
        const canvas = document.querySelector('#chart canvas');
        if (!canvas) return -1;
        const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
        return n;
        """
    )
    assert painted > 1000
    browser.execute_script("document.getElementById('chart-section').scrollIntoView()")
    _shot(browser, "chart")
    assert _page_errors(browser) == []  # uPlot draws within the page's CSP


def test_the_timeline_orders_filters_and_opens_the_raw_event(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _fresh(browser, server)
    _sign_in_as_picked_role(browser, "compliance")
    _open(browser, "C1")
    _wait(browser, _shown)

    def seqs() -> list[int]:
        items = browser.find_elements(By.CSS_SELECTOR, "#timeline-list li[data-seq]")
        return [int(li.get_attribute("data-seq")) for li in items]

    oldest_first = seqs()
    assert oldest_first == sorted(oldest_first) and len(oldest_first) > 5
    Select(_by_id(browser, "order")).select_by_value("desc")
    assert seqs() == sorted(oldest_first, reverse=True)
    Select(_by_id(browser, "filter-type")).select_by_value("PaymentAllocated")
    (only,) = browser.find_elements(By.CSS_SELECTOR, "#timeline-list li[data-seq]")
    hash_shown = only.find_element(By.CSS_SELECTOR, "code.hash").text
    assert len(hash_shown) == 12
    only.find_element(By.LINK_TEXT, "raw event").click()
    raw = _text(browser, "raw-json")
    assert '"type": "PaymentAllocated"' in raw and hash_shown in raw
    _shot(browser, "timeline-raw")


def test_the_badge_turns_red_when_a_row_is_tampered(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    _fresh(browser, server)
    _sign_in_as_picked_role(browser, "compliance")
    _open(browser, "T1")
    _wait(browser, _shown)
    assert _by_id(browser, "badge").get_attribute("data-status") == "verified"
    with sqlite3.connect(server.data_dir / "audit.sqlite3") as db:
        changed = db.execute(
            "UPDATE audit_entries SET event = replace(event, '10000', '99999')"
            " WHERE account_id = 'T1' AND type = 'BillIssued'"
        ).rowcount
    assert changed == 1
    _by_id(browser, "asof-form").submit()  # re-read everything
    _wait(browser, lambda d: _by_id(d, "badge").get_attribute("data-status") == "broken")
    assert "broken" in _by_id(browser, "badge").get_attribute("class").split()
    assert "BROKEN" in _text(browser, "badge")
    _shot(browser, "tampered")


def test_a_role_without_audit_access_sees_a_refusal_not_data(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    _fresh(browser, server)
    _sign_in_with_token(browser, server.token("agent", "agent-7"))
    assert "agent" in _text(browser, "who")
    _open(browser, "C1")
    _wait(browser, lambda d: "Refused" in _text(d, "message"))
    assert "403" in _text(browser, "message")
    from selenium.webdriver.common.by import By

    assert not _by_id(browser, "account-view").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#state-facts dd") == []
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline-list li") == []
    _shot(browser, "refused")


def test_the_download_buttons_save_the_bundle_csv_and_pdf_and_log_them(
    browser: Any, server: Server, seeded: dict[str, Any], tmp_path: Path
) -> None:
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    _fresh(browser, server)
    _sign_in_as_picked_role(browser, "compliance")
    _open(browser, "C1")
    _wait(browser, _shown)
    for button in ("download-bundle", "download-csv", "download-pdf"):
        _by_id(browser, button).click()
        _wait(browser, lambda d: "Downloaded" in _text(d, "message"))
        browser.execute_script("document.getElementById('message').textContent = ''")
    names = {"C1-audit.json", "C1-audit.csv", "C1-audit.pdf"}
    _wait(browser, lambda _: names <= {p.name for p in tmp_path.iterdir()})
    assert (tmp_path / "C1-audit.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "C1-audit.csv").read_text().startswith("seq,event_id,type")
    assert '"checkpoint"' in (tmp_path / "C1-audit.json").read_text()
    r = httpx.get(
        f"{server.base}/audit/v1/access-log",
        params={"purpose": "test: check the downloads", "account_id": "C1", "limit": 1000},
        headers={"Authorization": f"Bearer {server.token('compliance')}"},
    )
    exports = {e["action"] for e in r.json()["entries"] if e["purpose"] == PURPOSE}
    assert {"export-bundle", "export-csv", "export-pdf"} <= exports
    _shot(browser, "downloaded")
