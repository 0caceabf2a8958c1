"""Redis commands packed by hiredis instead of Python.

redis-py's synchronous client packs commands with hiredis when it is installed; its asyncio
client always packs them in Python, about 30 µs per command here. A purchase sends a dozen
commands before the client hears its number, so the connections of our pool are given the
synchronous client's packing: the same `hiredis.pack_command` call on the same arguments.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import DataError

_PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def pack_with_hiredis(pool: ConnectionPool) -> None:
    """Make the pool's future connections pack with hiredis."""
    pool.connection_class = packed_class(pool.connection_class)


def packed_class(base: type[AbstractConnection]) -> type[AbstractConnection]:
    """`base` (TCP, TLS or Unix socket connection) with hiredis packing, one class per base."""
    if issubclass(base, _HiredisPacking):
        return base
    if base not in _PACKED:
        _PACKED[base] = type(f"Hiredis{base.__name__}", (_HiredisPacking, base), {})
    return _PACKED[base]


class _HiredisPacking:
    """Mixin: redis-py's HiredisRespSerializer.pack, for the asyncio connection."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # A command name holding its own arguments ("CONFIG GET") is split, as redis-py does.
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        args = tuple(bytes(a) if isinstance(a, bytearray | memoryview) else a for a in args)
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from exc
