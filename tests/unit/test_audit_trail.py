"""The audit trail: tamper evidence, "as of" on both time axes, and the access log."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from services.audit.adapters.tables import audit_entries, checkpoints, platform
from services.audit.bootstrap import bootstrap as audit_bootstrap
from services.audit.domain.merkle import inclusion_proof, root, root_from_proof
from services.audit.service_layer.checkpoints import load_signing_key
from services.audit.service_layer.rebuild import heads_and_root, rebuild
from services.cli import parser
from shared.eventlog.port import TopicPartition
from shared.settings import Settings, SettingsError
from tests.support import auth, bill, eventually, now, opened, payment, running_stack, settings_for

Clients = dict[str, httpx.AsyncClient]


@pytest.fixture
async def trail(tmp_path: Path) -> AsyncIterator[tuple[Clients, Any, Settings]]:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        r = await http["accounts"].post(
            "/v1/inbound/events",
            json={"events": [opened("T1"), bill("T1", "B1"), payment("T1", "P1", 10_00)]},
        )
        assert r.json()["accepted"] == 3
        await eventually(lambda: history(http, "T1"), lambda r: len(r.json()["entries"]) >= 4)
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
        yield http, runtime, settings["audit"]


async def history(http: Clients, account: str, **params: Any) -> httpx.Response:
    return await http["audit"].get(
        f"/v1/accounts/{account}/history", params={"purpose": "test", **params}
    )


async def verify(http: Clients, account: str = "T1") -> dict[str, Any]:
    r = await http["audit"].get(f"/v1/accounts/{account}/verify", params={"purpose": "test"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def tamper(runtime: Any, statement: Any) -> None:
    async with runtime.uow() as uow:
        await uow.session.execute(statement)
        await uow.commit()


async def row(runtime: Any, seq: int) -> dict[str, Any]:
    t = audit_entries
    async with runtime.uow() as uow:
        found = (
            (await uow.session.execute(select(t).where(t.c.account_id == "T1", t.c.seq == seq)))
            .mappings()
            .one()
        )
    return dict(found)


async def test_an_untouched_trail_verifies(trail: tuple[Clients, Any, Settings]) -> None:
    http, _, _ = trail
    assert (await verify(http))["intact"] is True
    everything = await http["audit"].get("/v1/verify", params={"purpose": "test"})
    assert everything.json()["intact"] is True and everything.json()["accounts"] >= 1


async def test_an_edited_event_is_named(trail: tuple[Clients, Any, Settings]) -> None:
    http, runtime, _ = trail
    r2 = await row(runtime, 2)
    t = audit_entries
    await tamper(
        runtime,
        update(t)
        .where(t.c.account_id == "T1", t.c.seq == 2)
        .values(event=r2["event"].replace("10000", "99999")),
    )
    result = await verify(http)
    assert result["intact"] is False
    assert result["broken"]["seq"] == 2
    assert result["broken"]["problem"] == "the hash does not match the entry's event"
    assert result["broken"]["found"] == r2["hash"]


async def test_a_deleted_entry_is_named(trail: tuple[Clients, Any, Settings]) -> None:
    http, runtime, _ = trail
    t = audit_entries
    await tamper(runtime, delete(t).where(t.c.account_id == "T1", t.c.seq == 2))
    broken = (await verify(http))["broken"]
    assert (broken["seq"], broken["problem"]) == (2, "an entry is missing")


async def test_an_inserted_entry_is_named(trail: tuple[Clients, Any, Settings]) -> None:
    http, runtime, _ = trail
    t = audit_entries
    last = await row(runtime, 1)
    # Shift everything after seq 1 up by one, then slip a forged entry in at seq 2.
    async with runtime.uow() as uow:
        seqs = [
            r[0]
            for r in await uow.session.execute(
                select(t.c.seq).where(t.c.account_id == "T1", t.c.seq > 1).order_by(t.c.seq.desc())
            )
        ]
        for seq in seqs:
            await uow.session.execute(
                update(t).where(t.c.account_id == "T1", t.c.seq == seq).values(seq=seq + 1)
            )
        await uow.session.execute(
            insert(t).values(**{**last, "seq": 2, "event_id": "forged", "prev_hash": last["hash"]})
        )
        await uow.commit()
    broken = (await verify(http))["broken"]
    assert broken["seq"] == 2


async def test_reordered_entries_are_named(trail: tuple[Clients, Any, Settings]) -> None:
    http, runtime, _ = trail
    t = audit_entries
    await tamper(runtime, update(t).where(t.c.account_id == "T1", t.c.seq == 2).values(seq=-2))
    await tamper(runtime, update(t).where(t.c.account_id == "T1", t.c.seq == 3).values(seq=2))
    await tamper(runtime, update(t).where(t.c.account_id == "T1", t.c.seq == -2).values(seq=3))
    broken = (await verify(http))["broken"]
    assert (broken["seq"], broken["problem"]) == (2, "prev_hash is not the previous entry's hash")


async def test_an_edited_column_outside_the_hash_is_named(
    trail: tuple[Clients, Any, Settings],
) -> None:
    http, runtime, _ = trail
    t = audit_entries
    await tamper(
        runtime, update(t).where(t.c.account_id == "T1", t.c.seq == 3).values(source="someone-else")
    )
    broken = (await verify(http))["broken"]
    assert (broken["seq"], broken["problem"]) == (3, "column source differs from the hashed event")


async def test_as_of_recorded_and_as_of_occurred_differ_for_a_backdated_payment(
    trail: tuple[Clients, Any, Settings],
) -> None:
    http, _, _ = trail
    cut = datetime.now(UTC)
    await asyncio.sleep(0.01)
    # Paid on 1 March, posted now: it happened before the cut but was known only after.
    late = payment("T1", "P-LATE", 5_00, paid_at="2026-03-01T10:00:00+08:00")
    late["occurred_at"] = "2026-03-01T10:00:00+08:00"
    assert (await http["accounts"].post("/v1/inbound/events", json={"events": [late]})).json()[
        "accepted"
    ] == 1
    await eventually(
        lambda: history(http, "T1"),
        lambda r: late["id"] in [e["event_id"] for e in r.json()["entries"]],
    )

    known_then = await history(http, "T1", as_of_recorded=cut.isoformat())
    happened_by = await history(http, "T1", as_of_occurred="2026-03-03T00:00:00+08:00")
    assert late["id"] not in [e["event_id"] for e in known_then.json()["entries"]]
    assert late["id"] in [e["event_id"] for e in happened_by.json()["entries"]]
    only_payments = await history(http, "T1", type="PaymentReceived")
    assert {e["type"] for e in only_payments.json()["entries"]} == {"PaymentReceived"}


async def test_every_read_is_in_the_access_log_with_who_and_why(
    trail: tuple[Clients, Any, Settings],
) -> None:
    http, _, settings = trail
    reader = auth(settings, "compliance", sub="carol")
    await http["audit"].get(
        "/v1/accounts/T1/history",
        headers=reader,
        params={"purpose": "complaint 42", "type": "BillIssued"},
    )
    await http["audit"].get(
        "/v1/accounts/T1/verify", headers=reader, params={"purpose": "quarterly check"}
    )
    log = (
        await http["audit"].get("/v1/access-log", headers=reader, params={"purpose": "review"})
    ).json()["entries"]
    mine = [(e["action"], e["purpose"]) for e in log if e["subject"] == "carol"]
    assert mine == [
        ("history", "complaint 42"),
        ("verify", "quarterly check"),
        ("access-log", "review"),
    ]
    (read,) = [e for e in log if e["purpose"] == "complaint 42"]
    assert read["role"] == "compliance" and read["filters"]["types"] == ["BillIssued"]
    assert read["account_id"] == "T1"


async def test_a_read_without_a_purpose_is_refused(trail: tuple[Clients, Any, Settings]) -> None:
    http, _, _ = trail
    assert (await http["audit"].get("/v1/accounts/T1/history")).status_code == 422


# -- signed checkpoints and evidence bundles ------------------------------------------


async def bundle_of(http: Clients, account: str = "T1") -> dict[str, Any]:
    made = await http["audit"].post("/v1/checkpoints", params={"purpose": "test"})
    assert made.status_code == 201, made.text
    r = await http["audit"].get(f"/v1/accounts/{account}/bundle", params={"purpose": "export"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = json.loads(r.text)
    return body


def verify_file(tmp_path: Path, bundle: dict[str, Any], *extra: str) -> tuple[int, str]:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            # The command's own function: main() would also configure the process's logging.
            args = parser().parse_args(["audit", "verify-bundle", str(path), *extra])
            args.fn(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue()


async def test_a_bundle_verifies_offline_against_the_published_key(
    trail: tuple[Clients, Any, Settings], tmp_path: Path
) -> None:
    http, _, _ = trail
    bundle = await bundle_of(http)
    assert [e["seq"] for e in bundle["entries"]] == list(range(1, len(bundle["entries"]) + 1))
    published = (await http["audit"].get("/v1/checkpoints/latest")).json()["public_key"]
    (tmp_path / "key.pem").write_text(published)
    code, out = verify_file(tmp_path, bundle, "--public-key", str(tmp_path / "key.pem"))
    assert code == 0 and out.startswith("OK:") and "the trusted key" in out


@pytest.mark.parametrize(
    ("forge", "problem"),
    [
        ("edit", "chain broken at seq 2"),
        ("truncate", "do not end at the account's head"),
        ("signature", "signature is not valid"),
        ("root", "inclusion proof does not lead"),
        ("garbage", "malformed bundle"),
    ],
)
async def test_a_forged_bundle_is_rejected_offline(
    trail: tuple[Clients, Any, Settings], tmp_path: Path, forge: str, problem: str
) -> None:
    http, _, _ = trail
    bundle = await bundle_of(http)
    if forge == "edit":
        bundle["entries"][1]["event"] = bundle["entries"][1]["event"].replace("B1", "B9")
    elif forge == "truncate":
        bundle["entries"].pop()
    elif forge == "signature":
        sig = bytearray(base64.b64decode(bundle["checkpoint"]["signature"]))
        sig[0] ^= 1
        bundle["checkpoint"]["signature"] = base64.b64encode(bytes(sig)).decode()
    elif forge == "root":
        bundle["checkpoint"]["root"] = "00" * 32
    else:
        bundle["checkpoint"] = {"root": 1}
    code, out = verify_file(tmp_path, bundle)
    assert code == 1 and problem in out, out


async def test_a_bundle_signed_by_another_key_is_rejected(
    trail: tuple[Clients, Any, Settings], tmp_path: Path
) -> None:
    http, _, _ = trail
    bundle = await bundle_of(http)
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "other.pem").write_bytes(other)
    code, out = verify_file(tmp_path, bundle, "--public-key", str(tmp_path / "other.pem"))
    assert code == 1 and "not signed with the trusted key" in out


def test_production_audit_without_a_signing_key_refuses_to_start(tmp_path: Path) -> None:
    settings = settings_for("audit", tmp_path)
    production = settings.model_copy(update={"auth_mode": "production"})
    with pytest.raises(SettingsError, match="AUDIT_SIGNING_KEY_FILE"):
        load_signing_key(production)


@given(st.lists(st.binary(min_size=1, max_size=16), min_size=1, max_size=40), st.data())
def test_every_leaf_proves_its_way_to_the_root(leaves: list[bytes], data: Any) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(index, leaves)
    assert root_from_proof(index, len(leaves), leaves[index], proof) == root(leaves)
    if len(leaves) > 1:
        assert root_from_proof(index, len(leaves), leaves[index] + b"x", proof) != root(leaves)


async def test_two_rebuilds_give_the_same_heads_and_root(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        for account in ("R1", "R2"):
            await http["accounts"].post(
                "/v1/inbound/events",
                json={
                    "events": [opened(account), bill(account, "B1"), payment(account, "P1", 1_00)]
                },
            )
        await eventually(lambda: history(http, "R2"), lambda r: len(r.json()["entries"]) >= 4)
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
        before = await heads_and_root(runtime)

    results = []
    for _ in range(2):
        runtime = audit_bootstrap(settings["audit"])
        await runtime.start(consume=False)
        try:
            progress: list[tuple[int, int]] = []
            read = await rebuild(runtime, lambda done, total, p=progress: p.append((done, total)))
            results.append(await heads_and_root(runtime))
            async with runtime.uow() as uow:
                assert await uow.trail.verify("R1") is None
        finally:
            await runtime.stop()
        assert read.records >= 8 and progress[-1][0] == progress[-1][1]
    assert results[0] == results[1] == before


async def test_pii_is_masked_in_history_and_csv_but_the_hash_covers_the_original(
    tmp_path: Path,
) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        # Some lenders use the borrower's phone number as customer id.
        await http["accounts"].post(
            "/v1/inbound/events", json={"events": [opened("M1", customer_id="13812345678")]}
        )
        r = await eventually(lambda: history(http, "M1"), lambda r: len(r.json()["entries"]) == 1)
        (entry,) = r.json()["entries"]
        # Masked as the id number the catalogue declares it to be.
        assert entry["data"]["customer_id"] == "*******5678"
        csv_text = (
            await http["audit"].get(
                "/v1/accounts/M1/export.csv", params={"purpose": "regulator request"}
            )
        ).text
        assert csv_text.splitlines()[0].startswith("seq,event_id,type")
        assert "13812345678" not in csv_text and "*******5678" in csv_text
        assert (await verify(http, "M1"))["intact"] is True
        log = (await http["audit"].get("/v1/access-log", params={"purpose": "review"})).json()
        assert ("export-csv", "regulator request") in [
            (e["action"], e["purpose"]) for e in log["entries"]
        ]


@contextlib.asynccontextmanager
async def audit_alone(tmp_path: Path) -> AsyncIterator[tuple[Clients, Any]]:
    """The audit service on its own, and its runtime, to publish onto its topics directly."""
    async with running_stack({"audit": settings_for("audit", tmp_path)}) as http:
        yield http, http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]


async def test_a_trail_missing_dead_lettered_or_parked_records_is_incomplete(
    tmp_path: Path,
) -> None:
    async with audit_alone(tmp_path) as (http, runtime):
        inbound = runtime.settings.topics.inbound

        async def account(a: str) -> dict[str, Any]:
            r = await http["audit"].get(f"/v1/accounts/{a}/verify", params={"purpose": "check"})
            body: dict[str, Any] = r.json()
            return body

        good = opened("V1")
        # Valid, but audit cannot store it (year 10000 in UTC): dead-lettered, and the
        # account's later records park behind it.
        unstorable = {**bill("V1", "B1"), "occurred_at": "9999-12-31T23:59:59-23:59"}
        later = bill("V1", "B2")
        for env in (good, unstorable, later):
            await runtime.log.publish(inbound, b"V1", json.dumps(env).encode())
        await runtime.log.publish(inbound, b"V3", json.dumps(opened("V3")).encode())
        v3 = await eventually(lambda: account("V3"), lambda v: v["status"] == "verified")
        assert v3["intact"] is True and v3["reason"] is None
        # Not even an envelope: dead-lettered with no account id, but its key names V2.
        await runtime.log.publish(inbound, b"V2", b"{not json")

        v1 = await eventually(lambda: account("V1"), lambda v: v["status"] == "incomplete")
        assert v1["intact"] is False and v1["broken"] is None
        # Dead-lettered as failed (parking B2) today; as invalid once the catalogue bounds
        # timestamps: either way the trail lacks it.
        assert "unresolved dead letters" in v1["reason"]
        # A record parked behind a dead letter, as the consumer parks one.
        async with runtime.uow() as uow:
            await uow.session.execute(
                insert(platform.parked).values(
                    consumer=runtime.consumers["trail"].name,
                    account_id="V3",
                    topic=inbound,
                    partition=0,
                    offset=10_000,
                    key=b"V3",
                    value=json.dumps(bill("V3", "B9")).encode(),
                    parked_at=now(),
                )
            )
            await uow.commit()
        v3 = await account("V3")
        assert v3["status"] == "incomplete" and "1 records parked" in v3["reason"]
        v2 = await eventually(lambda: account("V2"), lambda v: v["status"] == "incomplete")
        assert "(invalid)" in v2["reason"]

        everything = (await http["audit"].get("/v1/verify", params={"purpose": "check"})).json()
        assert everything["status"] == "incomplete" and everything["intact"] is False
        assert [i["account_id"] for i in everything["incomplete"]] == ["V1", "V2", "V3"]
        assert everything["broken"] == []


async def test_a_trail_whose_consumer_never_read_some_source_offsets_is_incomplete(
    tmp_path: Path,
) -> None:
    async with audit_alone(tmp_path) as (http, runtime):
        inbound = runtime.settings.topics.inbound
        first = await runtime.log.publish(inbound, b"G1", json.dumps(opened("G1")).encode())
        tp = TopicPartition(first.topic, first.partition)
        trail = runtime.consumers["trail"]

        async def expected() -> int | None:
            return trail._expected.get(tp)

        await eventually(expected, lambda o: o == first.offset + 1)
        # As if the opening had never been read: the bill after it reveals the hole.
        trail._expected[tp] = first.offset
        await runtime.log.publish(inbound, b"G1", json.dumps(bill("G1", "B1")).encode())
        one = await eventually(lambda: verify(http, "G1"), lambda v: v["status"] != "verified")
        assert one["status"] == "incomplete" and one["intact"] is False
        assert "never read source offsets" in one["reason"]
        everything = (await http["audit"].get("/v1/verify", params={"purpose": "check"})).json()
        assert everything["status"] == "incomplete"
        assert [
            (g["topic"], g["partition"], g["from_offset"], g["to_offset"])
            for g in everything["gaps"]
        ] == [(tp.topic, tp.partition, first.offset, first.offset + 1)]


async def test_verify_names_the_signed_checkpoint_that_covers_the_account(
    trail: tuple[Clients, Any, Settings],
) -> None:
    http, runtime, _ = trail
    assert (await verify(http))["checkpoint"] is None  # none made yet
    made = await http["audit"].post("/v1/checkpoints", params={"purpose": "test"})
    assert made.status_code == 201
    (seq, head_hash) = next((s, h) for a, s, h in made.json()["heads"] if a == "T1")
    covering = (await verify(http))["checkpoint"]
    assert covering["head"] == {"seq": seq, "hash": head_hash}
    assert (covering["at"], covering["root"]) == (made.json()["at"], made.json()["root"])
    assert covering["signed"] is True

    # A root rewritten in the database no longer checks with the service's key.
    await tamper(runtime, update(checkpoints).values(root="0" * 64))
    assert (await verify(http))["checkpoint"]["signed"] is False
