"""The `arrears` command: serve, migrate, export schemas, rebuild read models, work dead letters."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import json
import logging
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from services.registry import bootstrap_module, migrations_dir
from shared.auth import ROLES, Principal, mint_dev_token
from shared.errors import ArrearsError
from shared.events import default_catalogue
from shared.eventstore.rebuild import PAGE, Report, describe, rebuild
from shared.logs import configure_logging
from shared.migrations import upgrade
from shared.pii import install_log_redaction, uvicorn_log_config
from shared.settings import SERVICES, Settings


def _services(name: str) -> list[str]:
    return list(SERVICES) if name == "all" else [name]


def cmd_migrate(args: argparse.Namespace) -> None:
    for service in _services(args.service):
        upgrade(Settings.load(service), migrations_dir(service))
        print(f"{service}: migrated to head", file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    if not args.no_migrate:
        cmd_migrate(args)
    if args.service == "all":
        from services.gateway import create_gateway

        app = create_gateway()
        base = f"http://{args.host}:{args.port}"
        print(f"arrears is up on {base}", file=sys.stderr)
        for service in SERVICES:
            print(f"  {service:9} API docs: {base}/{service}/docs", file=sys.stderr)
        if Settings.load("accounts").auth_mode == "development":
            print(
                "  get a development token (printed alone on stdout):\n"
                "    .venv/bin/arrears token --role integrator --sub my-platform\n"
                "    .venv/bin/arrears token --role borrower --sub alice --account A1\n"
                '  then: curl -H "Authorization: Bearer $TOKEN" ...',
                file=sys.stderr,
            )
    else:
        app = bootstrap_module(args.service).create_app()
    # One process, one format: the one origin takes accounts' settings for all four.
    settings = Settings.load("accounts" if args.service == "all" else args.service)
    key = settings.log_account_key
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=configure_logging(
            settings.log_format,
            key.get_secret_value().encode() if key is not None else None,
            uvicorn_log_config(),
        ),
    )


def cmd_token(args: argparse.Namespace) -> None:
    # Development tokens only: signed with this install's secret under DATA_DIR.
    settings = Settings.load("accounts", auth_mode="development")
    token = mint_dev_token(
        settings,
        role=args.role,
        subject=args.sub,
        accounts=args.account or None,
        ttl=timedelta(minutes=args.ttl_minutes),
    )
    print(token)


def cmd_schemas_export(args: argparse.Namespace) -> None:
    written = default_catalogue().export(Path(args.directory))
    print(f"wrote {len(written)} schemas to {args.directory}", file=sys.stderr)


def cmd_schemas_docs(args: argparse.Namespace) -> None:
    from shared.docgen import render_events_markdown

    Path(args.file).write_text(render_events_markdown(default_catalogue()))
    print(f"wrote {args.file}", file=sys.stderr)


def cmd_schemas_asyncapi(args: argparse.Namespace) -> None:
    from shared.asyncapi import render_asyncapi_json
    from shared.topics import Topics

    Path(args.file).write_text(render_asyncapi_json(default_catalogue(), Topics()))
    print(f"wrote {args.file}", file=sys.stderr)


def cmd_audit_verify_bundle(args: argparse.Namespace) -> None:
    # Offline: reads only the file (and the trusted key); no settings, no database.
    # Looked up by name, like the bootstraps, so no service's entry point imports audit.
    verify_bundle = importlib.import_module("services.audit.domain.bundle").verify_bundle

    try:
        bundle = json.loads(Path(args.file).read_text())
    except (OSError, ValueError) as exc:
        print(f"arrears: cannot read bundle {args.file}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    trusted = Path(args.public_key).read_text() if args.public_key else None
    problems = verify_bundle(bundle, trusted)
    if problems:
        for problem in problems:
            print(f"FAIL: {problem}")
        raise SystemExit(1)
    entries = len(bundle["entries"])
    origin = "the trusted key" if trusted else "the key inside the bundle (origin not proven)"
    print(f"OK: {entries} entries of account {bundle['account_id']} verified against {origin}")
    if disclosed := len(bundle.get("disclosures") or []):
        print(f"OK: {disclosed} disclosed personal values match their commitments in the chain")


def progress_bar(unit: str) -> Callable[[int, int], None]:
    """A progress bar on stderr, redrawn in place: `[####....] 12,000/40,000 events`."""

    def bar(done: int, total: int) -> None:
        width = 40
        filled = width * done // max(total, 1)
        print(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} {unit}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return bar


def cmd_audit_rebuild(args: argparse.Namespace) -> None:
    audit = bootstrap_module("audit")
    rebuild_module = importlib.import_module("services.audit.service_layer.rebuild")
    runtime = audit.bootstrap()
    bar = progress_bar("records")

    # `arrears rebuild audit` comes here too, without the flag.
    compare_only = getattr(args, "compare", False)

    async def run() -> None:
        await runtime.start(consume=False)
        try:
            if compare_only:
                comparison = await rebuild_module.compare(runtime)
            else:
                result = await rebuild_module.rebuild(runtime, bar)
                summary = await rebuild_module.heads_and_root(runtime)
        finally:
            await runtime.stop()
        if compare_only:
            print(json.dumps(comparison.to_dict(), indent=2))
            if not comparison.equal:
                raise SystemExit(1)
            return
        print(file=sys.stderr)
        print(
            json.dumps(
                {
                    "records": result.records,
                    "in_logged_order": result.in_logged_order,
                    "beyond_the_log": result.beyond_the_log,
                    "missing": result.missing,
                    "differing": result.differing,
                    "accounts": len(summary["heads"]),
                    "root": summary["root"],
                }
            )
        )

    asyncio.run(run())


def cmd_rebuild(args: argparse.Namespace) -> None:
    if args.service == "audit":
        if args.check:
            raise SystemExit(
                "arrears: audit's trail is rebuilt from the topics, not its own store; "
                "compare two runs' heads and root instead (arrears audit rebuild)"
            )
        cmd_audit_rebuild(args)
        return
    # Looked up by name, like the bootstraps: the CLI names services, they never each other.
    found = importlib.import_module(f"services.{args.service}.service_layer.projections")
    projection = found.PROJECTION
    runtime = bootstrap_module(args.service).bootstrap()

    async def run() -> Report:
        try:
            return await rebuild(
                runtime.engine,
                runtime.tables.events,
                runtime.catalogue,
                projection,
                check=args.check,
                page=args.page,
                progress=progress_bar("events"),
            )
        finally:
            await runtime.engine.dispose()

    report = asyncio.run(run())
    print(file=sys.stderr)
    for line in describe(report):
        print(line, file=sys.stderr)
    print(
        json.dumps(
            {
                "events": report.events,
                "replaced": report.replaced,
                "tables": {name: diff.__dict__ for name, diff in report.tables.items()},
            },
            default=str,
        )
    )
    if args.check and not report.equal:
        raise SystemExit(1)


def cmd_audit_erase(args: argparse.Namespace) -> None:
    erasure = importlib.import_module("services.audit.service_layer.erasure")
    if len(args.reason.strip()) < 3:
        raise SystemExit("arrears: --reason must say why, in at least 3 characters")
    runtime = bootstrap_module("audit").bootstrap()
    # Whoever runs this on the server answers for it: recorded as such on the trail.
    by = Principal(subject=f"cli:{getpass.getuser()}", role="operator")

    async def run() -> None:
        await runtime.start(consume=False)
        try:
            async with runtime.uow() as uow:
                erased = await erasure.erase_personal_data(
                    uow,
                    args.account,
                    by=by,
                    reason=args.reason,
                    retention_days=runtime.settings.audit_retention_days,
                )
                await uow.access.log(
                    by,
                    "erase-personal-data",
                    args.reason,
                    args.account,
                    {"values_erased": erased.values_erased, "seq": erased.seq},
                )
                await uow.commit()
        finally:
            await runtime.stop()
        print(
            json.dumps(
                {
                    "account_id": erased.account_id,
                    "values_erased": erased.values_erased,
                    "entry": {"seq": erased.seq, "hash": erased.hash},
                }
            )
        )

    asyncio.run(run())


def cmd_dlq(args: argparse.Namespace) -> None:
    runtime = bootstrap_module(args.service).bootstrap()

    async def run() -> None:
        await runtime.start(consume=False)
        try:
            consumers = (
                [runtime.consumers[args.consumer]] if args.consumer else runtime.consumers.values()
            )
            if args.action == "list":
                for consumer in consumers:
                    for dl in await consumer.dead_letters(include_resolved=args.all):
                        print(json.dumps(dl.__dict__))
                return
            (consumer,) = consumers
            fn = consumer.replay if args.action == "replay" else consumer.discard
            print(await fn(args.id, f"cli:{getpass.getuser()}"))
        finally:
            await runtime.stop()

    asyncio.run(run())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="arrears", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    choices = [*SERVICES, "all"]

    serve = sub.add_parser("serve", help="run a service (or all on one origin)")
    serve.add_argument("service", choices=choices)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-migrate", action="store_true", help="skip migrating first")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(fn=cmd_serve)

    migrate = sub.add_parser("migrate", help="migrate a service's database to head")
    migrate.add_argument("service", choices=choices)
    migrate.set_defaults(fn=cmd_migrate)

    schemas = sub.add_parser("schemas", help="the event catalogue's JSON Schemas")
    schemas_sub = schemas.add_subparsers(dest="action", required=True)
    export = schemas_sub.add_parser("export", help="write one JSON Schema per event version")
    export.add_argument("directory")
    export.set_defaults(fn=cmd_schemas_export)
    docs = schemas_sub.add_parser("docs", help="write the events reference (markdown)")
    docs.add_argument("file")
    docs.set_defaults(fn=cmd_schemas_docs)
    asyncapi = schemas_sub.add_parser("asyncapi", help="write the AsyncAPI 3.0 document (JSON)")
    asyncapi.add_argument("file")
    asyncapi.set_defaults(fn=cmd_schemas_asyncapi)

    token = sub.add_parser("token", help="mint a development token (AUTH_MODE=development)")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--sub", required=True, help="who the token is for")
    token.add_argument("--account", action="append", help="an account a borrower may see")
    token.add_argument("--ttl-minutes", type=int, default=480)
    token.set_defaults(fn=cmd_token)

    audit = sub.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    vb = audit_sub.add_parser("verify-bundle", help="verify an evidence bundle offline")
    vb.add_argument("file")
    vb.add_argument("--public-key", help="the operator's published Ed25519 public key (PEM)")
    vb.set_defaults(fn=cmd_audit_verify_bundle)
    rb = audit_sub.add_parser(
        "rebuild",
        help="discard the audit trail and re-consume every topic in the logged chain order "
        "(service stopped)",
    )
    rb.add_argument(
        "--compare",
        action="store_true",
        help="change nothing: re-derive the entries from the topics and compare them with "
        "the trail (exit 1 on any difference)",
    )
    rb.set_defaults(fn=cmd_audit_rebuild)
    er = audit_sub.add_parser(
        "erase",
        help="erase an account's personal data after AUDIT_RETENTION_DAYS (chains still verify)",
    )
    er.add_argument("account")
    er.add_argument("--reason", required=True, help="why (recorded on the trail)")
    er.set_defaults(fn=cmd_audit_erase)

    rebuild_cmd = sub.add_parser(
        "rebuild",
        help="rebuild a service's read models from its own event store and the facts it "
        "consumed (service stopped); "
        "audit's trail from the topics",
    )
    rebuild_cmd.add_argument("service", choices=SERVICES)
    rebuild_cmd.add_argument(
        "--check",
        action="store_true",
        help="rebuild into temporary tables and report differing rows; change nothing "
        "(exit 1 if any differ)",
    )
    rebuild_cmd.add_argument("--page", type=int, default=PAGE, help="events per transaction")
    rebuild_cmd.set_defaults(fn=cmd_rebuild)

    dlq = sub.add_parser("dlq", help="list, replay or discard dead letters")
    dlq.add_argument("action", choices=["list", "replay", "discard"])
    dlq.add_argument("service", choices=SERVICES)
    dlq.add_argument("--consumer", help="consumer name within the service, e.g. inbound")
    dlq.add_argument("--id", type=int, help="dead letter id (replay, discard)")
    dlq.add_argument("--all", action="store_true", help="list resolved ones too")
    dlq.set_defaults(fn=cmd_dlq)
    return p


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `arrears` command."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_redaction()
    # aiosqlite logs every statement with its parameters at DEBUG: event JSON with phone
    # numbers in it. Redaction would catch known shapes; not logging them is surer.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    args = parser().parse_args(argv)
    if getattr(args, "action", None) in ("replay", "discard") and (
        args.id is None or args.consumer is None
    ):
        parser().error("replay and discard need --consumer and --id")
    try:
        args.fn(args)
    except ArrearsError as exc:
        print(f"arrears: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
