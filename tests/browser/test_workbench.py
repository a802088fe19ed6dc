"""The agent workbench in headless Chromium against the real one-origin server."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import SCREENSHOTS, Server
from tests.support import (
    bill,
    day_closed,
    eventually,
    ingest,
    opened,
    overdue_account,
    request_option,
)

pytestmark = pytest.mark.browser

WAIT_S = 30
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _zone_at_noon_now() -> str:
    """A CN-pack time zone whose wall clock shows about noon now, so a claim (which only
    hands out cases that may be called right now) never meets quiet hours in a test run."""
    offset = (12 - datetime.now(ZoneInfo("UTC")).hour + 11) % 24 - 11
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


async def _seed(server: Server) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        http = {n: await stack.enter_async_context(c) for n, c in server.clients().items()}
        # Five weeks late: the strategy hands the cases to the agents' queue.
        for account, zone in (("E1", "Asia/Shanghai"), ("E2", _zone_at_noon_now())):
            await ingest(
                http,
                opened(account, time_zone=zone),
                bill(account, "B1", due="2026-01-10", issued_on="2026-01-01", principal=500_00),
                day_closed("2026-01-11", account),
                day_closed("2026-02-15", account),
            )
            await eventually(
                lambda a=account: http["contact"].get(f"/v1/accounts/{a}/case"),
                lambda r: r.status_code == 200 and r.json()["queue"] == "agents",
                WAIT_S,
            )
        # Every waiver gives money up, so it waits in a supervisor's inbox.
        await overdue_account(http, "W1")
        plan = await request_option(
            http, server.settings("plans"), "W1", "waiver", {"option_id": "waiver"}
        )
        assert plan["approval"] == "pending", plan
        return {"plan_id": plan["plan_id"]}


@pytest.fixture(scope="module")
def seeded(server: Server) -> dict[str, Any]:
    """E1 (Shanghai) and E2 (noon now) in the agents' queue; W1's waiver awaiting approval."""
    return asyncio.run(_seed(server))


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition)


def _wait_text(driver: Any, element_id: str, needle: str) -> None:
    """Wait until the element says `needle`; a timeout names what the page said instead."""
    from selenium.common.exceptions import TimeoutException

    try:
        _wait(driver, lambda d: needle in _text(d, element_id))
    except TimeoutException:
        said = (_text(driver, element_id), _text(driver, "message"))
        raise AssertionError(f"{needle!r} not in #{element_id}; page said {said}") from None


def _by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def _text(driver: Any, element_id: str) -> str:
    return str(_by_id(driver, element_id).text)


def _fresh(driver: Any, server: Server) -> None:
    driver.get(f"{server.base}/console/workbench")
    driver.execute_script("sessionStorage.clear()")
    driver.get_log("browser")
    driver.get(f"{server.base}/console/workbench")


def _sign_in(driver: Any, role: str, subject: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(_by_id(driver, "dev-role")).select_by_value(role)
    _by_id(driver, "dev-subject").clear()
    _by_id(driver, "dev-subject").send_keys(subject)
    _by_id(driver, "dev-form").submit()
    _wait(driver, lambda d: _by_id(d, "workspace").is_displayed())


def _type(driver: Any, element_id: str, value: str) -> None:
    _by_id(driver, element_id).clear()
    _by_id(driver, element_id).send_keys(value)


def _open(driver: Any, account: str) -> None:
    _type(driver, "account", account)
    _by_id(driver, "open-form").submit()
    _wait(driver, lambda d: _by_id(d, "case").is_displayed())


def _check(driver: Any, at: str) -> str:
    _type(driver, "check-at", at)
    _type(driver, "check-debt", "B1")
    previous = _by_id(driver, "decision").get_attribute("data-attempt")
    _by_id(driver, "check-form").submit()
    _wait(
        driver,
        lambda d: (
            _by_id(d, "decision").is_displayed()
            and _by_id(d, "decision").get_attribute("data-attempt") != previous
        ),
    )
    return str(_by_id(driver, "decision").get_attribute("data-decision"))


def _shot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(SCREENSHOTS / f"workbench-{name}.png"))


def test_an_agent_claims_the_next_case_and_a_call_at_2230_shanghai_is_blocked(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    _fresh(browser, server)
    _sign_in(browser, "agent", "alice")
    # The load is not an agent's to see.
    _wait(browser, lambda d: "supervisors" in _text(d, "queues-note"))
    _type(browser, "queue", "agents")
    _by_id(browser, "next-form").submit()
    _wait(browser, lambda d: _by_id(d, "case").is_displayed())
    summary = _text(browser, "case-summary")
    assert ("E1" in summary or "E2" in summary) and "alice" in summary
    _open(browser, "E1")  # the Shanghai borrower
    assert _check(browser, "2026-02-16T22:30:00+08:00") == "blocked"
    assert "quiet" in _text(browser, "decision-rules").lower()
    assert _text(browser, "decision-next") == "Next allowed: 2026-02-17T08:00:00+08:00"
    assert _by_id(browser, "record-form").is_displayed() is False
    _shot(browser, "blocked")


def test_an_attempt_with_a_promise_shows_in_the_case_history(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    from selenium.webdriver.support.ui import Select

    _fresh(browser, server)
    _sign_in(browser, "agent", "alice")
    _open(browser, "E1")
    # Made yesterday at 10:00 in Shanghai: a promise may run from today to 14 days on.
    yesterday = (datetime.now(SHANGHAI) - timedelta(days=1)).date().isoformat()
    assert _check(browser, f"{yesterday}T10:00:00+08:00") == "allowed"
    Select(_by_id(browser, "outcome")).select_by_value("promise_to_pay")
    _type(browser, "promise-amount", "200.50")
    # A promise is to pay from today on: the service refuses a date in the past.
    by = (datetime.now(SHANGHAI) + timedelta(days=3)).date().isoformat()
    browser.execute_script("document.getElementById('promise-date').value = arguments[0]", by)
    _by_id(browser, "record").click()
    _wait_text(browser, "history", "promise_to_pay")
    assert f"¥200.50 by {by}" in _text(browser, "promises")
    _shot(browser, "promise")


def test_a_supervisor_approves_a_waiver_in_the_inbox(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    _fresh(browser, server)
    _sign_in(browser, "supervisor", "sup-1")
    _wait(browser, lambda d: _by_id(d, "queue-table").is_displayed())
    assert "agents" in _text(browser, "queue-rows")
    # W1 has no open collection case: the plans panel still serves its approvals.
    _type(browser, "account", "W1")
    _by_id(browser, "open-form").submit()
    plan_id = seeded["plan_id"]
    _wait_text(browser, "inbox", plan_id)
    _shot(browser, "inbox")
    browser.find_element(By.CSS_SELECTOR, f"#inbox [data-plan='{plan_id}'] button").click()
    _wait_text(browser, "inbox", "Nothing waits for approval.")
    assert f"Plan {plan_id} approved." in _text(browser, "message")


def test_a_borrower_token_gets_a_refusal_and_no_case(
    browser: Any, server: Server, seeded: dict[str, Any]
) -> None:
    _fresh(browser, server)
    _by_id(browser, "token").send_keys(server.token("borrower", "borrower-9", ["Z9"]))
    _by_id(browser, "token-form").submit()
    _wait(browser, lambda d: _by_id(d, "workspace").is_displayed())
    # Another borrower's account: the API does not even say whether it exists.
    _type(browser, "account", "E1")
    _by_id(browser, "open-form").submit()
    _wait_text(browser, "message", "no account E1")
    _by_id(browser, "next-form").submit()
    _wait_text(browser, "message", "403")
    assert _by_id(browser, "case").is_displayed() is False
    assert "E1" not in _text(browser, "case-summary")
    _shot(browser, "borrower-refused")
