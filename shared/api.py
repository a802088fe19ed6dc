"""HTTP pieces every service shares: health, readiness, and errors as problem details."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import TokenVerifier
from shared.bounds import QueryInt
from shared.consumer import EventConsumer
from shared.errors import ConcurrencyError, InvalidEvent, Rejected
from shared.eventlog.port import LogUnavailable
from shared.logs import CorrelationIds
from shared.metrics import CONTENT_TYPE_LATEST, HttpMetrics
from shared.openapi import document_errors
from shared.ratelimit import InMemoryRateLimiter, RateLimiter, SqlRateLimiter
from shared.runtime import ServiceRuntime
from shared.security import PUBLIC, CurrentPrincipal, secured

log = logging.getLogger(__name__)


class SecurityHeaders:
    """Adds `X-Content-Type-Options: nosniff` to every answer, and `Cache-Control: no-store`
    to every answer to an authenticated request (it may carry personal data), unless the
    route set its own Cache-Control."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authenticated = any(name == b"authorization" for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if authenticated and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def health_router(runtime: ServiceRuntime[Any]) -> APIRouter:
    """`/healthz` (the process lives), `/readyz` (it can do its work) and, unless turned off
    or moved to its own port, `/metrics`."""
    router = APIRouter(
        tags=["health"],
        route_class=secured({"healthz": PUBLIC, "readyz": PUBLIC, "metrics": PUBLIC}),
    )

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        # Alive while it waits for the broker; not once starting met an error that retrying
        # cannot fix, so that an orchestrator restarts it (and shows why in its log).
        failed = runtime.start_failed
        return JSONResponse(
            {"status": "failed" if failed else "ok", "service": runtime.settings.service},
            status_code=503 if failed else 200,
        )

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        checks, lag = await runtime.ready()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            # Parked outbox keys do not make a service unready (everything else flows);
            # they are for ops' alerts.
            {
                "status": "ok" if ok else "unavailable",
                "checks": checks,
                "max_lag": lag,
                "outbox_parked": runtime.outbox_parked,
            },
            status_code=200 if ok else 503,
        )

    settings = runtime.settings
    if settings.metrics_enabled and settings.metrics_port is None:

        @router.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(await scrape(runtime), media_type=CONTENT_TYPE_LATEST)

    return router


async def scrape(runtime: ServiceRuntime[Any]) -> bytes:
    """The service's metrics, the scrape-time gauges refreshed first; a dependency that
    cannot answer leaves its gauges as they were rather than failing the scrape."""
    try:
        await runtime.refresh_metrics()
    except Exception as exc:
        log.warning("metrics refresh failed: %s", type(exc).__name__)
    return runtime.meter.render()


async def serve_metrics(runtime: ServiceRuntime[Any], stop: asyncio.Event) -> None:
    """Answer every HTTP request on METRICS_HOST:METRICS_PORT with the metrics, until `stop`.

    A bare asyncio server: the port serves nothing else, and a second web server would
    fight the main one for the process's signal handlers.
    """

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(asyncio.LimitOverrunError, ValueError):
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            body = await scrape(runtime)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: "
                + CONTENT_TYPE_LATEST.encode()
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    settings = runtime.settings
    server = await asyncio.start_server(answer, settings.metrics_host, settings.metrics_port)
    async with server:
        await stop.wait()


class BodyLimit:
    """Refuses request bodies over `max_bytes` (OWASP API4), declared or chunked."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        # No trustworthy length (chunked): read the body up to the limit before the app
        # sees any of it, so an oversized request is refused having changed nothing.
        chunks: list[bytes] = []
        seen, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            more = message.get("more_body", False)
            if seen > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "Payload too large", f"the body limit is {self.max_bytes} bytes")
        await response(scope, receive, send)


MAX_PAGE = 500


def admin_router(runtime: ServiceRuntime[Any]) -> APIRouter:
    """Ops: list, replay and discard this service's dead letters (no borrower data shown)."""
    router = APIRouter(
        prefix="/v1/admin",
        tags=["admin"],
        route_class=secured(
            {
                "list_dead_letters": {"ops"},
                "replay_dead_letter": {"ops"},
                "discard_dead_letter": {"ops"},
            }
        ),
    )

    def consumer(name: str) -> EventConsumer:
        if name not in runtime.consumers:
            raise HTTPException(
                404, f"no consumer {name}; this service has {sorted(runtime.consumers)}"
            )
        return runtime.consumers[name]

    @router.get("/dead-letters")
    async def list_dead_letters(
        include_resolved: bool = False,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        after_id: Annotated[QueryInt, Query()] = 0,
    ) -> dict[str, Any]:
        """Dead letters of every consumer of this service, oldest first, a page at a time."""
        letters = []
        for name, c in runtime.consumers.items():
            for dl in await c.dead_letters(include_resolved=include_resolved):
                if dl.id > after_id:
                    # `consumer` is what the replay and discard routes take; `group` in full.
                    letters.append({**dl.__dict__, "consumer": name, "group": dl.consumer})
        letters.sort(key=lambda d: d["id"])
        page = letters[:limit]
        return {
            "dead_letters": page,
            "next_after_id": page[-1]["id"] if len(letters) > limit else None,
        }

    @router.post("/dead-letters/{consumer_name}/{dead_letter_id}/replay")
    async def replay_dead_letter(
        consumer_name: str, dead_letter_id: int, principal: CurrentPrincipal
    ) -> dict[str, str]:
        """Apply a dead letter again and release its account's parked records."""
        result = await consumer(consumer_name).replay(dead_letter_id, f"ops:{principal.subject}")
        runtime.notify_relay()
        return {"result": result}

    @router.post("/dead-letters/{consumer_name}/{dead_letter_id}/discard")
    async def discard_dead_letter(
        consumer_name: str, dead_letter_id: int, principal: CurrentPrincipal
    ) -> dict[str, str]:
        """Give up on a dead letter and release its account's parked records."""
        result = await consumer(consumer_name).discard(dead_letter_id, f"ops:{principal.subject}")
        runtime.notify_relay()
        return {"result": result}

    return router


