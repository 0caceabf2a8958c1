"""actions.refresh: a poll that finds no SMS takes no lock; anything else goes through it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from proxy import actions
from proxy.lifecycle import Activation, State
from proxy.metrics import Metrics
from proxy.providers.base import Poll, PollState, Sms

NOW = 1_000.0


def activation(**changes: Any) -> Activation:
    base = Activation(
        id=7, tenant="t", provider="p", order_id="o7", phone="79990000000", service="tg",
        country=0, operator=None, cost=None, currency="USD", created=NOW - 10,
        expires=NOW + 600,
    )  # fmt: skip
    return base.evolve(base.updated, **changes)


@dataclass
class FakeStore:
    record: Activation
    locks: int = 0
    saved: list[Activation] = field(default_factory=list)

    async def claim_poll(self, activation_id: int, interval: float) -> bool:
        return True

    @contextlib.asynccontextmanager
    async def locked(self, activation_id: int) -> AsyncIterator[None]:
        self.locks += 1
        yield

    async def load(self, activation_id: int, *, fresh: bool = False) -> Activation:
        return self.record

    async def save(self, act: Activation) -> None:
        self.saved.append(act)
        self.record = act

    async def count_code(self, act: Activation) -> None:
        return None


@dataclass
class FakeProvider:
    answer: Poll
    name: str = "p"
    poll_interval: float = 5.0

    async def poll(self, order_id: str) -> Poll:
        return self.answer


def context(store: FakeStore, answer: Poll) -> actions.Context:
    fake: Any = {
        "store": store, "providers": {"p": FakeProvider(answer)}, "dispatcher": None,
        "codes": None, "money": None, "catalogs": None, "metrics": Metrics(), "health": None,
        "settings": None, "clock": lambda: NOW,
    }  # fmt: skip
    return actions.Context(**fake)


async def test_waiting_poll_takes_no_lock() -> None:
    store = FakeStore(activation())
    act = await actions.refresh(context(store, Poll(PollState.WAITING)), store.record)
    assert act == store.record
    assert (store.locks, store.saved) == (0, [])


async def test_waiting_poll_of_an_expired_order_closes_it_under_the_lock() -> None:
    store = FakeStore(activation(expires=NOW - 1))
    act = await actions.refresh(context(store, Poll(PollState.WAITING)), store.record)
    assert act.state is State.CANCELLED
    assert store.locks == 1


async def test_a_code_is_written_under_the_lock() -> None:
    store = FakeStore(activation())
    answer = Poll(PollState.RECEIVED, (Sms("1234"),))
    act = await actions.refresh(context(store, answer), store.record)
    assert act.state is State.CODE_RECEIVED
    assert store.locks == 1
    assert store.saved == [act]
