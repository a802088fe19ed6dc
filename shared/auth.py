"""Bearer tokens: who is calling, in which role, and (for borrowers) for which accounts."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from shared.errors import ArrearsError
from shared.settings import Settings, SettingsError

ROLES = ("integrator", "agent", "supervisor", "compliance", "ops", "borrower")
DEV_ALGORITHM = "HS256"


class AuthError(ArrearsError):
    """A token that does not prove who the caller is; the reason is safe to show them."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    subject: str
    role: str
    accounts: frozenset[str] = field(default_factory=frozenset)

    def actor(self) -> dict[str, str]:
        """Who did it, as it travels in the metadata of the events a request causes."""
        return {"subject": self.subject, "role": self.role}


def ensure_dev_secret(path: Path) -> bytes:
    """The per-install development signing secret, created (owner-only) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: processes starting together never read
        # a half-written secret, and the first one's secret wins.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes().strip()


def check_production_auth(settings: Settings) -> None:
    """Refuse to serve without a way to verify tokens (checked when an app is built)."""
    problems = []
    if not (settings.auth_public_key_file or settings.auth_jwks_file):
        problems.append(
            "AUTH_MODE=production needs AUTH_PUBLIC_KEY_FILE or AUTH_JWKS_FILE"
            " (or AUTH_MODE=development for a local install)"
        )
    if not settings.auth_issuer:
        problems.append("AUTH_MODE=production needs AUTH_ISSUER")
    for key_file in (settings.auth_public_key_file, settings.auth_jwks_file):
        if key_file is not None and not key_file.is_file():
            problems.append(f"auth key file {key_file} does not exist")
    if problems:
        raise SettingsError("; ".join(problems))


class TokenVerifier:
    """Checks signature, issuer, audience, expiry and not-before, then the arrears claims."""

    def __init__(self, settings: Settings) -> None:
        self._issuer = settings.issuer
        self._audience = settings.auth_audience
        self._leeway = settings.auth_leeway_seconds
        self._key: Any = None
        self._jwks: jwt.PyJWKSet | None = None
        if settings.auth_mode == "development":
            self._key = ensure_dev_secret(settings.dev_secret_path)
            self._algorithms = [DEV_ALGORITHM]
        else:
            check_production_auth(settings)
            self._algorithms = list(settings.auth_algorithms)
            if settings.auth_jwks_file is not None:
                self._jwks = jwt.PyJWKSet.from_json(settings.auth_jwks_file.read_text())
            else:
                assert settings.auth_public_key_file is not None
                self._key = settings.auth_public_key_file.read_text()

    def _key_for(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._jwks.keys:
            if key.key_id == kid:
                return key.key
        raise AuthError("token signed with an unknown key")

    def verify(self, token: str) -> Principal:
        """The caller a token proves, or AuthError."""
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not valid yet") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}") from None
        role = claims.get("role")
        if role not in ROLES:
            raise AuthError("token has no known role")
        accounts = claims.get("accounts", [])
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            raise AuthError("token accounts claim must be a list of account ids")
        if role == "borrower" and not accounts:
            raise AuthError("a borrower token must name its accounts")
        return Principal(str(claims["sub"]), role, frozenset(accounts))


def mint_dev_token(
    settings: Settings,
    *,
    role: str,
    subject: str,
    accounts: list[str] | None = None,
    ttl: timedelta = timedelta(hours=8),
    now: datetime | None = None,
) -> str:
    """A development token signed with the per-install secret (never for production)."""
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    if role == "borrower" and not accounts:
        raise AuthError("a borrower token needs at least one --account")
    now = now or datetime.now(UTC)
    claims = {
        "sub": subject,
        "role": role,
        "iss": settings.issuer,
        "aud": settings.auth_audience,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if accounts:
        claims["accounts"] = accounts
    return jwt.encode(claims, ensure_dev_secret(settings.dev_secret_path), DEV_ALGORITHM)
