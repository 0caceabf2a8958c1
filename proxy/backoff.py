"""Capped exponential back-off after failures, with one log line per change of state.

A loop that meets a dead Redis must neither spin (20 warnings a second per replica, as the
poller did) nor stay silent: it says once that it is failing, waits longer each time up to a
cap, and says once that it recovered, with how long it lasted and how many tries failed.
"""

from __future__ import annotations

import time
from typing import Any


class Backoff:
    """One loop's state: healthy, or failing since `since` with `failures` tries."""

    def __init__(self, name: str, logger: Any, first: float = 0.05, cap: float = 5.0) -> None:
        self.name = name
        self.log = logger
        self.first = first
        self.cap = cap
        self.failures = 0
        self.since = 0.0

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self, error: str) -> float:
        """Note a failure; the delay before the next try."""
        if not self.failures:
            self.since = time.monotonic()
            self.log.warning(f"{self.name}_failing", error=error)
        self.failures += 1
        return min(self.cap, self.first * 2.0 ** (self.failures - 1))

    def succeeded(self) -> None:
        """Note a success; logged only when it ends a failing spell."""
        if self.failures:
            self.log.info(
                f"{self.name}_recovered",
                failures=self.failures,
                seconds=round(time.monotonic() - self.since, 2),
            )
        self.failures = 0


class Throttle:
    """At most one log line per `seconds` for an error many requests meet at once (Redis
    down: every request fails alike); the line says how many it stands for."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self.next_at = 0.0
        self.held = 0

    def due(self) -> int | None:
        """None while a line is held back; else how many failures this line stands for."""
        self.held += 1
        now = time.monotonic()
        if now < self.next_at:
            return None
        self.next_at = now + self.seconds
        count, self.held = self.held, 0
        return count
