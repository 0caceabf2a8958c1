"""Shutdown steps are bounded: one that hangs, or swallows its cancellation, is left behind."""

from __future__ import annotations

import asyncio
import time

from structlog.testing import capture_logs

from proxy.app import bounded


async def test_a_hanging_step_is_left_after_its_time() -> None:
    refusals = 0

    async def stubborn() -> None:
        nonlocal refusals
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                refusals += 1
                if refusals > 1:  # gives in at last, so the test's loop can close
                    raise

    started = time.monotonic()
    with capture_logs() as logs:
        await bounded("stubborn", stubborn(), seconds=0.1)
    assert time.monotonic() - started < 1.0
    assert logs == [{"event": "shutdown_step_timed_out", "step": "stubborn", "seconds": 0.1,
                     "log_level": "warning"}]  # fmt: skip


async def test_a_failing_step_is_logged_and_the_next_runs() -> None:
    async def broken() -> None:
        raise OSError("gone")

    with capture_logs() as logs:
        await bounded("broken", broken())
    assert logs[0]["event"] == "shutdown_step_failed" and "gone" in logs[0]["error"]


async def test_a_cancelled_task_is_a_normal_end() -> None:
    task = asyncio.create_task(asyncio.sleep(10))
    task.cancel()
    with capture_logs() as logs:
        await bounded("poller", task)
    assert logs == []
