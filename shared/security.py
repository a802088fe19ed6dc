"""Route-level authorisation: every route names its roles, in one table per router.

A router is built with `APIRouter(route_class=secured(ACCESS))`, where ACCESS maps each
endpoint function's name to the roles that may call it (or PUBLIC). A route whose name
is not in the table fails at import, so a new route cannot ship without a rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute

from shared.auth import ROLES, AuthError, Principal

PUBLIC: frozenset[str] = frozenset({"<public>"})
"""The rule of routes anyone may call (health only)."""

Rules = Mapping[str, Iterable[str]]


class Authorise:
    """The dependency that authenticates a request and checks role and object access."""

    def __init__(self, roles: Iterable[str]) -> None:
        self.roles = frozenset(roles)
        unknown = self.roles - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles in access rule: {sorted(unknown)}")

    async def __call__(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorised("a bearer token is required")
        try:
            principal: Principal = request.app.state.verifier.verify(token.strip())
        except AuthError as exc:
            raise _unauthorised(exc.reason) from None
        if principal.role not in self.roles:
            raise HTTPException(403, f"role {principal.role} may not do this")
        if principal.role == "borrower":
            # Every request spends budget, also one for another borrower's account:
            # probing account ids costs as much as using one's own.
            wait = await request.app.state.borrower_limiter.hit(principal.subject)
            if wait:
                raise HTTPException(
                    429, "too many requests", headers={"Retry-After": str(math.ceil(wait))}
                )
            account_id = request.path_params.get("account_id")
            # OWASP API1: another borrower's account looks exactly like no account at all.
            if account_id is not None and account_id not in principal.accounts:
                raise HTTPException(404, f"no account {account_id}")
        request.state.principal = principal
        return principal


def _unauthorised(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})


def secured(rules: Rules) -> type[APIRoute]:
    """A route class that enforces `rules` (endpoint name → roles, or PUBLIC)."""
    table = {name: frozenset(roles) for name, roles in rules.items()}

    class SecuredRoute(APIRoute):
        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            name = endpoint.__name__
            if name not in table:
                raise RuntimeError(f"route {path} ({name}) has no access rule")
            roles = table[name]
            self.allowed_roles: frozenset[str] = roles
            deps = list(kwargs.get("dependencies") or [])
            # include_router builds the route again with its dependencies: add ours once.
            if roles != PUBLIC and not any(isinstance(d.dependency, Authorise) for d in deps):
                deps.append(Depends(Authorise(roles)))
            kwargs["dependencies"] = deps
            super().__init__(path, endpoint, **kwargs)

    return SecuredRoute


def current_principal(request: Request) -> Principal:
    """The caller that the route's Authorise dependency already checked."""
    principal: Principal = request.state.principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
