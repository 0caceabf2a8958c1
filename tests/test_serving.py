"""serving.run: the servers' event loop is uvloop's where it is installed."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from proxy.serving import run


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_runs_on_uvloop_when_installed() -> None:
    if importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop is not installed (Windows)")
    assert run(loop_module()).startswith("uvloop")
