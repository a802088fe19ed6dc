"""The console's server side: its page, config, headers and development sign-in."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.audit import bootstrap as audit_bootstrap
from shared.auth import TokenVerifier
from shared.settings import Settings
from shared.web.console import PREFIX, STATIC, console_app
from tests.support import settings_for


def hosted(settings: Settings, **mounts: str) -> FastAPI:
    """The console mounted as the gateway mounts it, with audit's API under /audit."""
    app = FastAPI()
    app.mount(PREFIX, console_app(settings, mounts or {"audit": "/audit"}))
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")


async def test_the_page_and_its_config_name_the_api_bases_given(tmp_path: Path) -> None:
    async with client(hosted(settings_for("audit", tmp_path))) as http:
        page = await http.get("/console/")
        config = await http.get("/console/config.json")
        script = await http.get("/console/static/console.js")
        chart = await http.get("/console/static/vendor/uplot/uPlot.iife.min.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "compliance console" in page.text
    assert config.json()["api"] == {"audit": "/audit"}
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert chart.status_code == 200 and "uPlot" in chart.text[:200]


async def test_the_workbench_page_is_served_beside_the_console_and_linked_from_it(
    tmp_path: Path,
) -> None:
    async with client(hosted(settings_for("audit", tmp_path))) as http:
        page = await http.get("/console/workbench")
        console = await http.get("/console/")
        script = await http.get("/console/static/workbench.js")
    assert page.status_code == 200 and "agent workbench" in page.text
    assert 'href="workbench"' in console.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


async def test_audit_alone_serves_the_console_reading_its_own_root(tmp_path: Path) -> None:
    app = audit_bootstrap.create_app(settings_for("audit", tmp_path))
    async with client(app) as http:
        alone = (await http.get("/console/config.json")).json()
    # Under the gateway, audit's app sits at /audit: its console then reads /audit.
    gateway = FastAPI()
    gateway.mount("/audit", app)
    async with client(gateway) as http:
        mounted = (await http.get("/audit/console/config.json")).json()
    assert alone["api"] == {"audit": ""}
    assert mounted["api"] == {"audit": "/audit"}


async def test_the_gateway_serves_the_console_with_every_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTH_MODE", "development")
    from services.gateway import create_gateway

    async with client(create_gateway()) as http:
        index = (await http.get("/")).json()
        config = (await http.get("/console/config.json")).json()
    assert index["console"] == "/console/"
    assert config["api"] == {
        "accounts": "/accounts",
        "plans": "/plans",
        "contact": "/contact",
        "audit": "/audit",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/console/",
        "/console/workbench",
        "/console/config.json",
        "/console/static/arrears.css",
        "/console/nope",
    ],
)
async def test_every_answer_carries_a_strict_content_security_policy(
    tmp_path: Path, path: str
) -> None:
    async with client(hosted(settings_for("audit", tmp_path))) as http:
        r = await http.get(path)
    csp = dict(
        part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";")
    )
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


class Markup(HTMLParser):
    """What in a page a `script-src 'self'; style-src 'self'` policy would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "style" or "style" in named or any(k.startswith("on") for k in named):
            self.inline.append(f"<{tag} {named}>")
        if tag == "script":
            if not named.get("src"):
                self.inline.append("<script> without src")
            self.sources.append(str(named.get("src")))
        if tag == "link" and named.get("rel") == "stylesheet":
            self.sources.append(str(named.get("href")))


@pytest.mark.parametrize("page", ["console.html", "workbench.html"])
def test_the_page_needs_nothing_the_policy_refuses_and_loads_only_its_own_files(
    page: str,
) -> None:
    markup = Markup()
    markup.feed((STATIC / page).read_text())
    assert markup.inline == []
    assert markup.sources and all(s.startswith("static/") for s in markup.sources)
    for source in markup.sources:
        assert (STATIC / source.removeprefix("static/")).is_file(), source
    # No URL of another origin anywhere in the page's own code (the vendored file aside).
    own_files = ("console.html", "console.js", "workbench.html", "workbench.js")
    for own in (*own_files, "arrears.js", "arrears.css"):
        assert not re.search(r"https?://", (STATIC / own).read_text()), own


async def test_development_mode_offers_staff_roles_and_signs_a_token_the_services_accept(
    tmp_path: Path,
) -> None:
    settings = settings_for("audit", tmp_path)
    async with client(hosted(settings)) as http:
        config = (await http.get("/console/config.json")).json()
        minted = await http.post(
            "/console/dev-token", json={"role": "compliance", "subject": "dana"}
        )
        unknown = await http.post("/console/dev-token", json={"role": "root"})
    assert config["auth_mode"] == "development"
    assert "compliance" in config["dev_roles"] and "borrower" not in config["dev_roles"]
    principal = TokenVerifier(settings).verify(minted.json()["token"])
    assert (principal.subject, principal.role) == ("dana", "compliance")
    assert unknown.status_code == 422


async def test_production_mode_has_no_role_picker_and_no_token_route(tmp_path: Path) -> None:
    settings = settings_for("audit", tmp_path, auth_mode="production")
    async with client(hosted(settings)) as http:
        config = (await http.get("/console/config.json")).json()
        minted = await http.post("/console/dev-token", json={"role": "compliance"})
    assert config["auth_mode"] == "production"
    assert config["dev_roles"] == []
    assert minted.status_code == 404
    assert not (tmp_path / "dev-secret").exists()  # nothing was signed


def test_the_vendored_files_are_the_ones_recorded() -> None:
    vendored = STATIC / "vendor" / "uplot"
    record = (vendored / "VENDORED.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| `[^`]+` \| `([0-9a-f]{64})` \|$", record, re.M)
    assert {name for name, _ in rows} == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    for name, sha256 in rows:
        assert hashlib.sha256((vendored / name).read_bytes()).hexdigest() == sha256, name
    assert "1.6.32" in record and "sha512-" in record and "MIT" in record
