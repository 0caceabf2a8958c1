"""Read-modify-write of one record under its lock, shared by activations and rentals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

Record = TypeVar("Record")


async def change_locked(
    lock: AbstractAsyncContextManager[None],
    load: Callable[[], Awaitable[Record | None]],
    save: Callable[[Record], Awaitable[None]],
    change: Callable[[Record], Record],
    before_save: Callable[[Record, Record], Awaitable[None]] | None = None,
) -> tuple[Record, Record]:
    """Load under `lock`, apply `change`, save only what changed: (as it was, as it is).

    Concurrent changes from any replica are serialised, so none is lost; the caller learns
    exactly what this change added (say, the SMS it alone saw first). `before_save` runs
    under the lock before a change is saved: what it writes (a webhook owed) cannot be lost
    to a crash after the save, at worst done twice."""
    async with lock:
        fresh = await load()
        if fresh is None:
            raise LookupError("record gone")
        changed = change(fresh)
        if changed != fresh:
            if before_save is not None:
                await before_save(fresh, changed)
            await save(changed)
        return fresh, changed
