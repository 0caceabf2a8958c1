"""getNumber's added latency with no load: one client buying in a loop, proxy against relay
against direct, and what one httpx request costs here against a raw socket.

Run: `python tests/perf_purchase_idle.py [purchases]` (not a test: pytest does not collect it).
It starts the bench's stack (Redis, both emulators, one proxy, the bare app and its relay) and
prints medians in milliseconds. `smsproxy bench` measures the same split under load.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from proxy.bench.load import DIRECT_SMSPVA_PATH, http_client
from proxy.bench.runner import DIRECT_KEY, HANDLER_PATH
from proxy.bench.stack import EMULATOR_BALANCE, TENANT_KEYS, Stack, StackSettings
from proxy.serving import run

RAW_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def timed(calls: int, call: Callable[[], Awaitable[object]]) -> float:
    """Median milliseconds of `calls` sequential calls, after a short warm-up."""
    for _ in range(min(20, calls)):
        await call()
    spent = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent) * 1000


async def purchases(stack: Stack, count: int) -> dict[str, float]:
    async with httpx.AsyncClient() as control:
        for child in stack.emulators.values():
            answer = await control.post(
                child.url + "/_emulator/balance",
                json={"api_key": DIRECT_KEY, "amount": str(EMULATOR_BALANCE)},
            )
            answer.raise_for_status()
    assert stack.bare is not None
    smspva, relay = stack.emulators["smspva"].url, stack.bare.url + "/relay/smspva"
    async with http_client() as client:

        async def through_proxy() -> None:
            params = {"api_key": TENANT_KEYS[0], "action": "getNumber", "service": "tg",
                      "country": "0"}  # fmt: skip
            text = (await client.get(stack.proxies[0].url + HANDLER_PATH, params=params)).text
            assert text.startswith("ACCESS_NUMBER:"), text

        async def direct(base: str) -> None:
            answer = await client.get(base + DIRECT_SMSPVA_PATH, headers={"apikey": DIRECT_KEY})
            assert "orderId" in answer.text, answer.text

        return {
            "proxy": await timed(count, through_proxy),
            "relay": await timed(count, lambda: direct(relay)),
            "direct": await timed(count, lambda: direct(smspva)),
        }


async def client_cost(count: int) -> dict[str, float]:
    """One GET to a server that answers at once: httpx (the bench's settings) against a socket."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(RAW_ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}{HANDLER_PATH}"
    async with http_client() as client:
        httpx_ms = await timed(count, lambda: client.get(url, params={"action": "getNumber"}))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {HANDLER_PATH}?action=getNumber HTTP/1.1\r\nHost: x\r\n\r\n".encode()

    async def raw() -> None:
        writer.write(request)
        await reader.readuntil(b"ok")

    raw_ms = await timed(count, raw)
    writer.close()
    server.close()
    return {"httpx": httpx_ms, "raw socket": raw_ms}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory(prefix="smsproxy-perf-") as tmp:
        settings = StackSettings(Path(tmp), poll_interval=1.0, sms_delay=2.0, replicas=1)
        with Stack(settings) as stack:
            bought = run(purchases(stack, count))
    costs = run(client_cost(count * 5))
    print(f"getNumber, {count} in a row, medians: proxy {bought['proxy']:.2f} ms, relay "
          f"{bought['relay']:.2f} ms, direct {bought['direct']:.2f} ms")  # fmt: skip
    print(f"  relay over direct {bought['relay'] - bought['direct']:.2f} ms, proxy over relay "
          f"{bought['proxy'] - bought['relay']:.2f} ms")  # fmt: skip
    print(f"one GET, {count * 5} in a row, medians: httpx {costs['httpx']:.3f} ms, raw socket "
          f"{costs['raw socket']:.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
