"""One Redis client per topology, from redis-py's own classes: a single server, a primary named
by Sentinel (followed through failovers: every new connection asks the sentinels, and a
connection to a demoted primary is dropped on its first READONLY answer), or a Cluster (MOVED
and ASK followed by redis-py's cluster client).

The rest of the code talks to `RedisLink.client` as to one Redis. What differs per topology
lives here: where pub/sub is heard, where a write's confirmation (WAIT) is asked, and what
"the primary can be written to" means for readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline, PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from proxy.config import RedisSettings
from proxy.store.packing import pack_with_hiredis, packed_class

# redis-py 8 gives connections a socket_timeout (5 s; none before 8) and then sends each
# command under asyncio.wait_for, which on Python 3.11 loses a cancellation that comes as the
# write completes (CPython gh-86296, fixed in 3.12): the cancelled task runs on. Under uvloop
# that was a quarter of cancellations, and a stop waited 20 s for the poller (issue 14).
# On 3.11 then, no socket timeout, as before redis-py 8.
SOCKET_TIMEOUT: dict[str, Any] = {"socket_timeout": None} if sys.version_info < (3, 12) else {}
# A server that does not answer a connection attempt in this long is taken for down (a
# failover must not leave requests waiting for a dead primary's TCP timeout).
CONNECT_TIMEOUT = 2.0
SENTINEL_TIMEOUT = 1.0  # one sentinel's answer; the next is asked after it
REPLICAS_FRESH = 5.0  # seconds a primary's replica count is trusted before it is read again


@dataclass
class RedisLink:
    """The client, and what depends on the topology."""

    client: aioredis.Redis
    mode: str
    settings: RedisSettings
    cluster: RedisCluster | None = None
    sentinel: Sentinel | None = None
    _replicas: int = 0
    _replicas_read: float = field(default=-1e9)
    _primary: tuple[str, int] | None = None  # sentinel: the address last connected to
    _refreshing: asyncio.Task[None] | None = None

    async def pubsub(self) -> PubSub:
        """A subscription that hears every PUBLISH: on the primary (single, sentinel), or on
        any node of a cluster (classic PUBLISH reaches every node; redis-py before 8 has no
        cluster pub/sub of its own)."""
        if self.cluster is None:
            return self.client.pubsub(ignore_subscribe_messages=False)
        await self.cluster.initialize()
        node = random.choice(self.cluster.get_primaries())
        return _node_client(node, self.settings).pubsub(ignore_subscribe_messages=False)

    def confirm(self, pipe: Pipeline, key: str) -> int:
        """Stage, after the writes already staged in `pipe`, a WAIT for the replicas that
        must confirm them (the primary of `key`'s slot in a cluster); how many it waits for
        (0: nothing staged, the primary has no replica or confirmation is off)."""
        wanted = self.settings.confirm_replicas
        if wanted <= 0:
            return 0
        timeout_ms = int(self.settings.confirm_timeout * 1000)
        if self.cluster is None:
            self._check_primary()
            needed = min(wanted, self._replicas)
            if needed:
                pipe.execute_command("WAIT", needed, timeout_ms)
            return needed
        node = self.cluster.get_node_from_key(key)
        slot_nodes = self.cluster.nodes_manager.slots_cache.get(self.cluster.keyslot(key), [])
        needed = min(wanted, max(0, len(slot_nodes) - 1))
        if needed and node is not None:
            pipe.execute_command("WAIT", needed, timeout_ms, target_nodes=node)
            return needed
        return 0

    async def refresh(self) -> None:
        """Learn how many replicas the primary has now (read at most every REPLICAS_FRESH s;
        a cluster's come with its slot map), and give new cluster nodes hiredis packing."""
        if self.cluster is not None:
            for node in self.cluster.get_nodes():
                node.connection_class = cast(
                    "type[Connection]", packed_class(node.connection_class)
                )
            return
        now = time.monotonic()
        if now - self._replicas_read < REPLICAS_FRESH:
            return
        info = await self.client.info("replication")
        self._replicas = int(info.get("connected_slaves", 0))
        self._replicas_read = now

    def forget_replicas(self) -> None:
        """A confirmation fell short, or the primary changed: read the replica count again,
        now (in the background: a WAIT on a new primary must not wait for a replica it does
        not have for long)."""
        self._replicas_read = -1e9
        if self._refreshing is None or self._refreshing.done():
            with contextlib.suppress(RuntimeError):  # no running loop: the next watch reads it
                self._refreshing = asyncio.get_running_loop().create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.refresh()

    def _check_primary(self) -> None:
        """Sentinel: the primary the pool connects to now; another than before (a failover)
        means its replica count is not known yet."""
        if self.sentinel is None:
            return
        address = getattr(self.client.connection_pool, "master_address", None)
        if address is not None and address != self._primary:
            if self._primary is not None:
                self.forget_replicas()
            self._primary = address

    async def writable(self, probe_key: str) -> None:
        """Raise unless the primary takes writes now: a write with an expiry (readiness). A
        cluster must also cover every slot (`cluster_state:ok`)."""
        if self.cluster is not None:
            await self.cluster.initialize()
            info = await self.cluster.cluster_info(target_nodes=RedisCluster.RANDOM)
            state = info.get("cluster_state") if isinstance(info, dict) else None
            if state != "ok":
                raise RedisError(f"cluster_state is {state}")
        await self.client.set(probe_key, "1", px=10_000)
        await self.refresh()

    async def aclose(self) -> None:
        if self.cluster is not None:
            await self.cluster.aclose()  # its nodes' connections with it
        else:
            await self.client.aclose(close_connection_pool=True)
        if self.sentinel is not None:
            for sentinel in self.sentinel.sentinels:
                await sentinel.aclose(close_connection_pool=True)


def connect_redis(
    settings: RedisSettings, url: str | None = None, max_connections: int = 64
) -> RedisLink:
    """A client for the configured topology (`url` overrides settings.url: the embedded
    server's). The pool waits for a free connection instead of failing under bursts (a
    catalog request reads many entries at once)."""
    common: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "health_check_interval": 30,
        **SOCKET_TIMEOUT,
    }
    if settings.password:
        common["password"] = settings.password
    if settings.mode == "sentinel":
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            [_address(entry) for entry in settings.sentinels],
            sentinel_kwargs={
                "socket_timeout": SENTINEL_TIMEOUT,
                "socket_connect_timeout": SENTINEL_TIMEOUT,
                **({"password": settings.password} if settings.password else {}),
            },
            **common,
        )
        client = sentinel.master_for(settings.service_name, max_connections=1024)
        pack_with_hiredis(client.connection_pool)
        return RedisLink(client, settings.mode, settings, sentinel=sentinel)
    if settings.mode == "cluster":
        cluster = RedisCluster.from_url(url or settings.url, max_connections=max_connections,
                                        **common)  # fmt: skip
        # The cluster client answers the commands we use as the single-server client does;
        # what it lacks (pub/sub before redis-py 8, WAIT's routing) RedisLink provides.
        return RedisLink(cast("aioredis.Redis", cluster), settings.mode, settings, cluster=cluster)
    pool = aioredis.BlockingConnectionPool.from_url(
        url or settings.url, max_connections=max_connections, timeout=10, **common
    )
    pack_with_hiredis(pool)
    return RedisLink(aioredis.Redis(connection_pool=pool), settings.mode, settings)


def _address(entry: str) -> tuple[str, int]:
    host, _, port = entry.rpartition(":")
    return host.strip("[]"), int(port)


def _node_client(node: ClusterNode, settings: RedisSettings) -> aioredis.Redis:
    """A plain client for one cluster node (its subscription)."""
    return aioredis.Redis(
        host=node.host, port=int(node.port), decode_responses=True,
        password=settings.password or None, socket_connect_timeout=CONNECT_TIMEOUT,
        **SOCKET_TIMEOUT,
    )  # fmt: skip
