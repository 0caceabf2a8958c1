"""Helpers shared by the emulator tests: a hand-driven clock, in-process clients, a purchase."""

from __future__ import annotations

import httpx

from proxy.emulators import EmulatorBase, SmspvaEmulator


class FakeClock:
    """A clock that moves only when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def asgi_client(
    emulator: EmulatorBase,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """An httpx client that calls the emulator app in-process."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator.app),
        base_url="http://emulator.test",
        headers=headers,
        params=params,
    )


async def buy(emulator: EmulatorBase, client: httpx.AsyncClient) -> str:
    """Buy one number through the provider's own API; the order id as the emulator keys it."""
    if isinstance(emulator, SmspvaEmulator):
        response = await client.get("/activation/number/US/opt20", headers={"apikey": "test-key"})
        return str(response.json()["data"]["orderId"])
    response = await client.get("/api/getNumber/", params={"apiKey": "test-key", "service": "tg"})
    return str(response.json()["idNum"])
