"""hiredis packing for the asyncio client: the same bytes as redis-py's own packing, and the
same data back from a real Redis."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError
from redis.typing import EncodableT

from proxy.config import RedisSettings
from proxy.redis_server import EmbeddedRedis
from proxy.store.connect import connect_redis
from proxy.store.packing import packed_class

COMMANDS: list[tuple[Any, ...]] = [
    ("HSET", "act:{1}", "phone", "79001234567", "cost", 0.87, "n", 17, "text", "Код: 671 094"),
    ("ZADD", "{active}", 1795484449.4987075, "12", 1e-07, "13", -3, "14"),
    # bytes, not bytearray: redis-py before 7 refuses a bytearray, and smsproxy sends none
    ("SET", b"raw\x00bytes", b"\xff\xfe", "EX", 2592599),
    ("EVAL", "return 1", 0),
    ("CONFIG GET", "maxmemory"),
    (b"OBJECT ENCODING", "k"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_same_bytes_as_redis_py(command: tuple[Any, ...]) -> None:
    python, packed = Connection(), packed_class(Connection)()
    assert b"".join(packed.pack_command(*command)) == b"".join(python.pack_command(*command))


def test_each_connection_kind_keeps_its_own_class() -> None:
    for base in (Connection, SSLConnection, UnixDomainSocketConnection):
        packed = packed_class(base)
        assert issubclass(packed, base) and packed is packed_class(base)
        assert packed_class(packed) is packed


def test_unpackable_values_raise_data_error_as_redis_py_does() -> None:
    packed = packed_class(Connection)()
    values: list[Any] = [True, None, [1]]
    for value in values:
        with pytest.raises(DataError):
            packed.pack_command("SET", "k", value)
        with pytest.raises(DataError):
            Connection().pack_command("SET", "k", value)


async def test_round_trip_through_the_apps_client(redis_server: EmbeddedRedis) -> None:
    redis = connect_redis(RedisSettings(url=redis_server.url)).client
    key = f"packing:{uuid.uuid4().hex}"
    try:
        fields: dict[EncodableT, EncodableT] = {
            "phone": "79001234567",
            "cost": 0.87,
            "n": 17,
            "text": "Код: 671 094",
        }
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, 60)
            pipe.hgetall(key)
            _, _, stored = await pipe.execute()
        assert stored == {"phone": "79001234567", "cost": "0.87", "n": "17",
                          "text": "Код: 671 094"}  # fmt: skip
        assert await redis.eval("return ARGV[1]", 0, "ü") == "ü"
        assert redis.connection_pool.connection_class.__name__ == "HiredisConnection"
    finally:
        await redis.delete(key)
        await redis.aclose(close_connection_pool=True)
