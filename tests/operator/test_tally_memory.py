"""What the operator page's buckets hold in Redis on a busy day (the README's figure).

The shape: 3 providers, 30 services, 15 countries, 10 tenants, a purchase of every service
every minute (43,200 a day), a code, a client cancel and an expiry refund in each minute,
upstream calls of spread latency and 6 error groups: every field of every bucket present, so
the most such a day can hold. The buckets expire by themselves (minutes after 62 minutes,
hours after 26 hours), so this is what Redis holds at any time, not a daily growth.

`pytest -s tests/operator/test_tally_memory.py` prints the figure.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from proxy.lifecycle import Activation
from proxy.operator.tally import HOUR, HOUR_TTL, MINUTE, MINUTE_TTL, Tally
from proxy.redis_server import EmbeddedRedis
from proxy.store.keys import Keys

START = 1_796_000_000.0
PROVIDERS = ("smspva", "vaksms", "upstream3")
ERRORS = (("buy", "ProviderTimeout"), ("poll", "ProviderUnavailable"), ("buy", "bad_key"))
BOUND_BYTES = 4 * 2**20  # the page's buckets for such a day stay under 4 MiB


@pytest.fixture(name="client")
async def fixture_client(redis_server: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def one_minute(tally: Tally, at: float) -> None:
    for i in range(30):
        act = Activation(
            id=i, tenant=f"tenant{i % 10}", provider=PROVIDERS[i % 3], order_id=str(i),
            phone="79000000000", service=f"s{i}", country=i % 15, operator=None,
            cost=Decimal("0.25"), currency="USD", created=at - 7.0 * (i + 1), expires=at + 900,
        )  # fmt: skip
        tally.bought(act)
        tally.coded(act, at)
        tally.refunded(act, "client" if i % 2 else "no_sms")
        tally.polled(act.provider)
        for latency in (0.004, 0.03, 0.2, 0.9, 4.0, 25.0):
            tally.upstream(act.provider, "poll", "ok", latency)
    for provider in PROVIDERS:
        for endpoint, kind in ERRORS:
            tally.upstream(provider, endpoint, kind, 1.0, "failed")


async def test_a_busy_days_buckets_fit_in_a_few_megabytes(
    client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = Keys(f"t{uuid.uuid4().hex[:10]}")
    clock = [START]
    tally = Tally(client, keys, clock=lambda: clock[0])
    minutes_kept, hours_kept = MINUTE_TTL // MINUTE, HOUR_TTL // HOUR
    # The hour buckets: each filled by its 60 minutes (their fields are the same ones).
    for hour in range(hours_kept):
        clock[0] = START + hour * HOUR
        one_minute(tally, clock[0])
        assert await tally.flush()
    # The minute buckets of the last 62 minutes.
    for minute in range(minutes_kept):
        clock[0] = START + hours_kept * HOUR + minute * MINUTE
        one_minute(tally, clock[0])
        assert await tally.flush()
    names = [name async for name in client.scan_iter(f"{keys.prefix}:{{tally}}:*")]
    sizes = {name: int(await client.memory_usage(name, samples=0) or 0) for name in names}
    minute_bytes = sum(v for k, v in sizes.items() if ":m:" in k)
    hour_bytes = sum(v for k, v in sizes.items() if ":h:" in k)
    fields = await client.hlen(keys.tally_minute(int(clock[0] // MINUTE)))
    total = sum(sizes.values())
    with capsys.disabled():
        print(
            f"\ntally memory on a busy day: {total / 2**20:.1f} MiB in all "
            f"({minute_bytes / 2**20:.1f} MiB in {minutes_kept} minute buckets, "
            f"{hour_bytes / 2**20:.1f} MiB in {hours_kept + 1} hour buckets; "
            f"{fields} fields a bucket)"
        )
    assert fields > 350  # every scope's every field: the most a bucket holds for this shape
    assert total < BOUND_BYTES
