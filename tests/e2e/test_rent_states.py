"""Rentals' wake-up states come from one SMSPVA `orders` listing shared by all rentals of the
account for a few seconds, fetched once however many ask at the same moment."""

from __future__ import annotations

import asyncio

import httpx

from proxy.config import settings_from_dict
from proxy.providers import build_provider
from proxy.providers.base import Provider, RentState
from proxy.rent.states import RentStates
from tests.conftest import SMSPVA_KEY, VAKSMS_KEY, Upstream


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def providers(smspva: Upstream, vaksms: Upstream, client: httpx.AsyncClient) -> list[Provider]:
    settings = settings_from_dict({
        "providers": {
            "smspva": {"kind": "smspva", "api_key": SMSPVA_KEY, "base_url": smspva.url},
            "vaksms": {"kind": "vaksms", "api_key": VAKSMS_KEY, "base_url": vaksms.url},
        },
        "tenants": [{"name": "t", "key": "k"}],
    })  # fmt: skip
    return [build_provider(p, client) for p in settings.providers.values()]


def test_one_listing_serves_every_rental_until_it_is_old(
    smspva: Upstream, vaksms: Upstream
) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            pva, vak = providers(smspva, vaksms, client)
            clock = Clock()
            states = RentStates(share=10.0, clock=clock)
            ids = [(await pva.rent("opt29", "RU", 24)).order_id for _ in range(3)]
            listed = smspva.emulator.requests["rent:orders"]

            answers = await asyncio.gather(*(states.of(pva, i) for i in ids * 3))
            assert set(answers) == {RentState.INACTIVE}  # SMSPVA rentals start asleep
            assert smspva.emulator.requests["rent:orders"] == listed + 1  # nine asked, one sent

            clock.now += 9.0
            assert await states.of(pva, ids[0]) is RentState.INACTIVE
            assert smspva.emulator.requests["rent:orders"] == listed + 1  # still shared

            newer = (await pva.rent("opt29", "RU", 24)).order_id
            assert await states.of(pva, newer) is RentState.INACTIVE  # not in it: asked afresh
            assert smspva.emulator.requests["rent:orders"] == listed + 2
            assert await states.of(pva, "no-such-order") is RentState.UNLISTED
            assert smspva.emulator.requests["rent:orders"] == listed + 3

            clock.now += 10.5
            await states.of(pva, ids[1])
            assert smspva.emulator.requests["rent:orders"] == listed + 4  # too old: asked again

            # VAK-SMS lists no orders: each of its rentals answers for itself (awake)
            assert await states.of(vak, "any") is RentState.ACTIVE
            assert await states.of(vak, "other") is RentState.ACTIVE

    asyncio.run(scenario())
