"""A few seconds' in-process copy of the price lists purchases ask for.

Every getNumber needs its providers' client prices (the activation's cost, routing by price).
Read from the shared catalog they are four Redis commands, on a path that otherwise makes one
round trip before the upstream call and one after. The shared entries are themselves up to
`catalog.ttl` old (300 s by default), so a copy kept a few seconds longer changes no price a
client could tell; it is never kept longer than the ttl, nor when it is empty.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

MEMO_SECONDS = 5.0
MAX_ENTRIES = 4096


class _Sized(Protocol):
    def __len__(self) -> int: ...


V = TypeVar("V", bound=_Sized)


class PriceMemo(Generic[V]):
    """Prices by (tenant, service, country, operator), for `seconds`; empty ones are not kept."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable) -> V | None:
        """A copy of what was put under `key`, while it is young enough."""
        entry = self._entries.get(key)
        if entry is None or self.clock() >= entry[0]:
            return None
        return copy.copy(entry[1])

    def put(self, key: Hashable, prices: V) -> None:
        if self.seconds <= 0 or not len(prices):
            return
        if len(self._entries) >= MAX_ENTRIES:
            now = self.clock()
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
        self._entries[key] = (self.clock() + self.seconds, copy.copy(prices))
