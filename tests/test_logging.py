"""Every line smsproxy writes to its log is one JSON document, whoever writes it."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import asyncio, logging
from proxy.app import log_loop_exception
from proxy.logging import configure_logging
configure_logging("json", "info")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("uvicorn.error").exception("Exception in ASGI application")

async def main():
    asyncio.get_running_loop().set_exception_handler(log_loop_exception)
    async def fails():
        raise RuntimeError("never retrieved")
    task = asyncio.ensure_future(fails())
    await asyncio.sleep(0)
    del task
    import gc; gc.collect()
    await asyncio.sleep(0)

asyncio.run(main())
import structlog
structlog.get_logger("request").info("request", action="getStatus")
"""


def test_stdlib_and_asyncio_errors_are_json_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # each one JSON
    by_event = {line["event"]: line for line in lines}
    assert "ZeroDivisionError" in by_event["Exception in ASGI application"]["exception"]
    assert by_event["Exception in ASGI application"]["logger"] == "uvicorn.error"
    assert "never retrieved" in by_event["asyncio_error"]["exception"]
    assert by_event["request"]["action"] == "getStatus"
