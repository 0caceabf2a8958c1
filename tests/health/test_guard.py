"""GuardedProvider on real parts (a Redis, the SMSPVA adapter over HTTP to its emulator, a
clock the test moves): which rest holds back which call, and why a purchase was not sent."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
import redis.asyncio as aioredis

from proxy.config import settings_from_dict
from proxy.health.breaker import Call, Health
from proxy.health.guard import CALLS, GuardedProvider
from proxy.metrics import Metrics
from proxy.operator.tally import Tally
from proxy.providers import build_provider
from proxy.providers.base import (
    BuyRequest,
    OutcomeUnknown,
    PollState,
    ProviderAnswerInvalid,
    ProviderRefused,
    ProviderResting,
    ProviderUnavailable,
    Purchase,
    Refusal,
    RequestNotSent,
)
from proxy.redis_server import EmbeddedRedis
from proxy.store.keys import Keys
from tests.conftest import SMSPVA_KEY, Upstream

TG_RU = BuyRequest("opt29", "RU")


class Clock:
    """Health's clock: real time until the test moves it on."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    provider: GuardedProvider
    health: Health
    clock: Clock
    upstream: Upstream

    async def buy(self, request: BuyRequest = TG_RU) -> Purchase:
        return await self.provider.buy(request)

    async def settled(self) -> dict[str, str]:
        """The provider's health hash, once the background bookkeeping is done."""
        await self.provider.drain()
        state = await self.health.redis.hgetall(self.health.keys.health("smspva"))
        return cast(dict[str, str], state)


RigFactory = Callable[..., Rig]


@pytest.fixture(name="make_rig")
async def fixture_make_rig(
    redis_server: EmbeddedRedis, smspva: Upstream
) -> AsyncIterator[RigFactory]:
    redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    client = httpx.AsyncClient()
    rigs: list[Rig] = []

    def make(**provider: Any) -> Rig:
        settings = settings_from_dict({
            "providers": {"smspva": {"api_key": SMSPVA_KEY, "base_url": smspva.url,
                                     "read_timeout": 0.3, "breaker_threshold": 2, **provider}},
            "tenants": [{"name": "t", "key": "x"}],
            "routing": {"no_numbers_threshold": 2},
        })  # fmt: skip
        clock = Clock()
        health = Health(redis, Keys(f"t{uuid.uuid4().hex[:10]}"), dict(settings.providers),
                        settings.routing, clock=clock)  # fmt: skip
        inner = build_provider(settings.providers["smspva"], client)
        rig = Rig(GuardedProvider(inner, health, Metrics()), health, clock, smspva)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.provider.drain()
    await client.aclose()
    await redis.aclose()


async def out_of_money(rig: Rig) -> None:
    rig.upstream.emulator.set_balance(SMSPVA_KEY, 0)
    with pytest.raises(ProviderRefused) as refused:
        await rig.buy()
    assert refused.value.refusal is Refusal.NO_BALANCE


async def slowed_down(rig: Rig) -> None:
    rig.upstream.emulator.inject_error("number", status=502)
    with pytest.raises(ProviderRefused) as refused:
        await rig.buy()
    assert refused.value.refusal is Refusal.RATE_LIMITED


async def failing(rig: Rig) -> None:
    rig.upstream.emulator.inject_error("number", status=503, times=2)
    for _ in range(2):  # breaker_threshold
        with pytest.raises(ProviderUnavailable):
            await rig.buy()


async def out_of_stock(rig: Rig) -> None:
    rig.upstream.emulator.set_stock("opt29", "RU", 0)
    for _ in range(2):  # routing.no_numbers_threshold
        with pytest.raises(ProviderRefused):
            await rig.buy()


async def over_budget(rig: Rig) -> None:
    await rig.provider.balance()  # the one request of this (frozen) second


Provoke = Callable[[Rig], Awaitable[None]]
RESTS: list[tuple[str, dict[str, Any], Provoke]] = [
    ("no_balance", {}, out_of_money),
    ("rate_limited", {}, slowed_down),
    ("failures", {}, failing),
    ("pair_no_numbers", {}, out_of_stock),
    ("over_budget", {"rate_limit": 1}, over_budget),
]
PROVOKE = {reason: provoke for reason, _, provoke in RESTS}


@pytest.mark.parametrize(("reason", "overrides", "provoke"), RESTS, ids=[r[0] for r in RESTS])
async def test_a_purchase_not_sent_says_why(
    make_rig: RigFactory, reason: str, overrides: dict[str, Any], provoke: Provoke
) -> None:
    """Each rest kind, and the budget, refuse a purchase with a ProviderResting carrying its
    reason; the upstream is not asked."""
    rig = make_rig(**overrides)
    await provoke(rig)
    await rig.provider.drain()
    asked = rig.upstream.emulator.requests["number"]
    with pytest.raises(ProviderResting) as resting:
        await rig.buy()
    assert resting.value.reason == reason
    assert isinstance(resting.value, RequestNotSent)  # safe to fail over, as before
    assert (resting.value.provider, str(resting.value)) == (
        "smspva",
        f"smspva: ProviderResting: not sent: {reason}",
    )
    assert rig.upstream.emulator.requests["number"] == asked


async def three_numbers(rig: Rig) -> tuple[Purchase, Purchase, Purchase]:
    return await rig.buy(), await rig.buy(), await rig.buy()


