"""The demo's clients: a few bots buying numbers through smsproxy, so that the operator's page
has live figures to show (`smsproxy demo --traffic N`, N purchases a minute on average).

Each bot does what SMS-Activate clients do: getBalance, getNumber, getStatus every few seconds
until the code, then setStatus 6; some give up early with setStatus 8 (a refund), as real ones
do.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
import structlog

from proxy.app import HANDLER_PATH

log = structlog.get_logger("demo")

# Pairs both emulated providers sell (seed-mapped on both: proxy/mapping/data).
PAIRS = (("tg", 0), ("tg", 0), ("wa", 0), ("vk", 0), ("ok", 0), ("tg", 2))
CANCEL_SHARE = 0.15  # bots that give up at their first look, before the code
POLL_EVERY = 3.0


TOP_UP_EVERY = 30.0  # seconds


async def keep_funded(emulators: Mapping[str, tuple[Any, Decimal]], api_key: str) -> None:
    """Top each emulated account back up to its start once it falls under a quarter of it,
    as an operator would: the bots would otherwise empty the demo's accounts in minutes."""
    while True:
        await asyncio.sleep(TOP_UP_EVERY)
        for name, (emulator, start) in emulators.items():
            if emulator.balances.get(api_key, start) < start / 4:
                emulator.set_balance(api_key, start)
                log.info("demo_topped_up", provider=name, balance=str(start))


async def run_traffic(base: str, api_key: str, per_minute: float) -> None:
    """Start a bot now and then (Poisson arrivals) until cancelled."""
    bots: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=base, timeout=15.0) as client:
        try:
            while True:
                bot = asyncio.create_task(_bot(client, api_key, random.Random()))
                bots.add(bot)
                bot.add_done_callback(bots.discard)
                await asyncio.sleep(random.expovariate(per_minute / 60.0))
        finally:
            for bot in list(bots):
                bot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*bots, return_exceptions=True)


async def _bot(client: httpx.AsyncClient, api_key: str, rng: random.Random) -> None:
    service, country = rng.choice(PAIRS)
    try:
        # Many clients look at their balance first; the page then shows each provider's.
        await _ask(client, api_key, action="getBalance")
        answer = await _ask(client, api_key, action="getNumber", service=service,
                            country=str(country))  # fmt: skip
        if not answer.startswith("ACCESS_NUMBER:"):
            return
        activation_id = answer.split(":")[1]
        gives_up = rng.random() < CANCEL_SHARE
        waited = 0.0
        while True:
            await asyncio.sleep(POLL_EVERY)
            waited += POLL_EVERY
            status = await _ask(client, api_key, action="getStatus", id=activation_id)
            if status.startswith("STATUS_OK:"):
                await _ask(client, api_key, action="setStatus", id=activation_id, status="6")
                return
            if status != "STATUS_WAIT_CODE" or waited > 900:
                return
            if gives_up:
                await _ask(client, api_key, action="setStatus", id=activation_id, status="8")
                return
    except httpx.HTTPError as exc:
        log.warning("demo_bot_failed", error=str(exc))


async def _ask(client: httpx.AsyncClient, api_key: str, **params: str) -> str:
    response = await client.get(HANDLER_PATH, params={"api_key": api_key, **params})
    return response.text
