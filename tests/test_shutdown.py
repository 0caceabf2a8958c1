"""Shutdown steps are bounded: one that hangs, or swallows its cancellation, is left behind."""

from __future__ import annotations

import asyncio
import time

from structlog.testing import capture_logs

from proxy.app import Deadline, bounded


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
        await bounded("broken", broken(), 1.0)
    assert logs[0]["event"] == "shutdown_step_failed" and logs[0]["step"] == "broken"
    assert isinstance(logs[0]["exc_info"], OSError)  # rendered with its traceback


async def test_a_cancelled_task_is_a_normal_end() -> None:
    task = asyncio.create_task(asyncio.sleep(10))
    task.cancel()
    with capture_logs() as logs:
        await bounded("poller", task, 1.0)
    assert logs == []


async def test_a_step_that_fails_after_its_time_is_logged_not_lost() -> None:
    release = asyncio.Event()

    async def late() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await release.wait()
            raise OSError("failed while cancelled") from None

    with capture_logs() as logs:
        await bounded("late", late(), seconds=0.05)
        release.set()
        await asyncio.sleep(0.05)
    assert [entry["event"] for entry in logs] == [
        "shutdown_step_timed_out", "shutdown_step_failed_late",
    ]  # fmt: skip


def test_the_whole_shutdown_shares_one_deadline() -> None:
    left = Deadline(0.2, floor=0.01)
    assert 0.1 < left() <= 0.2
    time.sleep(0.25)
    assert left() == 0.01
