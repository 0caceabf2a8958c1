"""Money writes confirmed on a replica (Redis WAIT), and readiness that tells the truth.

A primary and a replica of our own (two redis-servers, REPLICAOF at run time); the replica is
frozen with SIGSTOP to make confirmations fail the way a lagging or partitioned replica does.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from proxy.redis_server import EmbeddedRedis
from proxy.store.activations import ActivationStore, Unconfirmed
from proxy.store.connect import connect_redis
from proxy.store.keys import Keys
from tests.conftest import Proxy, ProxyFactory, Upstream


@pytest.fixture(name="pair", scope="module")
def fixture_pair(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedRedis, EmbeddedRedis]]:
    base = tmp_path_factory.mktemp("replication")
    with (
        EmbeddedRedis(base / "primary", persistent=False) as primary,
        EmbeddedRedis(base / "replica", persistent=False) as replica,
    ):
        with redis.Redis(port=replica.port) as client:
            client.replicaof("127.0.0.1", primary.port)
        wait_until(lambda: replicas(primary) == 1 and linked(replica))
        yield primary, replica


def replicas(server: EmbeddedRedis) -> int:
    with redis.Redis(port=server.port, decode_responses=True) as client:
        return int(client.info("replication")["connected_slaves"])


def linked(replica: EmbeddedRedis) -> bool:
    with redis.Redis(port=replica.port, decode_responses=True) as client:
        return bool(client.info("replication").get("master_link_status") == "up")


def wait_until(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


class Frozen:
    """The replica stopped (SIGSTOP) while inside: it keeps its connection, answers nothing."""

    def __init__(self, server: EmbeddedRedis) -> None:
        assert server.pid is not None
        self.pid = server.pid

    def __enter__(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def confirmed_proxy(make_proxy: ProxyFactory, primary: EmbeddedRedis) -> Proxy:
    return make_proxy(redis_url=primary.url, redis={"confirm_timeout": 0.3})


def test_a_purchase_is_on_the_replica_before_the_client_hears_of_it(
    pair: tuple[EmbeddedRedis, EmbeddedRedis], make_proxy: ProxyFactory
) -> None:
    primary, replica = pair
    proxy = confirmed_proxy(make_proxy, primary)
    activation_id, phone = proxy.buy("pva")
    prefix = proxy.settings.redis.key_prefix
    with redis.Redis(port=replica.port, decode_responses=True) as client:
        # WAIT returned: the record is on the replica already, no waiting here.
        record = client.hgetall(f"{prefix}:act:{{{activation_id}}}")
    assert record["phone"] == phone


def test_an_unconfirmed_intent_sends_nothing_upstream(
    pair: tuple[EmbeddedRedis, EmbeddedRedis], make_proxy: ProxyFactory, smspva: Upstream
) -> None:
    primary, replica = pair
    proxy = confirmed_proxy(make_proxy, primary)
    proxy.buy("pva")  # the replica count is known (read at start, and now confirmed once)
    bought = len(smspva.emulator.orders)
    with Frozen(replica):
        answer = proxy.text("pva", action="getNumber", service="tg", country=0)
    assert answer == "ERROR_SQL"
    assert len(smspva.emulator.orders) == bought  # nothing was bought
    prefix = proxy.settings.redis.key_prefix
    with redis.Redis(port=primary.port, decode_responses=True) as client:
        assert client.zcard(f"{prefix}:{{intents}}") == 0  # and nothing is left to reconcile
    wait_until(lambda: linked(replica))
    assert proxy.buy("pva")  # the next purchase, confirmed again, goes through


def test_readiness_follows_whether_the_primary_takes_writes(
    pair: tuple[EmbeddedRedis, EmbeddedRedis], make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    with EmbeddedRedis(tmp_path / "own", persistent=False) as own:
        proxy = make_proxy(redis_url=own.url)
        assert proxy.client.get(proxy.url + "/health/ready").status_code == 200
        with redis.Redis(port=own.port) as client:
            client.replicaof("127.0.0.1", pair[0].port)  # demoted: answers pings, no writes
            try:
                answer = proxy.client.get(proxy.url + "/health/ready")
                assert answer.status_code == 503
                assert "READONLY" in answer.json()["redis"] or "ReadOnly" in answer.json()["redis"]
            finally:
                client.replicaof("NO", "ONE")
        assert proxy.client.get(proxy.url + "/health/ready").status_code == 200


async def test_an_unconfirmed_record_is_taken_back(
    pair: tuple[EmbeddedRedis, EmbeddedRedis], make_proxy: ProxyFactory
) -> None:
    """The dispatcher gives the number back on this error (as on any store failure after a
    purchase): the record must not stay behind on the primary to be polled or shown."""
    primary, replica = pair
    proxy = confirmed_proxy(make_proxy, primary)
    activation_id, _ = proxy.buy("pva")
    link = connect_redis(proxy.settings.redis)
    try:
        await link.refresh()
        store = ActivationStore(link.client, Keys(proxy.settings.redis.key_prefix), 3600,
                                link=link)  # fmt: skip
        bought = await store.load(activation_id, fresh=True)
        assert bought is not None
        other = dataclasses.replace(bought, id=bought.id + 1_000_000, order_id="elsewhere")
        with Frozen(replica), pytest.raises(Unconfirmed):
            await store.record_purchase(other)
        assert await store.load(other.id, fresh=True) is None
        assert await store.by_upstream(other.provider, other.order_id) is None
        assert other.id not in await store.active_ids(other.tenant)
    finally:
        await link.aclose()
    wait_until(lambda: linked(replica))