class FieldProblem(BaseModel):
    """One invalid input: where it is (`loc`), what is wrong, and the check's name."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem-details body: every error arrears answers has this shape."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(
        default=None, description="each invalid input, for 400 and 422 answers"
    )


PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem-details response."""
    body = Problem(title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers) if headers else None,
    )


def _field_problems(exc: RequestValidationError) -> list[FieldProblem]:
    # The offending input itself is never echoed: it may be personal data.
    return [
        FieldProblem(loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=e.get("type", ""))
        for e in exc.errors()
    ]


def _body_not_json(request: Request, problems: list[FieldProblem]) -> bool:
    # FastAPI hands a non-JSON body to the model as bytes and reports a type error; the
    # honest answer is that the route takes JSON.
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = media == "application/json" or media.endswith("+json")
    return bool(media) and not is_json and any(p.loc[:1] == ["body"] for p in problems)


def _describe_problems(problems: list[FieldProblem]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in f.loc) or 'request'}: {f.msg}" for f in problems)


def install_error_handlers(app: FastAPI, statuses: dict[type[Rejected], int] | None = None) -> None:
    """Turn the platform's errors into clear HTTP answers, all application/problem+json;
    `statuses` gives a service's own refusals their status (a conflict with state is
    409, not 422)."""

    def refusal(status: int) -> Any:
        async def handle(_: Request, exc: Exception) -> JSONResponse:
            assert isinstance(exc, Rejected)
            return problem(status, HTTPStatus(status).phrase, exc.reason)

        return handle

    for kind, status in (statuses or {}).items():
        app.add_exception_handler(kind, refusal(status))

    @app.exception_handler(Rejected)
    async def rejected(_: Request, exc: Rejected) -> JSONResponse:
        return problem(422, "Rejected", exc.reason)

    @app.exception_handler(InvalidEvent)
    async def invalid(_: Request, exc: InvalidEvent) -> JSONResponse:
        return problem(422, "Invalid event", exc.reason)

    @app.exception_handler(ConcurrencyError)
    async def conflict(_: Request, exc: ConcurrencyError) -> JSONResponse:
        return problem(409, "Conflict", f"{exc}; retry the request")

    @app.exception_handler(LogUnavailable)
    async def log_unavailable(_: Request, exc: LogUnavailable) -> JSONResponse:
        # Before the service has reached its broker (or while it is away): a retry later
        # succeeds, which is what 503 with Retry-After says; /readyz tells why.
        return problem(
            503,
            "Service Unavailable",
            "the event log is not available yet; retry later (see /readyz)",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(LookupError)
    async def not_found(_: Request, exc: LookupError) -> JSONResponse:
        return problem(404, "Not found", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem(
            exc.status_code, HTTPStatus(exc.status_code).phrase, detail, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = _field_problems(exc)
        if _body_not_json(request, problems):
            return problem(415, "Unsupported Media Type", "the body must be application/json")
        if any(p.type == "json_invalid" for p in problems):
            return problem(400, "Bad Request", "the body is not valid JSON", errors=problems)
        return problem(422, "Unprocessable Content", _describe_problems(problems), errors=problems)

    @app.exception_handler(Exception)
    async def server_error(_: Request, exc: Exception) -> JSONResponse:
        # The server logs the traceback (redacted); the client learns nothing internal.
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return problem(500, "Internal Server Error", "the server failed; it has been logged")


def borrower_limiter(runtime: ServiceRuntime[Any]) -> RateLimiter:
    """The borrowers' rate limiter the settings ask for."""
    per_minute = runtime.settings.borrower_requests_per_minute
    if runtime.settings.rate_limit_store == "memory":
        return InMemoryRateLimiter(per_minute)
    return SqlRateLimiter(runtime.sessions, runtime.tables.rate_buckets, per_minute)


def create_service_app(
    runtime: ServiceRuntime[Any],
    *,
    title: str,
    routers: list[APIRouter],
    consume: bool = True,
    max_body_bytes: int | None = None,
    statuses: dict[type[Rejected], int] | None = None,
    **state: Any,
) -> FastAPI:
    """A service's FastAPI app: its routers, health, errors, and its workers in the lifespan.

    `max_body_bytes` raises the request size limit above INGEST_MAX_BODY_BYTES (uploads);
    `statuses` maps the service's own Rejected subclasses to their HTTP status.
    """

    if runtime.settings.metrics_enabled and runtime.settings.metrics_port is not None:
        runtime.workers.append(partial(serve_metrics, runtime))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Never blocks on the broker: the runtime retries in the background while the
        # app answers /healthz and /readyz; only an error retrying cannot fix stops it.
        await runtime.launch(consume=consume)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.verifier = TokenVerifier(runtime.settings)
    app.state.borrower_limiter = borrower_limiter(runtime)
    for name, value in state.items():
        setattr(app.state, name, value)
    limit = max(runtime.settings.ingest_max_body_bytes, max_body_bytes or 0)
    app.add_middleware(BodyLimit, max_bytes=limit)
    app.add_middleware(SecurityHeaders)
    # Outermost: it sees the status every other layer settled on, refusals included.
    app.add_middleware(HttpMetrics, metrics=runtime.meter)
    app.add_middleware(CorrelationIds, service=runtime.settings.service)
    install_error_handlers(app, statuses)
    document_errors(app, Problem)
    app.include_router(health_router(runtime))
    app.include_router(admin_router(runtime))
    for router in routers:
        app.include_router(router)
    return app
