"""Authentication and authorisation on every route of every service (issue 3).

The matrix is built from the apps' own route tables, so a new route is covered
the moment it exists; a route without an access rule cannot even be built.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from services.registry import bootstrap_module, migrations_dir
from shared.auth import ROLES, AuthError, TokenVerifier, mint_dev_token
from shared.migrations import upgrade
from shared.openapi import api_routes
from shared.security import PUBLIC, secured
from shared.settings import SERVICES, Settings, SettingsError
from tests.support import auth, bill, day_closed, opened, settings_for

OWN, OTHER = "ACC-OWN", "ACC-OTHER"


class Stack:
    """The four apps, running, with their settings."""

    def __init__(self) -> None:
        self.apps: dict[str, FastAPI] = {}
        self.clients: dict[str, httpx.AsyncClient] = {}
        self.settings: dict[str, Settings] = {}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack()
    async with AsyncExitStack() as exits:
        for name in SERVICES:
            settings = settings_for(name, tmp_path, borrower_requests_per_minute=10_000)
            await asyncio.to_thread(upgrade, settings, migrations_dir(name))
            app = bootstrap_module(name).create_app(settings)
            await exits.enter_async_context(app.router.lifespan_context(app))
            s.apps[name], s.settings[name] = app, settings
            s.clients[name] = await exits.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
            )
        yield s


def concrete(path: str, account_id: str = OWN) -> str:
    """A path with every parameter filled in; account ids as given."""
    path = path.replace("{account_id}", account_id)
    path = path.replace("{dead_letter_id}", "1").replace("{consumer_name}", "inbound")
    path = path.replace("{event_id}", "0b9e0c53-59a3-4bd0-8a4f-7d1d7a3c9a01")
    path = path.replace("{plan_id}", "PLAN-1").replace("{sha256}", "ab" * 32)
    path = path.replace("{queue}", "agents").replace("{point_id}", "PT-1")
    path = path.replace("{debt_id}", "B1")
    assert "{" not in path, f"test does not know how to fill {path}"
    return path


async def call(
    client: httpx.AsyncClient, route: APIRoute, headers: dict[str, str], account: str = OWN
) -> httpx.Response:
    method = sorted(route.methods)[0]
    body = {"events": [opened(account)]} if method == "POST" else None
    return await client.request(method, concrete(route.path, account), json=body, headers=headers)


def token_with(settings: Settings, **claims: Any) -> dict[str, str]:
    secret = settings.dev_secret_path.read_bytes().strip()
    now = int(time.time())
    base = {
        "sub": "x",
        "role": "agent",
        "iss": settings.issuer,
        "aud": settings.auth_audience,
        "iat": now,
        "exp": now + 600,
    }
    base.update(claims)
    base = {k: v for k, v in base.items() if v is not None}
    return {"Authorization": f"Bearer {jwt.encode(base, secret, 'HS256')}"}


# -- the matrix -----------------------------------------------------------------------


def test_every_route_of_every_service_declares_its_roles(tmp_path: Path) -> None:
    for name in SERVICES:
        app = bootstrap_module(name).create_app(settings_for(name, tmp_path))
        routes = api_routes(app)
        assert routes
        for route in routes:
            roles = getattr(route, "allowed_roles", None)
            assert roles is not None, f"{name} {route.path} has no access rule"
            assert roles == PUBLIC or roles <= set(ROLES), (name, route.path, roles)
            if roles == PUBLIC:
                assert route.path in ("/healthz", "/readyz", "/metrics"), (
                    f"{route.path} must not be public"
                )


READERS = {"agent", "supervisor", "compliance", "borrower"}
SELF = {"borrower", "agent", "supervisor"}

# What the roles table in issue 3 says, checked against what the routes declare.
EXPECTED = {
    ("accounts", "POST", "/v1/inbound/events"): {"integrator"},
    ("accounts", "GET", "/v1/inbound/submissions/{event_id}"): {"integrator"},
    ("accounts", "GET", "/v1/inbound/submissions"): {"integrator"},
    ("accounts", "GET", "/v1/accounts/{account_id}"): READERS,
    ("accounts", "GET", "/v1/accounts/{account_id}/bills"): READERS,
    ("accounts", "GET", "/v1/accounts/{account_id}/allocations"): READERS,
    ("accounts", "GET", "/v1/accounts/{account_id}/delinquency"): READERS,
    ("plans", "POST", "/v1/accounts/{account_id}/plans"): SELF,
    ("plans", "GET", "/v1/accounts/{account_id}/plans/{plan_id}"): READERS,
    ("plans", "POST", "/v1/accounts/{account_id}/plans/{plan_id}/offer"): SELF,
    ("plans", "POST", "/v1/accounts/{account_id}/plans/{plan_id}/approve"): {"supervisor"},
    ("plans", "POST", "/v1/accounts/{account_id}/plans/{plan_id}/reject"): {"supervisor"},
    ("plans", "POST", "/v1/accounts/{account_id}/plans/{plan_id}/accept"): SELF,
    ("plans", "POST", "/v1/accounts/{account_id}/plans/{plan_id}/decline"): SELF,
    ("plans", "POST", "/v1/accounts/{account_id}/plans/{plan_id}/cancel"): SELF,
    ("plans", "POST", "/v1/accounts/{account_id}/evidence"): SELF,
    ("plans", "GET", "/v1/accounts/{account_id}/evidence"): READERS,
    ("plans", "GET", "/v1/accounts/{account_id}/evidence/{sha256}"): {
        "supervisor",
        "compliance",
        "borrower",
    },
    ("contact", "PUT", "/v1/accounts/{account_id}/self-service/preferences"): SELF,
    ("contact", "GET", "/v1/accounts/{account_id}/reminders"): READERS,
    ("contact", "POST", "/v1/queues/{queue}/next"): {"agent", "supervisor"},
    ("contact", "GET", "/v1/queues"): {"supervisor"},
    ("contact", "POST", "/v1/accounts/{account_id}/contact-points"): {
        "integrator",
        "agent",
        "supervisor",
    },
    ("contact", "POST", "/v1/accounts/{account_id}/contact-points/{point_id}/otp-result"): {
        "integrator",
        "agent",
        "supervisor",
    },
    ("audit", "GET", "/v1/accounts/{account_id}/story"): {"compliance"},
    ("audit", "GET", "/v1/accounts/{account_id}/state"): {"compliance"},
    ("audit", "GET", "/v1/accounts/{account_id}/series"): {"compliance"},
    ("audit", "GET", "/v1/accounts/{account_id}/report.pdf"): {"compliance"},
    ("audit", "GET", "/v1/checkpoints/published/compare"): {"compliance"},
    ("plans", "POST", "/v1/accounts/{account_id}/plans/quote"): {"agent", "supervisor", "borrower"},
    ("plans", "GET", "/v1/accounts/{account_id}/plans"): {
        "agent",
        "supervisor",
        "compliance",
        "borrower",
    },
    ("contact", "GET", "/v1/accounts/{account_id}/case"): {
        "agent",
        "supervisor",
        "compliance",
        "borrower",
    },
    ("contact", "POST", "/v1/accounts/{account_id}/contact-attempts/check"): {
        "agent",
        "supervisor",
    },
    ("contact", "POST", "/v1/accounts/{account_id}/contact-attempts"): {"agent", "supervisor"},
    ("contact", "POST", "/v1/accounts/{account_id}/self-service/opt-out"): SELF,
    ("contact", "POST", "/v1/accounts/{account_id}/self-service/cease"): SELF,
    ("contact", "POST", "/v1/accounts/{account_id}/self-service/dispute"): SELF,
    ("contact", "POST", "/v1/accounts/{account_id}/self-service/callback"): SELF,
    ("contact", "POST", "/v1/accounts/{account_id}/disputes/{debt_id}/resolution"): {
        "supervisor",
        "compliance",
    },
    ("audit", "GET", "/v1/accounts/{account_id}/history"): {"compliance"},
    ("audit", "GET", "/v1/accounts/{account_id}/verify"): {"compliance"},
    ("audit", "GET", "/v1/verify"): {"compliance"},
    ("audit", "GET", "/v1/access-log"): {"compliance"},
    ("audit", "GET", "/v1/accounts/{account_id}/export.csv"): {"compliance"},
    ("audit", "POST", "/v1/checkpoints"): {"compliance"},
    ("audit", "GET", "/v1/checkpoints/latest"): {"compliance"},
    ("audit", "GET", "/v1/accounts/{account_id}/bundle"): {"compliance"},
    ("audit", "POST", "/v1/accounts/{account_id}/personal-data/erasure"): {"compliance"},
}


def test_the_declared_roles_are_the_documented_policy(tmp_path: Path) -> None:
    seen = set()
    for name in SERVICES:
        app = bootstrap_module(name).create_app(settings_for(name, tmp_path))
        for route in api_routes(app):
            key = (name, sorted(route.methods)[0], route.path)
            roles = route.allowed_roles  # type: ignore[attr-defined]
            if route.path.startswith("/v1/admin/"):
                assert roles == {"ops"}, key  # admin is ops' alone
            elif route.path in ("/healthz", "/readyz", "/metrics"):
                assert roles == PUBLIC
            else:
                assert roles == EXPECTED[key], key
                seen.add(key)
            if "{account_id}" in route.path:
                assert "ops" not in roles, f"{key}: ops must not see borrower data"
    assert seen == set(EXPECTED), "a documented route is missing"


def test_a_route_without_a_rule_cannot_be_built() -> None:
    router = APIRouter(route_class=secured({"known": {"ops"}}))
    with pytest.raises(RuntimeError, match="no access rule"):

        @router.get("/new")
        async def brand_new() -> None: ...


def test_a_rule_naming_an_unknown_role_is_refused() -> None:
    router = APIRouter(route_class=secured({"thing": {"admin"}}))
    with pytest.raises(ValueError, match="unknown roles"):

        @router.get("/thing")
        async def thing() -> None: ...


async def test_the_full_matrix_of_routes_roles_and_bad_tokens(stack: Stack) -> None:
    checked = 0
    for name, app in stack.apps.items():
        client, settings = stack.clients[name], stack.settings[name]
        expired = token_with(settings, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
        forged = {
            "Authorization": "Bearer "
            + jwt.encode(
                {
                    "sub": "x",
                    "role": "ops",
                    "iss": settings.issuer,
                    "aud": settings.auth_audience,
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 600,
                },
                "a-secret-of-another-install-0123456789",
                "HS256",
            )
        }
        for route in api_routes(app):
            roles = route.allowed_roles  # type: ignore[attr-defined]
            where = f"{name} {sorted(route.methods)[0]} {route.path}"
            for label, headers in (
                ("no token", {}),
                ("expired", expired),
                ("forged", forged),
                ("garbage", {"Authorization": "Bearer abc.def.ghi"}),
            ):
                r = await call(client, route, headers)
                want = 200 if roles == PUBLIC else 401
                assert r.status_code == want, f"{where} with {label}: {r.status_code} {r.text}"
                checked += 1
            if roles == PUBLIC:
                continue
            for role in ROLES:
                accounts = [OWN] if role == "borrower" else None
                r = await call(client, route, auth(settings, role, accounts=accounts))
                if role in roles:
                    assert r.status_code not in (401, 403), f"{where} as {role}: {r.status_code}"
                else:
                    assert r.status_code == 403, f"{where} as {role}: {r.status_code} {r.text}"
                checked += 1
    assert checked > 50


# -- object level (OWASP API1) --------------------------------------------------------


async def test_a_borrower_never_reaches_another_borrowers_account(stack: Stack) -> None:
    integrator = auth(stack.settings["accounts"], "integrator")
    for account in (OWN, OTHER):
        r = await stack.clients["accounts"].post(
            "/v1/inbound/events",
            json={"events": [opened(account), bill(account, "B1")]},
            headers=integrator,
        )
        assert r.json()["accepted"] == 2
    probed = 0
    for name, app in stack.apps.items():
        borrower = auth(stack.settings[name], "borrower", sub="alice", accounts=[OWN])
        for route in api_routes(app):
            if "{account_id}" not in route.path:
                continue
            if "borrower" not in route.allowed_roles:  # type: ignore[attr-defined]
                continue
            other = await call(stack.clients[name], route, borrower, account=OTHER)
            assert other.status_code == 404, f"{name} {route.path}: {other.status_code}"
            assert OTHER not in other.text.replace(f"no account {OTHER}", "")
            probed += 1
    assert probed >= 3
    own = await stack.clients["accounts"].get(
        f"/v1/accounts/{OWN}",
        headers=auth(stack.settings["accounts"], "borrower", sub="alice", accounts=[OWN]),
    )
    assert own.status_code == 200 and own.json()["account_id"] == OWN


# -- property level (OWASP API3) and the actor ----------------------------------------


async def test_ingest_takes_source_and_actor_from_the_token_not_the_body(stack: Stack) -> None:
    event = opened(OWN)
    event["source"] = "someone-else"
    event["recorded_at"] = "2000-01-01T00:00:00+00:00"
    event["metadata"] = {"actor": {"subject": "root", "role": "ops"}, "trace": "t-1"}
    r = await stack.clients["accounts"].post(
        "/v1/inbound/events",
        json={"events": [event]},
        headers=auth(stack.settings["accounts"], "integrator", sub="platform-7"),
    )
    assert r.json()["accepted"] == 1
    runtime = stack.apps["accounts"].state.runtime
    async with runtime.uow() as uow:
        (stored,), _ = await uow.events.load(f"account-{OWN}")
    assert stored.source == "platform-7"
    assert stored.metadata["actor"] == {"subject": "platform-7", "role": "integrator"}
    assert stored.metadata["trace"] == "t-1"
    assert stored.recorded_at is not None and stored.recorded_at.year != 2000


async def test_a_requested_plan_records_who_requested_it(stack: Stack) -> None:
    await stack.clients["accounts"].post(
        "/v1/inbound/events",
        json={"events": [opened(OWN), bill(OWN, "B-REQ"), day_closed("2026-03-09", OWN)]},
        headers=auth(stack.settings["accounts"], "integrator"),
    )
    headers = auth(stack.settings["plans"], "borrower", sub="alice", accounts=[OWN])
    body = {"plan_type": "deferral", "channel": "app"}
    deadline = time.monotonic() + 20
    while True:
        r = await stack.clients["plans"].post(
            f"/v1/accounts/{OWN}/plans", json=body, headers=headers
        )
        if r.status_code == 201 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 201, r.text
    requested = r.json()["requested"]
    assert (requested["requested_by"], requested["role"]) == ("alice", "borrower")
    spoofed = await stack.clients["plans"].post(
        f"/v1/accounts/{OWN}/plans",
        json={**body, "requested_by": "someone", "recorded_at": "2000-01-01T00:00:00Z"},
        headers=headers,
    )
    assert spoofed.status_code == 422


# -- limits (OWASP API4) ----------------------------------------------------------------


async def test_borrowers_are_rate_limited_per_token_with_retry_after(tmp_path: Path) -> None:
    settings = settings_for("accounts", tmp_path, borrower_requests_per_minute=3)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    app = bootstrap_module("accounts").create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        alice = auth(settings, "borrower", sub="alice", accounts=[OWN])
        bob = auth(settings, "borrower", sub="bob", accounts=[OTHER])
        codes = [
            (await client.get(f"/v1/accounts/{OWN}", headers=alice)).status_code for _ in range(4)
        ]
        assert codes[:3] == [404, 404, 404] and codes[3] == 429
        limited = await client.get(f"/v1/accounts/{OWN}", headers=alice)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert (await client.get(f"/v1/accounts/{OTHER}", headers=bob)).status_code == 404
        agent = auth(settings, "agent")
        for _ in range(5):  # other roles are not rate limited
            assert (await client.get(f"/v1/accounts/{OWN}", headers=agent)).status_code == 404


async def test_probing_other_borrowers_accounts_spends_the_same_budget(tmp_path: Path) -> None:
    settings = settings_for("accounts", tmp_path, borrower_requests_per_minute=3)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    app = bootstrap_module("accounts").create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        alice = auth(settings, "borrower", sub="alice", accounts=[OWN])
        codes = [
            (await client.get(f"/v1/accounts/{OTHER}-{i}", headers=alice)).status_code
            for i in range(4)
        ]
        assert codes == [404, 404, 404, 429]
        assert (await client.get(f"/v1/accounts/{OWN}", headers=alice)).status_code == 429


async def test_list_endpoints_refuse_pages_over_the_maximum(stack: Stack) -> None:
    compliance = auth(stack.settings["audit"], "compliance")
    r = await stack.clients["audit"].get(
        f"/v1/accounts/{OWN}/history?limit=100000&purpose=test", headers=compliance
    )
    assert r.status_code == 422
    r = await stack.clients["plans"].get(
        f"/v1/accounts/{OWN}/plans?limit=100000", headers=auth(stack.settings["plans"], "agent")
    )
    assert r.status_code == 422
    r = await stack.clients["accounts"].get(
        "/v1/admin/dead-letters?limit=100000", headers=auth(stack.settings["accounts"], "ops")
    )
    assert r.status_code == 422


# -- token validation -----------------------------------------------------------------


@pytest.fixture
def dev_settings(tmp_path: Path) -> Settings:
    return settings_for("accounts", tmp_path)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"nbf": int(time.time()) + 600}, "not valid yet"),
        ({"iss": "someone-else"}, "InvalidIssuerError"),
        ({"aud": "another-api"}, "InvalidAudienceError"),
        ({"sub": None}, "MissingRequiredClaimError"),
        ({"exp": None}, "MissingRequiredClaimError"),
        ({"role": "root"}, "no known role"),
        ({"role": "borrower"}, "must name its accounts"),
        ({"role": "agent", "accounts": "A1"}, "list of account ids"),
    ],
)
def test_bad_claims_are_refused_with_a_reason(
    dev_settings: Settings, claims: dict[str, Any], reason: str
) -> None:
    verifier = TokenVerifier(dev_settings)
    header = token_with(dev_settings, **claims)["Authorization"]
    with pytest.raises(AuthError, match=reason):
        verifier.verify(header.split(" ", 1)[1])


def test_an_unsigned_token_is_refused(dev_settings: Settings) -> None:
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": "x",
            "role": "ops",
            "iss": dev_settings.issuer,
            "aud": dev_settings.auth_audience,
            "iat": now,
            "exp": now + 60,
        },
        None,
        algorithm="none",
    )
    with pytest.raises(AuthError):
        TokenVerifier(dev_settings).verify(token)


def test_a_dev_token_carries_role_subject_and_accounts(dev_settings: Settings) -> None:
    token = mint_dev_token(dev_settings, role="borrower", subject="alice", accounts=["A1", "A2"])
    principal = TokenVerifier(dev_settings).verify(token)
    assert (principal.subject, principal.role, principal.accounts) == (
        "alice",
        "borrower",
        frozenset({"A1", "A2"}),
    )


def test_a_dev_token_expires(dev_settings: Settings) -> None:
    token = mint_dev_token(
        dev_settings,
        role="ops",
        subject="o",
        ttl=timedelta(minutes=5),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    with pytest.raises(AuthError, match="expired"):
        TokenVerifier(dev_settings).verify(token)


def test_another_installs_dev_token_is_refused(tmp_path: Path) -> None:
    ours = settings_for("accounts", tmp_path / "ours")
    theirs = settings_for("accounts", tmp_path / "theirs")
    token = mint_dev_token(theirs, role="ops", subject="o")
    with pytest.raises(AuthError):
        TokenVerifier(ours).verify(token)


# -- production keys ------------------------------------------------------------------


def _pem(private_key: Any) -> tuple[bytes, str]:
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private, public.decode()


def _hs256(claims: dict[str, Any], key: bytes) -> str:
    """A token HMAC-signed by hand (PyJWT rightly refuses to use a PEM key as a secret)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def _production(tmp_path: Path, **auth_settings: Any) -> Settings:
    return Settings.load(
        "accounts",
        data_dir=tmp_path,
        auth_mode="production",
        auth_issuer="https://idp.example",
        auth_audience="arrears",
        **auth_settings,
    )


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "svc",
        "role": "integrator",
        "iss": "https://idp.example",
        "aud": "arrears",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        **over,
    }


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_production_verifies_with_a_public_key(tmp_path: Path, algorithm: str) -> None:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    private, public = _pem(key)
    (tmp_path / "pub.pem").write_text(public)
    verifier = TokenVerifier(_production(tmp_path, auth_public_key_file=tmp_path / "pub.pem"))
    assert verifier.verify(jwt.encode(_claims(), private, algorithm)).role == "integrator"
    with pytest.raises(AuthError, match="InvalidIssuerError"):
        verifier.verify(jwt.encode(_claims(iss="https://evil.example"), private, algorithm))
    # Algorithm confusion: HS256 "signed" with the public key must not pass.
    with pytest.raises(AuthError):
        verifier.verify(_hs256(_claims(), public.encode()))


