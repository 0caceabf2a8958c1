"""The operator page's counts: what each event adds, how a flush lands in the minute's and the
hour's buckets of a real Redis (several processes adding to the same ones), what a failed
flush keeps, and how buckets read back as windows, series and quantiles."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from proxy.lifecycle import Activation
from proxy.operator import buckets
from proxy.operator.figures import money
from proxy.operator.tally import CODE_SECONDS, LATENCY_MS, Batch, Tally, bucket, scrub
from proxy.redis_server import EmbeddedRedis
from proxy.serving import free_port
from proxy.store.keys import Keys

NOW = 1_796_000_000.0  # 2026-11-29, on a minute boundary + 20 s
MINUTE, HOUR = int(NOW // 60), int(NOW // 3600)


def activation(**changes: object) -> Activation:
    fields: dict[str, object] = {
        "id": 1, "tenant": "alice", "provider": "smspva", "order_id": "o1",
        "phone": "79123456789", "service": "tg", "country": 0, "operator": None,
        "cost": Decimal("12.5"), "currency": "RUB", "created": NOW - 42.0, "expires": NOW + 900,
    }  # fmt: skip
    fields.update(changes)
    return Activation(**fields)  # type: ignore[arg-type]


@pytest.fixture(name="client")
async def fixture_client(redis_server: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture(name="keys")
def fixture_keys() -> Keys:
    return Keys(f"t{uuid.uuid4().hex[:10]}")


def tally_for(client: aioredis.Redis, keys: Keys, at: float = NOW) -> Tally:
    return Tally(client, keys, secrets=["sekrit-key"], clock=lambda: at)


def test_a_sale_counts_in_every_scope_with_the_tenants_money(keys: Keys) -> None:
    tally = Tally(None, keys, clock=lambda: NOW)  # type: ignore[arg-type]
    tally.bought(activation())
    counts = tally.pending[MINUTE]
    for scope in ("all", "provider:smspva", "service:tg", "country:0", "tenant:alice"):
        assert counts[f"{scope}|bought"] == 1
    assert counts["pair:tg:0|bought"] == 1
    assert counts["tenant:alice|spend"] == 125_000  # 12.5 in ten-thousandths


def test_a_code_counts_its_wait_and_a_refund_its_reason(keys: Keys) -> None:
    tally = Tally(None, keys, clock=lambda: NOW)  # type: ignore[arg-type]
    tally.coded(activation(), NOW)
    tally.refunded(activation(id=2), "no_sms")
    tally.refunded(activation(id=3), "client")
    counts = tally.pending[MINUTE]
    index = bucket(CODE_SECONDS, 42.0)
    assert CODE_SECONDS[index - 1] < 42 <= CODE_SECONDS[index]
    assert counts[f"service:tg|code:{index}"] == 1
    assert "tenant:alice|code:" + str(index) not in counts  # tenants: counts, no histogram
    assert counts["all|refunded"] == 2
    assert counts["all|cancelled"] == 1  # only the client's
    assert counts["tenant:alice|refund"] == 250_000


@pytest.mark.parametrize(
    ("outcome", "seconds", "error"),
    [
        ("ok", 0.12, False),
        ("no_numbers", 0.12, False),  # business as usual
        ("order_expired", 0.12, False),
        ("bad_key", 0.12, True),
        ("rate_limited", 0.12, True),
        ("ProviderTimeout", 5.0, True),
        ("ProviderAnswerInvalid", 0.1, True),  # an answer we could not read
        ("resting", None, False),  # not sent: neither a call nor an error
    ],
)
def test_upstream_calls_count_errors_an_operator_acts_on(
    keys: Keys, outcome: str, seconds: float | None, error: bool
) -> None:
    tally = Tally(None, keys, clock=lambda: NOW)  # type: ignore[arg-type]
    tally.upstream("smspva", "number", outcome, seconds, "GET /x?api_key=sekrit failed")
    counts = tally.pending.get(MINUTE, {})
    assert counts.get("provider:smspva|calls", 0) == (0 if seconds is None else 1)
    assert "all|polls" not in counts  # a purchase, not a poll
    assert counts.get("provider:smspva|errors", 0) == int(error)
    if error:
        snake = {"ProviderTimeout": "provider_timeout",
                 "ProviderAnswerInvalid": "provider_answer_invalid"}  # fmt: skip
        kind = snake.get(outcome, outcome)
        assert counts[f"error|smspva|number|{kind}"] == 1
        at, message = tally.errors[f"error|smspva|number|{kind}"]
        assert at == NOW and "sekrit" not in message and "api_key=***" in message


def test_scrub_stars_keys_in_queries_and_the_configured_secrets() -> None:
    text = "https://x/api?key=abc&service=tg token=zz failed for sekrit-key"
    cleaned = scrub(text, ["sekrit-key"])
    assert "abc" not in cleaned and "zz" not in cleaned and "sekrit-key" not in cleaned
    assert "service=tg" in cleaned
    assert len(scrub("x" * 5000)) == 300
    assert scrub("number +79123456789 busy, order 12345") == "number +7********89 busy, order 12345"
    assert scrub("SG number 81234567 taken") == "SG number 81****67 taken"  # 8-digit national
    # A message cut inside a key (health keeps 200 characters) hides the part that is there.
    assert scrub("GET /x failed with sekrit-k", ["sekrit-key"]) == "GET /x failed with ***"


async def test_flushes_of_two_processes_add_up_in_the_minute_and_the_hour(
    client: aioredis.Redis, keys: Keys
) -> None:
    one, two = tally_for(client, keys), tally_for(client, keys)
    one.bought(activation())
    two.bought(activation(provider="vaksms"))
    two.upstream("vaksms", "getNumber", "bad_key", 0.2, "key=sekrit-key refused")
    assert await one.flush() and await two.flush()
    assert one.pending == {} and two.pending == {}
    minute = await client.hgetall(keys.tally_minute(MINUTE))
    hour = await client.hgetall(keys.tally_hour(HOUR))
    assert minute["all|bought"] == hour["all|bought"] == "2"
    assert minute["provider:vaksms|bought"] == "1"
    assert 3600 < await client.ttl(keys.tally_minute(MINUTE)) <= 62 * 60
    assert 2 * 3600 < await client.ttl(keys.tally_hour(HOUR)) <= 26 * 3600
    read = await buckets.read(client, keys, NOW)
    assert read.minutes[-1]["all"]["bought"] == 2
    assert read.hours[-1]["provider:smspva"]["bought"] == 1
    at, message = read.last_errors["error|vaksms|getNumber|bad_key"]
    assert at == NOW and "sekrit" not in message


def test_only_sent_activation_polls_count_as_polls(keys: Keys) -> None:
    tally = Tally(None, keys, clock=lambda: NOW)  # type: ignore[arg-type]
    tally.upstream("smspva", "poll", "ok", 0.01)
    tally.upstream("smspva", "poll", "resting", None)  # held back by a rest: not asked
    tally.upstream("smspva", "rent_messages", "ok", 0.01)  # a rental's: not an activation's
    counts = tally.pending[MINUTE]
    assert counts["all|polls"] == counts["provider:smspva|polls"] == 1


async def test_a_failed_flush_keeps_its_counts_for_the_next(
    client: aioredis.Redis, keys: Keys
) -> None:
    down = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5, decode_responses=True)
    tally = tally_for(down, keys)
    tally.bought(activation())
    assert not await tally.flush()
    tally.bought(activation(id=2))
    assert tally.unsent is not None and tally.pending[MINUTE]["all|bought"] == 1
    await down.aclose()
    tally.redis = client  # Redis is back: the failed flush, then what came since
    assert await tally.flush()
    assert tally.unsent is None and tally.pending == {}
    assert await client.hget(keys.tally_minute(MINUTE), "all|bought") == "2"


async def test_a_flush_sent_twice_counts_once(client: aioredis.Redis, keys: Keys) -> None:
    """A flush whose reply was lost is sent again under its number: it landed once."""
    tally = tally_for(client, keys)
    tally.bought(activation())
    tally.sequence += 1
    batch = Batch(tally.sequence, tally.pending, {})
    tally.pending = {}
    await tally._send(batch)  # it landed, but the process did not hear so
    tally.unsent = batch
    tally.bought(activation(id=2))
    assert await tally.flush()
    assert await client.hget(keys.tally_hour(HOUR), "all|bought") == "2"
    other = tally_for(client, keys)  # another process numbers its flushes on its own
    other.bought(activation(id=3))
    assert await other.flush()
    assert await client.hget(keys.tally_hour(HOUR), "all|bought") == "3"


async def test_a_flush_cut_short_by_the_shutdown_is_sent_again(
    client: aioredis.Redis, keys: Keys
) -> None:
    tally = tally_for(client, keys)
    tally.bought(activation())
    sent = asyncio.Event()
    real = tally._send

    async def slow(batch: Batch) -> None:
        sent.set()
        await asyncio.sleep(10)  # Redis slow: the task is cancelled meanwhile
        await real(batch)

    tally._send = slow  # type: ignore[method-assign]
    flushing = asyncio.create_task(tally.flush())
    await sent.wait()
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    tally._send = real  # type: ignore[method-assign]
    assert await tally.flush()
    assert await client.hget(keys.tally_minute(MINUTE), "all|bought") == "1"


async def test_the_pair_counts_go_to_the_hour_alone(client: aioredis.Redis, keys: Keys) -> None:
    tally = tally_for(client, keys)
    tally.bought(activation())
    assert await tally.flush()
    assert await client.hget(keys.tally_hour(HOUR), "pair:tg:0|bought") == "1"
    assert await client.hget(keys.tally_minute(MINUTE), "pair:tg:0|bought") is None


async def test_counts_older_than_a_day_are_not_kept_after_a_failure(keys: Keys) -> None:
    down = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
    clock = [NOW]
    tally = Tally(down, keys, clock=lambda: clock[0])
    tally.bought(activation())
    assert not await tally.flush()  # sent, not landed: kept
    tally.bought(activation(id=2))
    clock[0] = NOW + 25 * 3600
    assert await tally.flush()  # still away a day later: both given up, nothing left to send
    assert tally.pending == {} and tally.unsent is None
    await down.aclose()


def test_windows_and_series_from_buckets() -> None:
    minutes: list[buckets.Scoped] = [{} for _ in range(60)]
    minutes[-1] = buckets.parse({"all|bought": "3", "all|coded": "2", "all|polls": "12",
                                 "all|code:2": "1", "all|code:5": "1"})  # fmt: skip
    minutes[-2] = buckets.parse({"all|bought": "1", "all|refunded": "1", "all|cancelled": "1"})
    total = buckets.merge(minutes)["all"]
    window = buckets.window(total)
    assert window["bought"] == 4 and window["coded"] == 2 and window["success_rate"] == 0.5
    assert window["cancelled"] == window["refunded"] == 1
    assert window["polls_per_activation"] == 3.0
    # Interpolated within the bucket: the median is the top of (2, 3], the 90th 0.8 of (7, 10].
    assert (CODE_SECONDS[1], CODE_SECONDS[2], CODE_SECONDS[4], CODE_SECONDS[5]) == (2, 3, 7, 10)
    assert window["code_seconds_p50"] == 3.0
    assert window["code_seconds_p90"] == pytest.approx(9.4)
    series = buckets.series(minutes, "all")
    assert len(series["bought"]) == 60 and series["bought"][-2:] == [1, 3]
    assert series["code_seconds_p50"][0] is None and series["polls_per_activation"][-1] == 4.0
    assert buckets.window({})["success_rate"] is None
    assert buckets.window(total, "service:tg")["polls_per_activation"] is None  # not counted
    assert buckets.series(minutes, "country:0")["polls_per_activation"][-1] is None


def test_quantiles_take_the_bucket_bound_and_the_last_for_what_is_above() -> None:
    assert buckets.quantile({}, LATENCY_MS, 0.5) is None
    assert LATENCY_MS[:7] == (1, 2, 3, 5, 7, 10, 15)
    assert buckets.quantile({0: 99, 3: 1}, LATENCY_MS, 0.5) == pytest.approx(50 / 99, abs=1e-3)
    assert buckets.quantile({0: 98, 3: 2}, LATENCY_MS, 0.99) == 4.0  # half-way into (3, 5]
    assert buckets.quantile({len(LATENCY_MS): 1}, LATENCY_MS, 0.5) == LATENCY_MS[-1]
    p50, p99, calls = buckets.latency({"calls": 4, "lat:1": 3, "lat:6": 1})
    assert p50 == pytest.approx(5 / 3, abs=1e-3) and p99 == pytest.approx(14.8) and calls == 4


def test_names_holding_the_separator_keep_their_counts() -> None:
    scoped = buckets.parse({"tenant:a|b|bought": "2", "error|p|x|buy|bad_key": "1"})
    assert scoped["tenant:a|b"] == {"bought": 2}
    assert scoped["error"] == {"p|x|buy|bad_key": 1}


def test_top_scopes_by_what_they_sold() -> None:
    scoped = buckets.parse({"service:tg|bought": "5", "service:wa|bought": "7",
                            "service:vk|bought": "5", "service:ok|coded": "1",
                            "country:0|bought": "9"})  # fmt: skip
    assert buckets.top(scoped, "service", 2) == ["service:wa", "service:tg"]
    assert buckets.top(scoped, "service", 9) == ["service:wa", "service:tg", "service:vk"]


@pytest.mark.parametrize(
    ("units", "text"),
    [(0, "0.00"), (125_000, "12.50"), (1_234, "0.1234"), (-50_000, "-5.00"), (10, "0.001")],
)
def test_money_keeps_every_digit_it_has(units: int, text: str) -> None:
    assert money(units) == text
