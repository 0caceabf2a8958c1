"""What the operator page's buckets hold in Redis on a busy day (the README's figure).

The shape: 3 providers, 30 services, 15 countries (all 450 pairs sold over each hour), 10
tenants, 30 purchases a minute (43,200 a day) with a code each, one in two given back (client
cancels and expiries), codes coming after anything from under a second to 25 minutes and
upstream latencies over the whole range (every histogram bucket filled), a poll per purchase and
9 error groups. Simulated minute by minute over 26 hours, one flush a minute, then the memory of
what Redis keeps at any time: the last 62 minute buckets and 27 hour buckets (they expire by
themselves, so this is a fixed amount, not a daily growth).

`pytest -s tests/operator/test_tally_memory.py` prints the figure.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from proxy.lifecycle import Activation
from proxy.operator.tally import CODE_SECONDS, HOUR, HOUR_TTL, LATENCY_MS, MINUTE, MINUTE_TTL, Tally
from proxy.redis_server import EmbeddedRedis
from proxy.store.keys import Keys

START = 1_796_000_000.0 // HOUR * HOUR
PROVIDERS = ("smspva", "vaksms", "upstream3")
ERRORS = (("buy", "ProviderTimeout"), ("poll", "ProviderUnavailable"), ("buy", "bad_key"))
# One value inside every histogram bucket, and one above the last.
CODE_WAITS = [b - 0.5 for b in CODE_SECONDS] + [CODE_SECONDS[-1] + 300]
LATENCIES = [(b - 0.5) / 1000 for b in LATENCY_MS] + [(LATENCY_MS[-1] + 1000) / 1000]
BOUND_BYTES = 6 * 2**20  # the page's buckets for such a day stay under 6 MiB


@pytest.fixture(name="client")
async def fixture_client(redis_server: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def one_minute(tally: Tally, minute: int, at: float) -> None:
    for i in range(30):
        turn = minute * 30 + i
        act = Activation(
            id=turn, tenant=f"tenant{i % 10}", provider=PROVIDERS[i % 3], order_id=str(turn),
            phone="79000000000", service=f"s{i}", country=(minute + i) % 15, operator=None,
            cost=Decimal("0.25"), currency="USD", expires=at + 900,
            created=at - CODE_WAITS[turn % len(CODE_WAITS)],
        )  # fmt: skip
        tally.bought(act)
        tally.coded(act, at)
        if turn % 2:
            tally.refunded(act, "client" if turn % 4 == 1 else "no_sms")
        tally.upstream(act.provider, "poll", "ok", LATENCIES[turn % len(LATENCIES)])
    for provider in PROVIDERS:
        for endpoint, kind in ERRORS:
            tally.upstream(provider, endpoint, kind, 1.0, "failed")


async def test_a_busy_days_buckets_fit_in_a_few_megabytes(
    client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = Keys(f"t{uuid.uuid4().hex[:10]}")
    clock = [START]
    tally = Tally(client, keys, clock=lambda: clock[0])
    hours_kept, minutes_kept = HOUR_TTL // HOUR, MINUTE_TTL // MINUTE
    total_minutes = (hours_kept + 1) * 60
    for minute in range(total_minutes):
        clock[0] = START + minute * MINUTE
        one_minute(tally, minute, clock[0])
        assert await tally.flush()
    now = int(clock[0] // MINUTE)
    minute_keys = [keys.tally_minute(m) for m in range(now - minutes_kept + 1, now + 1)]
    hour_keys = [keys.tally_hour(h) for h in range(now // 60 - hours_kept, now // 60 + 1)]
    minute_bytes = sum([int(await client.memory_usage(k, samples=0) or 0) for k in minute_keys])
    hour_bytes = sum([int(await client.memory_usage(k, samples=0) or 0) for k in hour_keys])
    minute_fields = await client.hlen(minute_keys[-2])
    hour_fields = await client.hlen(hour_keys[-2])
    total = minute_bytes + hour_bytes
    with capsys.disabled():
        print(
            f"\ntally memory on a busy day: {total / 2**20:.1f} MiB in all "
            f"({minute_bytes / 2**20:.1f} MiB in {len(minute_keys)} minute buckets of "
            f"{minute_fields} fields, {hour_bytes / 2**20:.1f} MiB in {len(hour_keys)} hour "
            f"buckets of {hour_fields} fields)"
        )
    assert hour_fields > 1200  # every scope's every field, the 450 pairs among them
    assert total < BOUND_BYTES
