"""`smsproxy serve --workers N`: N processes on one port, to use more than one core.

The parent binds the listening sockets first (a busy port still fails at once, exit 2), then
forks the workers, which inherit them: the kernel hands each connection to one worker. Each
worker is a whole smsproxy (its own event loop, Redis pool, caches); what must be done once
per deployment is already decided in Redis (the poller lease), so N workers are N replicas.
The parent only supervises: it forwards SIGTERM/SIGINT, waits for the workers to finish their
graceful stop, and starts again a worker that died on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from types import FrameType

import structlog

log = structlog.get_logger("workers")

RESTART_PAUSE = 1.0  # seconds before a worker that died is started again (no crash loop)


def supervise(workers: int, child: Callable[[int], int]) -> int:
    """Fork `workers` processes running `child(index)`; return when all have ended after a
    stop signal (0)."""
    children: dict[int, int] = {}
    stopping = False

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                structlog.contextvars.bind_contextvars(worker=index)
                code = child(index)
            except BaseException:
                log.exception("worker_failed", worker=index)
            finally:
                os._exit(code)
        children[pid] = index
        log.info("worker_started", worker=index, pid=pid)

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(workers):
            spawn(index)
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index = children.pop(pid, -1)
            if index < 0:
                continue
            if stopping:
                log.info("worker_stopped", worker=index, pid=pid)
                continue
            log.error(
                "worker_died", worker=index, pid=pid, status=os.waitstatus_to_exitcode(status)
            )
            time.sleep(RESTART_PAUSE)
            if not stopping:
                spawn(index)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