@pytest.mark.parametrize("reason", ["no_balance", "failures", "rate_limited"])
async def test_rests_hold_back_purchases_only(make_rig: RigFactory, reason: str) -> None:
    """While the provider rests, the numbers it sold are still polled, cancelled and blocked,
    and its orders, balance and catalog asked; a slow-down rest holds back the routine calls
    (polls, another SMS, catalogs) but never the refunds, the order list or the balance."""
    rig = make_rig()
    coded, cancelled, blocked = await three_numbers(rig)
    await rig.provider.drain()  # the sales' late bookkeeping would reset the failures' run
    await PROVOKE[reason](rig)
    assert (await rig.settled())["reason"] == reason
    rig.upstream.emulator.deliver_sms(coded.order_id, "4321")
    routine: list[Callable[[], Awaitable[object]]] = [
        lambda: rig.provider.poll(coded.order_id),
        lambda: rig.provider.request_another(coded.order_id),
        lambda: rig.provider.offers("RU", None),
    ]
    if reason == "rate_limited":
        for call in routine:
            with pytest.raises(ProviderResting) as resting:
                await call()
            assert resting.value.reason == "rate_limited"
    else:
        poll = await rig.provider.poll(coded.order_id)
        assert (poll.state, [m.code for m in poll.messages]) == (PollState.RECEIVED, ["4321"])
        await rig.provider.request_another(coded.order_id)
        assert await rig.provider.offers("RU", None)
    await rig.provider.cancel(cancelled.order_id)
    await rig.provider.block(blocked.order_id)
    orders = await rig.provider.open_orders()
    assert [o.purchase.order_id for o in orders or []] == [coded.order_id]
    assert rig.upstream.emulator.orders[cancelled.order_id].refunded
    assert rig.upstream.emulator.orders[blocked.order_id].refunded
    state = await rig.settled()
    assert state["reason"] == reason  # none of these successes ended the rest
    assert float(state["open_until"]) > rig.clock.now
    assert (await rig.provider.balance()).amount > 0  # the refunds are money again...
    ended = "" if reason == "no_balance" else reason  # ...which ends a "no money" rest only
    assert (await rig.settled())["reason"] == ended


async def test_order_listing_is_not_spent_on_the_probe(make_rig: RigFactory) -> None:
    """After a slow-down rest, the half-open probe goes to a purchase; when that purchase's
    outcome is unknown, the order list that recovers it is still sent."""
    rig = make_rig()
    await slowed_down(rig)
    rig.clock.now += 11  # the 10-s rest is over: half-open
    rig.upstream.emulator.stall("number", 1.0, after_effect=True)
    with pytest.raises(OutcomeUnknown):
        await rig.buy()  # the probe: sold upstream, the answer too late
    orders = await rig.provider.open_orders()
    assert len(orders or []) == 1
    with pytest.raises(ProviderResting) as resting:
        await rig.buy()  # the probe's verdict is not in: purchases still wait
    assert resting.value.reason == "rate_limited"


async def test_a_sale_ends_a_no_money_rest_that_is_over(make_rig: RigFactory) -> None:
    """A "no money" rest outlasts its cooldown until money is seen: polls do not end it, the
    probe's sale does (before, purchases stayed one per probe period until a getBalance)."""
    rig = make_rig()
    coded, *_ = await three_numbers(rig)
    await out_of_money(rig)
    rig.clock.now += rig.health.routing.no_balance_cooldown + 1
    await rig.provider.poll(coded.order_id)
    assert (await rig.settled())["reason"] == "no_balance"
    rig.upstream.emulator.set_balance(SMSPVA_KEY, 50)
    await rig.buy()  # the probe sells
    state = await rig.settled()
    assert (state["reason"], state["open_until"]) == ("", "0")
    await rig.buy()  # closed: no probe needed


def test_every_endpoint_is_sorted() -> None:
    """Every Provider method that calls the upstream has a rule, and the purchases are exactly
    the four that spend money on a new number."""
    methods = {name for name in dir(GuardedProvider) if not name.startswith("_")}
    upstream = methods - {"aclose", "drain", "later"}
    assert upstream == set(CALLS)
    purchases = {name for name, call in CALLS.items() if call is Call.PURCHASE}
    assert purchases == {"buy", "buy_multi", "reissue", "rent"}
    assert {name for name, call in CALLS.items() if call is Call.ALWAYS} == {
        "cancel", "block", "rent_end", "open_orders", "rent_orders", "balance",
    }  # fmt: skip


async def test_an_answer_that_cannot_be_read_is_counted_as_an_error(
    make_rig: RigFactory, redis_server: EmbeddedRedis
) -> None:
    """Neither refused nor unavailable: the call went out and came back unreadable. The
    metrics and the operator page's tally count it like any other failed call."""
    rig = make_rig()
    redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    tally = Tally(redis, rig.health.keys)
    rig.provider.tally = tally
    rig.upstream.emulator.inject_error("balance", status=200, body="<html>maintenance</html>")
    with pytest.raises(ProviderAnswerInvalid):
        await rig.provider.balance()
    (counts,) = tally.pending.values()
    assert counts["provider:smspva|calls"] == counts["provider:smspva|errors"] == 1
    assert counts["error|smspva|balance|provider_answer_invalid"] == 1
    exposed = rig.provider.metrics.exposition().decode()
    assert 'endpoint="balance",outcome="ProviderAnswerInvalid"' in exposed
    await redis.aclose()
