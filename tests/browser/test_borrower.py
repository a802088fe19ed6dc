"""The borrower page at /console/me in headless Chromium, at a phone's window size."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, Server
from tests.support import bill, ingest, opened, overdue_account

pytestmark = pytest.mark.browser

WAIT_S = 30
PHONE = (390, 844)
# A minimal PDF: the evidence route checks the media type against the first bytes.
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def yuan(fen: int) -> str:
    """As the page shows money."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


async def _seed(server: Server) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        http = {n: await stack.enter_async_context(c) for n, c in server.clients().items()}
        await overdue_account(http, "BR1")
        await ingest(http, opened("BR2"), bill("BR2", "X1", principal=777_00))
        own = {"Authorization": f"Bearer {server.token('borrower', 'borrower-BR1', ['BR1'])}"}
        r = await http["accounts"].get("/v1/accounts/BR1", headers=own)
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture(scope="module")
def account(server: Server) -> dict[str, Any]:
    """BR1 (Asia/Shanghai, overdue, as the accounts API shows it) and another account BR2."""
    return asyncio.run(_seed(server))


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """The browser at a phone's size, put back afterwards for the other pages' tests."""
    before = browser.get_window_size()
    browser.set_window_size(*PHONE)
    try:
        yield browser
    finally:
        browser.set_window_size(before["width"], before["height"])


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition)


def _by_css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _text(driver: Any, selector: str) -> str:
    return str(_by_css(driver, selector).text)


def _open_as_borrower(driver: Any, server: Server, own: str, page_account: str | None) -> None:
    """The page signed in with a borrower token for `own`, showing `page_account`."""
    base = f"{server.base}/console/me"
    driver.get(base)
    driver.execute_script("sessionStorage.clear(); localStorage.clear()")
    token = server.token("borrower", f"borrower-{own}", [own])
    driver.execute_script("sessionStorage.setItem('arrears.token', arguments[0])", token)
    driver.get(base + (f"?account={page_account}" if page_account else ""))


def _loaded(driver: Any) -> bool:
    return bool(_by_css(driver, "#account").is_displayed() and _text(driver, "#total"))


def _shot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(SCREENSHOTS / f"borrower-{name}.png"))


def test_a_borrower_sees_what_they_owe_as_the_accounts_api_says_in_chinese_then_english(
    phone: Any, server: Server, account: dict[str, Any]
) -> None:
    # Signed in through the page's development form, which mints a token naming BR1.
    phone.get(f"{server.base}/console/me")
    phone.execute_script("sessionStorage.clear(); localStorage.clear()")
    phone.get(f"{server.base}/console/me")
    _by_css(phone, "#dev-account").send_keys("BR1")
    _by_css(phone, "#dev-form").submit()
    _wait(phone, _loaded)
    assert phone.find_element("tag name", "html").get_attribute("lang") == "zh-CN"
    assert _text(phone, "#owed-title") == "应还金额"
    assert _text(phone, "#total") == yuan(account["outstanding"])
    assert _text(phone, "#dpd") == str(account["days_past_due"])
    for component, fen in account["balances"].items():
        row = _by_css(phone, f'#components tr[data-component="{component}"]')
        assert row.text.endswith(yuan(fen)), (component, row.text)
    for b in account["bills"]:
        row = _by_css(phone, f'#bills tr[data-bill="{b["bill_id"]}"]')
        assert yuan(b["outstanding"]) in row.text and b["due_date"] in row.text
    _wait(phone, lambda d: _by_css(d, '#options [data-option="deferral-1"]'))
    _shot(phone, "zh-CN")
    # The page fits a phone: nothing wider than the viewport, so no sideways scrolling.
    widths = phone.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];"
    )
    assert widths[0] <= widths[1], widths

    _by_css(phone, "#lang").click()
    _wait(phone, lambda d: _text(d, "#owed-title") == "What you owe")
    assert phone.find_element("tag name", "html").get_attribute("lang") == "en"
    assert _text(phone, "#total") == yuan(account["outstanding"])
    _shot(phone, "en")


