"""The OpenAPI every service publishes says what each route can answer when it refuses.

FastAPI documents only success and its own 422 body. Every arrears error is an RFC 9457
problem (`shared.api.Problem`, `application/problem+json`), so each operation gets the
statuses its shape makes possible, all with that one schema:

- 401 and 403 on every secured route; 429 where borrowers may call it (they are rate
  limited);
- 404 where the path names a resource, 409 on every write (state or concurrency
  conflicts);
- 400 (malformed JSON), 413 (too large) and 415 (not JSON) where it takes a body;
- 422 (invalid input) wherever it takes parameters or a body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
DESCRIPTIONS = {
    400: "Malformed request (the body is not valid JSON)",
    401: "No valid bearer token",
    403: "The token's role may not do this",
    404: "No such resource (or not yours)",
    409: "Conflicts with the current state; the detail says why",
    413: "The body is too large",
    415: "The body is not of a type this route takes",
    422: "Invalid input; `errors` names each field",
    429: "Too many requests; see Retry-After",
}


def api_routes(app: FastAPI) -> list[APIRoute]:
    """The app's own routes (not FastAPI's docs and OpenAPI routes), included routers too."""
    found, todo = [], list(app.routes)
    while todo:
        route = todo.pop(0)
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers whole
            todo.extend(route.original_router.routes)
    return [r for r in found if not r.path.startswith(("/docs", "/openapi", "/redoc"))]


def _statuses(route: APIRoute, method: str, operation: dict[str, Any]) -> set[int]:
    roles: frozenset[str] = getattr(route, "allowed_roles", frozenset())
    public = "<public>" in roles
    codes: set[int] = set()
    if not public:
        codes |= {401, 403}
    if "borrower" in roles:
        codes.add(429)
    if "{" in route.path_format:
        codes.add(404)
    if method != "get":
        codes.add(409)
    if "requestBody" in operation:
        codes |= {400, 413, 415}
    if operation.get("parameters") or "requestBody" in operation:
        codes.add(422)
    return codes


def document_errors(app: FastAPI, problem_model: type[BaseModel]) -> None:
    """Make `app.openapi()` declare every route's error answers as problem details."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = problem_model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, sub in components["Problem"].pop("$defs", {}).items():
            components.setdefault(name, sub)
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                for code in sorted(_statuses(route, method.lower(), operation)):
                    responses.setdefault(str(code), {"description": DESCRIPTIONS[code]})
                for code, answer in responses.items():
                    # A route's own error answers (e.g. a 429 of its own) are problems too.
                    if code[0] in "45":
                        answer["content"] = {"application/problem+json": {"schema": PROBLEM_REF}}
        # FastAPI's own validation-error shapes are no longer answered by anything.
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
