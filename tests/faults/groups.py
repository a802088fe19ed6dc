"""Who is in a service's consumer groups, as the broker's group coordinator tells it: how
the fault tier sees that a stalled copy was dropped (a rebalance) and that it came back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DescribeGroupsRequest_v1, DescribeGroupsRequest_v2
from aiokafka.protocol.api import Request

Members = dict[str, set[str]]
"""Per consumer group: the member ids it holds now."""


class _DescribeGroups(Request[DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2]):
    """DescribeGroups at v1-v2 only: aiokafka 0.14's admin client negotiates v3 with a
    Kafka 4 broker (which has no v0) but parses the answer as v2, and the broker's
    connection closes on the misread; v1 and v2 share one schema it reads right."""

    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(
        self, request_struct_class: type[DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2]
    ) -> DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2:
        return request_struct_class(self._groups)


async def members(bootstrap: str, prefix: str, service: str) -> Members:
    """The members of each of this run's groups that `service`'s processes are in (its
    clients are named `arrears-<service>-<group>`), for groups in a stable state only:
    during a rebalance the member list is not yet the new one."""
    return (await _describe(bootstrap, prefix, service))[0]


async def held(bootstrap: str, prefix: str, service: str, of: Members) -> int:
    """How many partitions the members `of` are assigned now, over all their groups."""
    assigned = (await _describe(bootstrap, prefix, service))[1]
    return sum(n for g, ids in of.items() for m, n in assigned.get(g, {}).items() if m in ids)


async def _describe(
    bootstrap: str, prefix: str, service: str
) -> tuple[Members, dict[str, dict[str, int]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        ids = [g[0] for g in await admin.list_consumer_groups() if g[0].startswith(f"{prefix}.")]
        out: Members = {}
        partitions: dict[str, dict[str, int]] = {}
        for group_id in ids:
            node = await admin.find_coordinator(group_id)
            response = await admin._send_request(_DescribeGroups([group_id]), node)
            # (error_code, group_id, state, protocol_type, protocol, members)
            for group in response.groups:
                ours = [m for m in group[5] if m[1].startswith(f"arrears-{service}-")]
                mine = {m[0] for m in ours}
                if mine and group[2] == "Stable":
                    out[group[1]] = mine
                    partitions[group[1]] = {m[0]: _assigned(m[4]) for m in ours}
                elif mine:
                    out[group[1]] = set()  # known, but not settled: no answer yet
        return out, partitions
    finally:
        await admin.close()


def _assigned(assignment: bytes) -> int:
    if not assignment:
        return 0
    return len(ConsumerProtocolMemberAssignment.decode(assignment).partitions())


async def wait_members(
    bootstrap: str,
    prefix: str,
    service: str,
    fits: Callable[[Members], bool],
    timeout: float,
) -> tuple[Members, float] | None:
    """Poll the groups until `fits` holds; what they were then and after how many seconds,
    or None if not within `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            now = await members(bootstrap, prefix, service)
        except KafkaError:
            now = {}
        if now and fits(now):
            return now, round(time.monotonic() - start, 1)
        await asyncio.sleep(0.5)
    return None
