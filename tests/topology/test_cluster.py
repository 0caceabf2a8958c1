"""The proxy on a 3-master Redis Cluster, through `mode = "cluster"`: everything a
single Redis carries works the same with its keys spread over three masters."""

from __future__ import annotations

import pytest

from proxy.store.keys import Keys
from tests.conftest import Upstream
from tests.topology import scenarios
from tests.topology.conftest import ServeProxy
from tests.topology.servers import Cluster


@pytest.mark.parametrize("tenant", ["pva", "vak"])
def test_lifecycle(
    cluster: Cluster,
    serve_proxy: ServeProxy,
    smspva: Upstream,
    vaksms: Upstream,
    tenant: str,
) -> None:
    proxy = serve_proxy(cluster.redis_settings())
    scenarios.lifecycle(proxy, smspva if tenant == "pva" else vaksms, tenant)


def test_rent(
    cluster: Cluster, serve_proxy: ServeProxy, smspva: Upstream, vaksms: Upstream
) -> None:
    scenarios.rent(serve_proxy(cluster.redis_settings()), smspva, vaksms)


def test_catalog(
    cluster: Cluster, serve_proxy: ServeProxy, smspva: Upstream, vaksms: Upstream
) -> None:
    scenarios.catalog(serve_proxy, cluster.redis_settings(), smspva, vaksms)


def test_cache_invalidation_across_proxies(
    cluster: Cluster, serve_proxy: ServeProxy, smspva: Upstream
) -> None:
    scenarios.invalidation(serve_proxy, cluster.redis_settings(), smspva, "pva")


def test_poller(cluster: Cluster, serve_proxy: ServeProxy, smspva: Upstream) -> None:
    scenarios.poller(serve_proxy, cluster.redis_settings(), smspva)


def test_ready_with_records_on_every_master(
    cluster: Cluster, serve_proxy: ServeProxy, smspva: Upstream
) -> None:
    """Ready; and activation records land on all three masters (hash-tagged by id), each
    readable through the cluster."""
    smspva.emulator.rate_limit = None  # 30 purchases and reads in a second: over its 50/s
    proxy = serve_proxy(cluster.redis_settings(), providers=scenarios.UNLIMITED)
    assert scenarios.ready_status(proxy) == 200
    prefix = proxy.settings.redis.key_prefix
    owners: set[int] = set()
    for _ in range(30):
        activation_id, _ = scenarios.buy(proxy, "pva")
        owners.add(cluster.node_for_key(Keys(prefix).activation(activation_id)).port)
        assert proxy.text("pva", action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    assert owners == {node.port for node in cluster.nodes}