def test_a_borrower_uploads_evidence_requests_a_plan_reads_the_disclosure_and_accepts(
    phone: Any, server: Server, account: dict[str, Any], tmp_path: Path
) -> None:
    _open_as_borrower(phone, server, "BR1", None)
    _wait(phone, _loaded)
    pdf = tmp_path / "payslip.pdf"
    pdf.write_bytes(PDF)
    _by_css(phone, "#evidence-file").send_keys(str(pdf))
    _by_css(phone, "#evidence-form").submit()
    _wait(phone, lambda d: d.find_elements("css selector", "#evidence li[data-sha256]"))

    option = _wait(phone, lambda d: _by_css(d, '#options [data-option="deferral-1"]'))
    option.find_element("tag name", "button").click()
    _wait(phone, lambda d: _by_css(d, "#offer").is_displayed())
    disclosure = _text(phone, "#disclosure")
    assert disclosure, "the disclosure is shown before the accept button"
    # The whole text is on the page, above the button (not cut off or scrolled inside a box).
    order = phone.execute_script(
        "const d = document.getElementById('disclosure'), b = document.getElementById('accept');"
        "return [d.getBoundingClientRect().bottom <= b.getBoundingClientRect().top,"
        " d.scrollHeight <= d.clientHeight + 1];"
    )
    assert order == [True, True]
    _shot(phone, "disclosure")
    _by_css(phone, "#accept").click()
    active = '#plans li[data-state="active"]'
    _wait(phone, lambda d: d.find_elements("css selector", active))
    phone.execute_script("document.getElementById('plans-title').scrollIntoView()")
    _shot(phone, "plan-active")


def test_a_borrower_page_for_another_account_is_refused_and_shows_no_data(
    phone: Any, server: Server, account: dict[str, Any]
) -> None:
    _open_as_borrower(phone, server, "BR1", "BR2")
    _wait(phone, lambda d: _text(d, "#message"))
    assert not _by_css(phone, "#account").is_displayed()
    assert "777" not in phone.find_element("tag name", "body").text
    assert _text(phone, "#total") == ""
    _shot(phone, "refused")


async def _check_sms(server: Server, account: str) -> dict[str, Any]:
    """What contact's compliance check (as an agent) says of a text at 10:00 Shanghai time."""
    async with server.clients()["contact"] as contact:
        body = {"channel": "sms", "planned_at": "2026-03-12T10:00:00+08:00", "debt_id": "B1"}
        r = await contact.post(f"/v1/accounts/{account}/contact-attempts/check", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_borrower_opts_out_of_texts_and_books_a_callback_which_contact_obeys(
    phone: Any, server: Server, account: dict[str, Any]
) -> None:
    from selenium.webdriver.support.ui import Select

    before = asyncio.run(_check_sms(server, "BR1"))
    _open_as_borrower(phone, server, "BR1", None)
    _wait(phone, _loaded)
    Select(_by_css(phone, "#opt-out-channel")).select_by_value("sms")
    _by_css(phone, "#opt-out-form").submit()
    _wait(phone, lambda d: _text(d, "#message") == "已记录。")
    after = asyncio.run(_check_sms(server, "BR1"))
    assert before["decision"] == "allowed", before
    assert after["decision"] == "blocked", after

    phone.execute_script("document.getElementById('message').textContent = ''")
    # A datetime-local field takes its value typed as the locale shows it; set it directly.
    phone.execute_script("document.getElementById('callback-at').value = '2026-03-13T21:30'")
    _by_css(phone, "#callback-form").submit()
    _wait(phone, lambda d: _text(d, "#message") == "已记录。")
    phone.execute_script("document.getElementById('contact-title').scrollIntoView()")
    _shot(phone, "contact")
