"""`smsproxy serve --workers N`: N processes on one port, one poller for all of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from proxy.serving import free_port
from tests.conftest import SMSPVA_KEY, Upstream
from tests.test_cli import fixture_spawn, redis_children, start, stop, wait_for

__all__ = ["fixture_spawn"]  # the `spawn` fixture, shared with test_cli


def events(output: str, name: str) -> list[dict[str, object]]:
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == name:
                found.append(entry)
    return found


def test_two_workers_serve_one_port_with_one_poller(
    tmp_path: Path, spawn: list[subprocess.Popen[str]], smspva: Upstream
) -> None:
    port = free_port()
    config = tmp_path / "smsproxy.toml"
    config.write_text(
        f"""
[redis]
data_dir = "{tmp_path / "redis"}"
[providers.smspva]
api_key = "{SMSPVA_KEY}"
base_url = "{smspva.url}"
[[tenants]]
name = "t"
key = "k"
"""
    )
    server = start(
        ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "2"],
        spawn,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for(base + "/health/live", server)
    # Each request on a new connection: the kernel hands them to either worker.
    answers = {httpx.get(base + "/stubs/handler_api.php?api_key=k&action=getBalance").text
               for _ in range(40)}  # fmt: skip
    assert answers == {"ACCESS_BALANCE:100.00"}
    assert httpx.get(base + "/health/ready").status_code == 200
    output = stop(server)
    started = events(output, "worker_started")
    assert sorted(str(e["worker"]) for e in started) == ["0", "1"]
    served_by = {e.get("worker") for e in events(output, "request")}
    assert served_by == {0, 1}, served_by
    leading = [e for e in events(output, "poller_lease") if e["leading"]]
    # One poller: the lease was taken once, and released only at the stop (when the other
    # worker may take it for the moment it has left).
    assert len({e["holder"] for e in leading}) <= 2 and leading[0]["holder"]
    assert len(events(output, "worker_stopped")) == 2
    assert redis_children(output) == []


def test_a_worker_that_dies_is_started_again(
    tmp_path: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    config = tmp_path / "smsproxy.toml"
    config.write_text(
        f'[redis]\ndata_dir = "{tmp_path / "redis"}"\n[[tenants]]\nname = "t"\nkey = "k"\n'
    )
    server = start(
        ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "2"],
        spawn,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for(base + "/health/live", server)
    children = subprocess.run(["pgrep", "-P", str(server.pid), "-f", "proxy.cli"],
                              capture_output=True, text=True).stdout.split()  # fmt: skip
    assert len(children) == 2
    os.kill(int(children[0]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = subprocess.run(["pgrep", "-P", str(server.pid), "-f", "proxy.cli"],
                             capture_output=True, text=True).stdout.split()  # fmt: skip
        if len(now) == 2 and children[0] not in now:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the dead worker was not replaced")
    for _ in range(10):
        assert httpx.get(base + "/stubs/handler_api.php?api_key=k&action=getBalance").text == (
            "ACCESS_BALANCE:0.00"
        )
    output = stop(server)
    assert len(events(output, "worker_died")) == 1
    assert redis_children(output) == []
