"""Fixtures for the emulator tests: a hand-driven clock, emulators, in-process clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from proxy.emulators import SmspvaEmulator, VaksmsEmulator

from .support import FakeClock, asgi_client

KEYS = {"test-key": Decimal("1000")}  # enough for many purchases at either provider's prices


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="smspva")
def smspva_fixture(clock: FakeClock) -> SmspvaEmulator:
    return SmspvaEmulator(api_keys=dict(KEYS), sms_delay=None, seed=7, clock=clock)


@pytest.fixture(name="vaksms")
def vaksms_fixture(clock: FakeClock) -> VaksmsEmulator:
    return VaksmsEmulator(api_keys=dict(KEYS), sms_delay=None, seed=7, clock=clock)


@pytest.fixture(name="pva")
async def pva_fixture(smspva: SmspvaEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(smspva, headers={"apikey": "test-key"}) as client:
        yield client


@pytest.fixture(name="vak")
async def vak_fixture(vaksms: VaksmsEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(vaksms, params={"apiKey": "test-key"}) as client:
        yield client
