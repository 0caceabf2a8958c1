"""The closed loop driven by wrk (a C load generator) when it is on PATH.

The Python client (hammer.py) costs the bench process tens of microseconds of CPU per request;
on two cores, next to a server that costs a few hundred, it is the bottleneck for the bare
endpoint. wrk costs a few microseconds. It runs with one thread (the other core is the
server's) and a Lua script that counts the answer words, as the Python client does, and prints
one JSON line at the end: what `parse_output` reads.

wrk takes whole seconds (`-d1s`), so a slice lasts at least one. Its latency histogram is read
back as quantiles (1000, or 100 when the latencies span more than 100 ms, since each costs a
pass over that span), so that slices can be pooled like the Python client's raw latencies;
wrk's own latencies include its correction for requests it could not send on time.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.bench.cpu import children_seconds
from proxy.bench.hammer import Result, Target

MARK = "SMSPROXY_WRK "
THREADS = 1
TIMEOUT_S = 10

# Each thread counts words in its own Lua state; `done` runs in the setup state, which keeps
# the threads (as wrk's SCRIPTING documents) and sums their counts.
SCRIPT = r"""
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   words = {}
end

function response(status, headers, body)
   local word
   if status == 200 then
      word = string.match(body, "^[%w_]+") or "UNEXPECTED_BODY"
   else
      word = "HTTP_" .. status
   end
   words[word] = (words[word] or 0) + 1
end

function done(summary, latency, requests)
   local counted = {}
   for _, thread in ipairs(threads) do
      for word, n in pairs(thread:get("words") or {}) do
         counted[word] = (counted[word] or 0) + n
      end
   end
   local parts = {}
   for word, n in pairs(counted) do
      parts[#parts + 1] = string.format('"%s":%d', word, n)
   end
   local points = {}
   if summary.requests > 0 then
      local n = (latency.max - latency.min < 100000) and 1000 or 100
      for i = 0, n - 1 do
         points[#points + 1] = string.format("%d", latency:percentile((i + 0.5) * 100 / n))
      end
   end
   local e = summary.errors
   io.write(string.format(
      'SMSPROXY_WRK {"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":[%s],"words":{%s}}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(points, ","), table.concat(parts, ",")))
end
"""


def find_wrk() -> str | None:
    """wrk's path when it is installed (`apt-get install wrk`, `brew install wrk`)."""
    return shutil.which("wrk")


@dataclass(slots=True)
class WrkRun:
    """What one wrk run printed in its JSON line."""

    seconds: float
    requests: int
    latencies: list[float] = field(default_factory=list)  # seconds, quantiles
    words: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # socket errors by kind


def parse_output(text: str) -> WrkRun:
    """The run from wrk's output (its usual summary, then the script's line); ValueError if
    the line is missing, as when the script failed."""
    for line in text.splitlines():
        if line.startswith(MARK):
            data: dict[str, Any] = json.loads(line[len(MARK) :])
            break
    else:
        raise ValueError("no result line in wrk's output:\n" + text[-2000:])
    # `status` counts answers >= 400: already in the words as HTTP_<code>.
    errors = Counter(
        {f"wrk_{kind}": int(n) for kind, n in data["errors"].items() if kind != "status" and n}
    )
    return WrkRun(
        seconds=int(data["duration_us"]) / 1e6,
        requests=int(data["requests"]),
        latencies=[int(us) / 1e6 for us in data["latency_us"]],
        words=Counter({str(w): int(n) for w, n in data["words"].items()}),
        errors=errors,
    )


class Wrk:
    """Runs wrk against targets; the Lua script is written into `workdir`."""

    name = "wrk"

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.script = workdir / "smsproxy-bench.lua"
        self.script.write_text(SCRIPT)

    @staticmethod
    def slice_seconds(seconds: float) -> float:
        """wrk's `-d` takes whole seconds."""
        return float(max(1, round(seconds)))

    def command(self, target: Target, connections: int, seconds: float) -> list[str]:
        return [
            self.binary, f"-t{THREADS}", f"-c{max(THREADS, connections)}",
            f"-d{int(self.slice_seconds(seconds))}s", f"--timeout={TIMEOUT_S}s",
            "-H", "User-Agent: smsproxy-bench", "-s", str(self.script), target.url,
        ]  # fmt: skip

    def _once(self, target: Target, connections: int, seconds: float) -> WrkRun:
        done = subprocess.run(
            self.command(target, connections, seconds),
            capture_output=True,
            text=True,
            timeout=seconds + TIMEOUT_S + 30,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr[-2000:]}")
        return parse_output(done.stdout)

    async def run(self, targets: Sequence[Target], connections: int, seconds: float) -> Result:
        """One wrk per target at once, the connections shared out among them."""
        share = [connections // len(targets) + (i < connections % len(targets))
                 for i in range(len(targets))]  # fmt: skip
        before = children_seconds()
        runs = await asyncio.gather(
            *(asyncio.to_thread(self._once, target, max(1, n), seconds)
              for target, n in zip(targets, share, strict=True))
        )  # fmt: skip
        result = Result(client=self.name)
        result.client_cpu = children_seconds() - before
        for run in runs:
            result.requests += run.requests
            result.served += run.requests
            result.latencies.extend(run.latencies)
            result.words.update(run.words)
            result.errors.update(run.errors)
        result.seconds = sum(run.seconds for run in runs) / len(runs)
        return result
