"""The proxy on a primary + replica + 3 sentinels, through `mode = "sentinel"`: everything a
single Redis carries works the same when the sentinels name the primary."""

from __future__ import annotations

import pytest

from proxy.store.keys import Keys
from tests.conftest import Upstream
from tests.topology import scenarios
from tests.topology.conftest import ServeProxy
from tests.topology.servers import SentinelSetup


@pytest.mark.parametrize("tenant", ["pva", "vak"])
def test_lifecycle(
    sentinels: SentinelSetup,
    serve_proxy: ServeProxy,
    smspva: Upstream,
    vaksms: Upstream,
    tenant: str,
) -> None:
    proxy = serve_proxy(sentinels.redis_settings())
    scenarios.lifecycle(proxy, smspva if tenant == "pva" else vaksms, tenant)


def test_lifecycle_with_passwords(
    secured_sentinels: SentinelSetup, serve_proxy: ServeProxy, smspva: Upstream
) -> None:
    """`password` reaches the sentinels and the primary alike (both require it)."""
    proxy = serve_proxy(secured_sentinels.redis_settings())
    assert scenarios.ready_status(proxy) == 200
    scenarios.lifecycle(proxy, smspva, "pva")


def test_rent(
    sentinels: SentinelSetup, serve_proxy: ServeProxy, smspva: Upstream, vaksms: Upstream
) -> None:
    scenarios.rent(serve_proxy(sentinels.redis_settings()), smspva, vaksms)


def test_catalog(
    sentinels: SentinelSetup, serve_proxy: ServeProxy, smspva: Upstream, vaksms: Upstream
) -> None:
    scenarios.catalog(serve_proxy, sentinels.redis_settings(), smspva, vaksms)


def test_cache_invalidation_across_proxies(
    sentinels: SentinelSetup, serve_proxy: ServeProxy, smspva: Upstream
) -> None:
    scenarios.invalidation(serve_proxy, sentinels.redis_settings(), smspva, "pva")


def test_poller(sentinels: SentinelSetup, serve_proxy: ServeProxy, smspva: Upstream) -> None:
    scenarios.poller(serve_proxy, sentinels.redis_settings(), smspva)


def test_ready_and_writing_to_the_primary(
    sentinels: SentinelSetup, serve_proxy: ServeProxy
) -> None:
    """Ready; and the records are on the primary, replicated, not on a second primary."""
    proxy = serve_proxy(sentinels.redis_settings())
    assert scenarios.ready_status(proxy) == 200
    activation_id, _ = scenarios.buy(proxy, "pva")
    record = Keys(proxy.settings.redis.key_prefix).activation(activation_id)
    primary = sentinels.primary.client()
    try:
        assert primary.exists(record) == 1
    finally:
        primary.close()
    assert sentinels.replica.role() == "slave"
