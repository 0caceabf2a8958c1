"""A sale's health update can be left to the purchase that made it (issue 15): started once the
number is recorded, so that it does not compete with that write; never lost, never for a probe.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
import redis

from proxy.providers.base import ProviderUnavailable
from tests.conftest import ProxyFactory, Upstream
from tests.health.test_guard import TG_RU, RigFactory, failing, fixture_make_rig

__all__ = ["fixture_make_rig"]  # the rig, shared with test_guard


async def test_a_sale_leaves_its_update_to_the_caller(make_rig: RigFactory) -> None:
    rig = make_rig(breaker_threshold=5)
    rig.upstream.emulator.inject_error("number", status=503)
    with pytest.raises(ProviderUnavailable):
        await rig.buy()
    assert (await rig.settled())["failures:buy"] == "1"
    deferred: list[Awaitable[None]] = []
    await rig.provider.buy(TG_RU, None, deferred)
    assert len(deferred) == 1
    assert (await rig.settled())["failures:buy"] == "1"  # not applied yet: the caller's
    rig.provider.later(deferred.pop())
    assert (await rig.settled())["failures:buy"] == "0"


async def test_a_probe_is_never_deferred(make_rig: RigFactory) -> None:
    """The half-open probe's success closes the breaker before the purchase returns."""
    rig = make_rig()
    await failing(rig)
    assert (await rig.settled())["reason"] == "failures"
    rig.clock.now += 31  # past breaker_cooldown (30 s): half-open
    deferred: list[Awaitable[None]] = []
    await rig.provider.buy(TG_RU, None, deferred)
    assert deferred == []
    state = await rig.health.redis.hgetall(rig.health.keys.health("smspva"))
    assert (state["reason"], state["open_until"]) == ("", "0")


def test_a_purchase_resets_the_failures_after_it(
    make_proxy: ProxyFactory, smspva: Upstream
) -> None:
    """Through the proxy: SMSPVA fails once (the purchase fails over), then sells; its run of
    failures is reset once the sale is recorded."""
    proxy = make_proxy(providers={"smspva": {"breaker_threshold": 5}})
    smspva.emulator.inject_error("number", status=503)
    proxy.buy("alice")  # SMSPVA's 503, then VAK-SMS
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    key = f"{proxy.settings.redis.key_prefix}:health:{{smspva}}"
    try:
        assert client.hget(key, "failures:buy") == "1"
        proxy.buy("alice")  # SMSPVA sells
        assert _eventually(lambda: client.hget(key, "failures:buy") == "0")
    finally:
        client.close()


def _eventually(check: Callable[[], bool], seconds: float = 3.0) -> bool:
    """Whether `check` holds within `seconds` (background work, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False
