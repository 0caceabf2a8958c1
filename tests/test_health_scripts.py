"""Health's scripts against a real Redis: admission (with a staged purchase intent), which
rest holds back which kind of call, and the bookkeeping of a success or a failure."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from proxy.config import settings_from_dict
from proxy.health.breaker import Admission, Call, Health, Verdict
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
    assert await health.admit("p", pair=("opt29", "RU")) == Verdict(Admission.GO)
    assert await r.get(keys.rate_window("p", int(NOW))) == "1"
    await r.set(keys.pair_cooldown("p", "opt29", "RU"), "1")
    assert await health.admit("p", pair=("opt29", "RU")) == Verdict(
        Admission.PAIR_RESTING, "pair_no_numbers"
    )
    assert await health.admit("p", pair=("opt20", "RU")) == Verdict(
        Admission.OVER_BUDGET, "over_budget"
    )  # third in 1 s
    await r.delete(keys.rate_window("p", int(NOW)))
    await r.hset(keys.health("p"), "open_until", str(NOW + 30))
    assert await health.admit("p") == Verdict(Admission.RESTING, "failures")


async def resting(health: Health, reason: str, until: float) -> None:
    await health.redis.hset(
        health.keys.health("p"), mapping={"reason": reason, "open_until": f"{until:.3f}"}
    )


async def admit(health: Health, call: Call) -> Verdict:
    """One admission with the budget fresh (the fixture's is 2 per second)."""
    await health.redis.delete(health.keys.rate_window("p", int(NOW)))
    return await health.admit("p", call=call)


@pytest.mark.parametrize(
    ("reason", "call", "admission"),
    [("failures", Call.PURCHASE, Admission.RESTING), ("failures", Call.ROUTINE, Admission.GO),
     ("failures", Call.ALWAYS, Admission.GO),
     ("no_balance", Call.PURCHASE, Admission.RESTING), ("no_balance", Call.ROUTINE, Admission.GO),
     ("no_balance", Call.ALWAYS, Admission.GO),
     ("rate_limited", Call.PURCHASE, Admission.RESTING),
     ("rate_limited", Call.ROUTINE, Admission.RESTING),
     ("rate_limited", Call.ALWAYS, Admission.GO)],
)  # fmt: skip
async def test_rests_hold_back_purchases(
    health: Health, reason: str, call: Call, admission: Admission
) -> None:
    """Every rest holds back purchases; only a slow-down one holds back routine calls too; what
    returns money or lists orders always goes."""
    await resting(health, reason, NOW + 5)
    verdict = await admit(health, call)
    assert verdict.admission is admission
    assert verdict.reason == ("" if verdict.sent else reason)


async def test_only_a_purchase_takes_the_probe(health: Health) -> None:
    """Once a rest is over, routine calls go without spending the probe, which the first
    purchase then takes; the next purchase waits for its verdict."""
    await resting(health, "rate_limited", NOW - 1)
    for call in (Call.ROUTINE, Call.ALWAYS, Call.ROUTINE):
        assert await admit(health, call) == Verdict(Admission.GO)
    assert await admit(health, Call.PURCHASE) == Verdict(Admission.PROBE)
    assert await admit(health, Call.PURCHASE) == Verdict(Admission.RESTING, "rate_limited")
    assert await admit(health, Call.ALWAYS) == Verdict(Admission.GO)


async def test_a_probe_over_budget_is_given_back(health: Health) -> None:
    await resting(health, "failures", NOW - 1)
    await health.redis.set(health.keys.rate_window("p", int(NOW)), 5)
    assert await health.admit("p") == Verdict(Admission.OVER_BUDGET, "over_budget")
    assert await admit(health, Call.PURCHASE) == Verdict(Admission.PROBE)


@pytest.mark.parametrize("reason", ["no_balance", "rate_limited", "failures"])
async def test_failures_during_a_rest_neither_renew_nor_replace_it(
    health: Health, reason: str
) -> None:
    await resting(health, reason, NOW + 5)
    for _ in range(6):  # past breaker_threshold (5)
        await health.failed("p", "503", 0.01, "poll")
    state = await fields(health)
    assert (state["reason"], state["open_until"]) == (reason, f"{NOW + 5:.3f}")


async def test_a_failure_after_the_rest_opens_it_again(health: Health) -> None:
    await resting(health, "failures", NOW - 1)
    await health.redis.hset(health.keys.health("p"), "failures:buy", 5)
    await health.failed("p", "503", 0.01, "buy")
    state = await fields(health)
    assert (state["reason"], float(state["open_until"])) == ("failures", NOW + 30)


async def test_staged_commands_go_first_in_the_same_round_trip(health: Health) -> None:
    store = ActivationStore(health.redis, health.keys, retention=60)
    intent = store.intent_for({"provider": "p", "status": "sending"})
    assert not intent.written
    assert await health.admit("p", pair=("opt29", "RU"), before=intent) == Verdict(Admission.GO)
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


@pytest.mark.parametrize(("sale", "closed"), [(False, False), (True, True)])
async def test_only_a_sale_closes_a_no_money_rest(health: Health, sale: bool, closed: bool) -> None:
    """Once a "no money" rest is over, a refusal of the probe (no numbers: nothing learnt of
    money) leaves it; a number sold ends it."""
    await resting(health, "no_balance", NOW - 1)
    await health.succeeded("p", 0.01, "buy", sale=sale)
    state = await fields(health)
    assert (state["reason"] == "") is closed
