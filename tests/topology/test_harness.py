"""The topologies themselves, through redis-py's own clients: if these fail, the proxy's tests
on them say nothing."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from tests.topology.servers import LOOPBACK, SERVICE_NAME, Cluster, SentinelSetup

FAILOVER_BOUND = 10.0  # down-after 1 s, up to 1 s of desync, election, promotion


def async_sentinel(setup: SentinelSetup) -> Sentinel:
    """redis-py's asyncio Sentinel over the setup's three sentinels."""
    addresses = [(LOOPBACK, s.port) for s in setup.sentinels]
    return Sentinel(addresses, decode_responses=True)  # type: ignore[no-untyped-call]


async def close_sentinels(sentinel: Sentinel) -> None:
    """A Sentinel's own connections (to the sentinels) are not closed by its clients."""
    for client in sentinel.sentinels:
        await client.aclose()


async def test_cluster_spreads_keys_over_the_three_masters(cluster: Cluster) -> None:
    """Keys in every slot range are written and read back through one cluster client."""
    client = RedisCluster(host=LOOPBACK, port=cluster.nodes[0].port, decode_responses=True)
    try:
        keys = [f"harness:{i}" for i in range(30)]
        owners = {cluster.node_for_key(key).port for key in keys}
        assert owners == {node.port for node in cluster.nodes}
        for key in keys:
            await client.set(key, key.upper())
        assert [await client.get(key) for key in keys] == [key.upper() for key in keys]
        await client.delete(*keys)
    finally:
        await client.aclose()


async def test_sentinel_client_writes_to_the_primary_and_reads_the_replica(
    sentinels: SentinelSetup,
) -> None:
    sentinel = async_sentinel(sentinels)
    primary = sentinel.master_for(SERVICE_NAME)
    replica = sentinel.slave_for(SERVICE_NAME)
    try:
        assert await sentinel.discover_master(SERVICE_NAME) == (LOOPBACK, sentinels.primary.port)
        await primary.set("harness:sentinel", "written")
        deadline = time.monotonic() + 5
        while await replica.get("harness:sentinel") != "written":
            assert time.monotonic() < deadline, "the replica never got the write"
            await asyncio.sleep(0.02)
        await primary.delete("harness:sentinel")
    finally:
        await primary.aclose()
        await close_sentinels(sentinel)
        await replica.aclose()
        await close_sentinels(sentinel)


async def test_sentinels_promote_the_replica(fresh_sentinels: SentinelSetup) -> None:
    """SIGKILL the primary: the replica is named primary within the bound, and a Sentinel
    client writes to it, keeping what was written before the kill."""
    setup = fresh_sentinels
    sentinel = async_sentinel(setup)
    primary = sentinel.master_for(SERVICE_NAME, socket_timeout=1.0)
    try:
        await primary.set("before", "1")
        assert await primary.wait(1, 1000) == 1
        killed_at = time.monotonic()
        setup.primary.kill()
        new = await asyncio.to_thread(setup.wait_master_other_than, setup.primary, FAILOVER_BOUND)
        assert new is setup.replica
        assert time.monotonic() - killed_at < FAILOVER_BOUND
        assert await sentinel.discover_master(SERVICE_NAME) == (LOOPBACK, setup.replica.port)
        deadline = time.monotonic() + 5
        while True:  # the pool's connections to the dead primary fail once, then reconnect
            try:
                await primary.set("after", "1")
                break
            except (RedisError, OSError):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        assert await primary.get("before") == "1"
    finally:
        await primary.aclose()
        await close_sentinels(sentinel)
