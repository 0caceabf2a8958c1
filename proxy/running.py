"""`with X() as x:` for what runs in the background (servers, Redis, the bench's stack)."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

Started = TypeVar("Started", bound="Running")


class Running:
    """Mixin: entering calls `start()`, leaving calls `stop()`, whatever happened inside."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: Started) -> Started:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
