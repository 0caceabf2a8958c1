"""Health's scripts against a real Redis: admission (with a staged purchase intent) and the
bookkeeping of a success."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from proxy.config import settings_from_dict
from proxy.health.breaker import Admission, Health
from proxy.redis_server import EmbeddedRedis
from proxy.store.activations import ActivationStore
from proxy.store.keys import Keys

NOW = 1_700_000_000.5


@pytest.fixture(name="health")
async def fixture_health(redis_server: EmbeddedRedis) -> AsyncIterator[Health]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    settings = settings_from_dict({
        "providers": {"p": {"kind": "smspva", "api_key": "k", "rate_limit": 2}},
        "tenants": [{"name": "t", "key": "x"}],
    })  # fmt: skip
    keys = Keys(f"t{uuid.uuid4().hex[:10]}")
    yield Health(client, keys, dict(settings.providers), settings.routing, clock=lambda: NOW)
    await client.aclose()


async def test_admission_reads_rests_and_counts_the_budget(health: Health) -> None:
    keys, r = health.keys, health.redis
    assert await health.admit("p", pair=("opt29", "RU")) is Admission.GO
    assert await r.get(keys.rate_window("p", int(NOW))) == "1"
    await r.set(keys.pair_cooldown("p", "opt29", "RU"), "1")
    assert await health.admit("p", pair=("opt29", "RU")) is Admission.PAIR_RESTING
    assert await health.admit("p", pair=("opt20", "RU")) is Admission.OVER_BUDGET  # third in 1 s
    await r.delete(keys.rate_window("p", int(NOW)))
    await r.hset(keys.health("p"), "open_until", str(NOW + 30))
    assert await health.admit("p") is Admission.RESTING


async def test_staged_commands_go_first_in_the_same_round_trip(health: Health) -> None:
    store = ActivationStore(health.redis, health.keys, retention=60)
    intent = store.intent_for({"provider": "p", "status": "sending"})
    assert not intent.written
    assert await health.admit("p", pair=("opt29", "RU"), before=intent) is Admission.GO
    written = await store.intent(intent.activation_id)
    assert (written["provider"], written["status"]) == ("p", "sending")
    assert await store.stale_intents(NOW * 2) == [intent.activation_id]
    await store.drop_intent(intent.activation_id)
    assert await store.intent(intent.activation_id) == {}
    assert await store.stale_intents(NOW * 2) == []


async def fields(health: Health) -> dict[str, Any]:
    return cast(dict[str, Any], await health.redis.hgetall(health.keys.health("p")))


async def test_success_ends_the_endpoints_failure_run_only(health: Health) -> None:
    runs = {"failures:buy": 4, "failures:poll": 2}
    await health.redis.hset(health.keys.health("p"), mapping=runs)  # type: ignore[arg-type]
    await health.succeeded("p", 0.0123, "buy")
    state = await fields(health)
    assert (state["failures:buy"], state["failures:poll"]) == ("0", "2")
    assert (state["last_latency_ms"], state["last_ok"]) == ("12.3", f"{NOW:.0f}")


@pytest.mark.parametrize(
    ("reason", "until", "closed"),
    [("failures", NOW - 1, True), ("rate_limited", NOW, True), ("failures", NOW + 5, False),
     ("no_balance", NOW - 1, False)],
)  # fmt: skip
async def test_success_closes_a_rest_that_is_over(
    health: Health, reason: str, until: float, closed: bool
) -> None:
    await health.redis.hset(
        health.keys.health("p"),
        mapping={"reason": reason, "open_until": f"{until:.3f}", "failures:buy": 5},
    )
    await health.succeeded("p", 0.01, "poll")
    state = await fields(health)
    if closed:
        assert (state["reason"], state["open_until"]) == ("", "0")
        assert "failures:buy" not in state
    else:
        assert (state["reason"], state["failures:buy"]) == (reason, "5")
