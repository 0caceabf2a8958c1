"""Purchases with no load: what smsproxy itself adds to a getNumber, in time and in CPU.

Under the bots' load a purchase's latency is mostly queueing on a busy 2-core machine; the
target is smsproxy's own share with nothing else running. So, one request at a time, each
round buys one number three ways from the same provider, in a rotating order: straight from
the emulated upstream, through the bare relay (bare.py), and through smsproxy (replica 0,
with the tenant whose first provider it is). The proxy's numbers are cancelled (setStatus 8)
in batches after each batch of purchases, so none is left for the pollers.

CPU: each batch of purchases and each batch of cancels is a measured window (cpu.Window) over
every server; the report divides what smsproxy's processes, Redis and the relay used by the
purchases (or cancels) made, less what each burns idle over the same wall time. Work a
purchase leaves for later (an upstream poll, a write) lands in a following window; the short
pause at the end of each window lets most of it fall in its own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from proxy.bench.cpu import Spent, Window
from proxy.bench.load import (
    COUNTRY,
    SERVICE,
    Purchases,
    Recorder,
    call,
    direct_once,
    http_client,
)

BATCH = 10  # rounds per measured window
SETTLE = 0.1  # seconds at the end of each window, for work a request leaves behind
ROUTES = ("direct", "relay", "proxy")


@dataclass(frozen=True, slots=True)
class IdlePlan:
    endpoint: str  # smsproxy's handler URL
    tenant_for: Mapping[str, str]  # provider -> the tenant key whose first provider it is
    upstreams: Mapping[str, str]  # provider -> emulator base URL
    relay_url: str  # the bare app
    direct_key: str  # the direct purchases' upstream account
    rounds: int


@dataclass(slots=True)
class IdlePurchases:
    """What the phase recorded: latencies per route, the proxy's numbers, the CPU windows."""

    proxy: Purchases = field(default_factory=Purchases)
    relayed: Purchases = field(default_factory=Purchases)
    direct: Purchases = field(default_factory=Purchases)
    phones: list[str] = field(default_factory=list)  # the proxy's numbers, to match orders
    cancels: Counter[str] = field(default_factory=Counter)  # setStatus 8 answer words
    buying: Spent = field(default_factory=Spent)
    cancelling: Spent = field(default_factory=Spent)

    def direct_sent(self, provider: str) -> int:
        """Upstream purchases under the direct account (both routes), for the accounting."""
        return self.direct.sent[provider] + self.relayed.sent[provider]


async def idle_purchases(plan: IdlePlan, servers: Mapping[str, int]) -> IdlePurchases:
    """`plan.rounds` rounds, one request at a time, in windows of BATCH rounds."""
    record = IdlePurchases()
    providers = list(plan.upstreams)
    async with http_client() as direct, http_client() as relay, http_client() as proxy:
        done = 0
        while done < plan.rounds:
            batch = min(BATCH, plan.rounds - done)
            bought: list[tuple[str, str]] = []  # (tenant key, activation id)
            with Window(servers) as buying:
                for index in range(done, done + batch):
                    provider = providers[index % len(providers)]
                    for step in range(len(ROUTES)):
                        route = ROUTES[(index + step) % len(ROUTES)]
                        if route == "direct":
                            base = plan.upstreams[provider]
                            await direct_once(direct, provider, base, plan.direct_key,
                                              record.direct)  # fmt: skip
                        elif route == "relay":
                            base = f"{plan.relay_url}/relay/{provider}"
                            await direct_once(relay, provider, base, plan.direct_key,
                                              record.relayed)  # fmt: skip
                        else:
                            key = plan.tenant_for[provider]
                            activation = await _buy(proxy, plan.endpoint, key, provider, record)
                            if activation is not None:
                                bought.append((key, activation))
                await asyncio.sleep(SETTLE)
            record.buying.add(buying.spent)
            with Window(servers) as cancelling:
                for key, activation in bought:
                    params = {"api_key": key, "action": "setStatus", "id": activation,
                              "status": "8"}  # fmt: skip
                    record.cancels[(await call(proxy, plan.endpoint, params, Recorder())).word] += 1
                await asyncio.sleep(SETTLE)
            record.cancelling.add(cancelling.spent)
            done += batch
    return record


async def _buy(
    client: httpx.AsyncClient, endpoint: str, key: str, provider: str, record: IdlePurchases
) -> str | None:
    """One getNumber through smsproxy; its activation id if a number was sold."""
    params = {"api_key": key, "action": "getNumber", "service": SERVICE, "country": COUNTRY}
    record.proxy.sent[provider] += 1
    reply = await call(client, endpoint, params, Recorder())
    if reply.word != "ACCESS_NUMBER" or reply.latency is None:
        record.proxy.failed[provider] += 1
        return None
    _, activation, phone = reply.text.split(":", 2)
    record.proxy.latencies[provider].append(reply.latency)
    record.phones.append(phone)
    return activation