def test_production_picks_the_jwks_key_by_kid(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(
        json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]})
    )
    verifier = TokenVerifier(_production(tmp_path, auth_jwks_file=tmp_path / "jwks.json"))
    private, _ = _pem(key)
    good = jwt.encode(_claims(), private, "RS256", headers={"kid": "k1"})
    assert verifier.verify(good).subject == "svc"
    other_private, _ = _pem(other)
    with pytest.raises(AuthError):
        verifier.verify(jwt.encode(_claims(), other_private, "RS256", headers={"kid": "k1"}))
    with pytest.raises(AuthError, match="unknown key"):
        verifier.verify(jwt.encode(_claims(), private, "RS256", headers={"kid": "k9"}))


def test_production_without_keys_or_issuer_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings.load("accounts", data_dir=tmp_path, auth_mode="production")
    with pytest.raises(SettingsError, match=re.escape("AUTH_PUBLIC_KEY_FILE or AUTH_JWKS_FILE")):
        bootstrap_module("accounts").create_app(settings)
    missing = _production(tmp_path, auth_public_key_file=tmp_path / "nope.pem")
    with pytest.raises(SettingsError, match="does not exist"):
        TokenVerifier(missing)


async def test_an_integrator_reads_its_own_submission_results_only(stack: Stack) -> None:
    settings, client = stack.settings["accounts"], stack.clients["accounts"]
    mine, other = auth(settings, "integrator", sub="p1"), auth(settings, "integrator", sub="p2")
    good, bad = opened(OWN), bill("NOBODY", "B1")
    r = await client.post("/v1/inbound/events", json={"events": [good, bad]}, headers=mine)
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected"]

    found = await client.get(f"/v1/inbound/submissions/{good['id']}", headers=mine)
    assert found.status_code == 200 and found.json()["status"] == "accepted"
    refused = (await client.get(f"/v1/inbound/submissions/{bad['id']}", headers=mine)).json()
    assert refused["status"] == "rejected" and "unknown account" in refused["reason"]
    # Another integrator cannot tell the submission exists.
    assert (
        await client.get(f"/v1/inbound/submissions/{good['id']}", headers=other)
    ).status_code == 404
    listed = await client.get("/v1/inbound/submissions?status=rejected", headers=mine)
    assert [s["event_id"] for s in listed.json()["submissions"]] == [bad["id"]]
    assert (await client.get("/v1/inbound/submissions", headers=other)).json()["submissions"] == []
    # Resubmitting the same id is a duplicate and the record still says accepted.
    await client.post("/v1/inbound/events", json={"events": [good]}, headers=mine)
    again = await client.get(f"/v1/inbound/submissions/{good['id']}", headers=mine)
    assert again.json()["status"] == "accepted"
