"""Polling without hammering upstream: one upstream poll per activation per interval, whatever
the client poll rate, across concurrent requests and across replicas on one Redis."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from tests.conftest import TENANT_KEYS, ProxyFactory, Upstream, order_for

INTERVAL = 0.5
DURATION = 2.2


async def hammer(endpoints: list[str], activation_id: int, seconds: float) -> list[str]:
    """Many concurrent clients polling getStatus as fast as they can, spread over replicas."""
    params = {"api_key": TENANT_KEYS["pva"], "action": "getStatus", "id": str(activation_id)}
    deadline = time.monotonic() + seconds
    answers: list[str] = []

    async def client(endpoint: str) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while time.monotonic() < deadline:
                answers.append((await http.get(endpoint, params=params)).text)

    await asyncio.gather(*(client(endpoints[i % len(endpoints)]) for i in range(10)))
    return answers


def test_upstream_polls_are_bounded(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """Hundreds of client polls over two replicas cause at most one upstream poll per interval."""
    prefix = f"t{uuid.uuid4().hex[:10]}"  # both replicas share one Redis keyspace
    replicas = [make_proxy(poll_interval=INTERVAL, prefix=prefix) for _ in range(2)]
    activation_id, phone = replicas[0].buy("pva")
    order_id = order_for(smspva, phone).order_id

    started = time.monotonic()
    answers = asyncio.run(hammer([r.endpoint for r in replicas], activation_id, DURATION))
    elapsed = time.monotonic() - started

    upstream_polls = smspva.emulator.order_requests[("sms", order_id)]
    allowed = int(elapsed / INTERVAL) + 1
    assert len(answers) > 100, "the clients must actually poll hard"
    assert set(answers) == {"STATUS_WAIT_CODE"}
    assert 1 <= upstream_polls <= allowed, (upstream_polls, allowed, len(answers))


def test_code_is_seen_within_an_interval(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """A code that arrives upstream is answered within one poll interval."""
    proxy = make_proxy(poll_interval=INTERVAL)
    activation_id, phone = proxy.buy("pva")
    assert proxy.text("pva", action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, "3141")
    deadline = time.monotonic() + INTERVAL + 0.5
    answer = ""
    while time.monotonic() < deadline and not answer.startswith("STATUS_OK"):
        answer = proxy.text("pva", action="getStatus", id=activation_id)
        time.sleep(0.05)
    assert answer == "STATUS_OK:3141"
