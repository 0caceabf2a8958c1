"""The bench's measuring parts on their own: CPU time from /proc, wrk's output, the arithmetic
from CPU seconds to µs per request. No assertion here depends on how fast anything runs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxy.bench import cpu, report
from proxy.bench.cpu import Spent
from proxy.bench.figures import Raw
from proxy.bench.hammer import Result, Target
from proxy.bench.wrk import MARK, Wrk, find_wrk, parse_output
from proxy.serving import ThreadedServer

HERE = Path(__file__).parent
linux_only = pytest.mark.skipif(not cpu.available(), reason="no /proc on this system")

# Burns `seconds` of its own CPU (as it measures it), then says so and waits to be killed.
BURN = (
    "import sys, time\n"
    "while time.process_time() < {seconds}: pass\n"
    "print('burnt', flush=True)\n"
    "time.sleep(60)\n"
)


@linux_only
def test_a_server_is_read_as_its_whole_process_tree() -> None:
    """CPU a grandchild spends counts for the root named, even one started after the first
    reading (a worker forked later counts from zero, not from its whole past)."""
    grandchild = BURN.format(seconds=0.3)
    parent = (
        "import subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {grandchild!r}])\n"
    )  # fmt: skip
    with subprocess.Popen(
        [sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            with cpu.Window({"server": process.pid}) as window:
                assert process.stdout is not None
                assert process.stdout.readline().strip() == "burnt"
            spent = window.spent
            assert spent.cpu["server"] >= 0.3
            assert len(spent.processes["server"]) == 2  # the parent and the one it started
            assert max(spent.processes["server"].values()) >= 0.3
        finally:
            for pid in cpu.descendants([process.pid])[process.pid][::-1]:
                os.kill(pid, signal.SIGTERM)


@linux_only
def test_a_gone_server_is_left_out() -> None:
    """A pid beyond Linux's largest (pid_max is at most 2**22) names no process."""
    with cpu.Window({"gone": 2**22 + 12345}) as window:
        pass
    assert window.spent.cpu == {} and window.spent.wall >= 0


def test_used_counts_each_thread_from_its_own_start() -> None:
    before: cpu.Reading = {"s": {(1, 1): 5.0, (1, 2): 3.0}}
    after: cpu.Reading = {"s": {(1, 1): 5.5, (1, 3): 0.25}}  # thread 2 ended, 3 is new
    assert cpu.used(before, after) == {"s": {1: 0.75}}


def test_net_takes_out_idle_burn_and_needs_every_server() -> None:
    spent = Spent(cpu={"a": 1.0, "b": 0.5}, wall=10.0)
    assert spent.net(["a"], {"a": 0.02}) == pytest.approx(0.8)
    assert spent.net(["a", "b"], {"b": 0.1}) == pytest.approx(1.0)  # b: 0.5 - 1.0 -> 0
    assert spent.net(["a", "c"], {}) is None


def test_wrk_output_is_read_from_its_result_line() -> None:
    """Output recorded from wrk 4.1.0 (Debian) with the bench's script: wrk's own summary,
    then the script's line, which must agree with it."""
    text = (HERE / "wrk_output_getstatus.txt").read_text()
    run = parse_output(text)
    summary = text.split("requests in")[0].split()[-1]
    assert run.requests == int(summary) == 9439
    assert run.seconds == pytest.approx(1.001266)
    assert run.words == Counter({"STATUS_WAIT_CODE": 9439})
    assert not run.errors and len(run.latencies) == 1000
    assert run.latencies == sorted(run.latencies) and 0 < run.latencies[0] < 0.01


def test_wrk_error_answers_are_words_not_socket_errors() -> None:
    run = parse_output((HERE / "wrk_output_404.txt").read_text())
    assert run.words == Counter({"HTTP_404": 6402}) and run.requests == 6402
    assert not run.errors  # `status` counts the 404s again: not a socket error


def test_wrk_output_without_the_result_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="no result line"):
        parse_output("Running 1s test @ http://x/\nPANIC: unprotected error in call to Lua\n")
    errors = parse_output(
        MARK + '{"duration_us":1000000,"requests":3,"bytes":9,"errors":{"connect":0,"read":2,'
        '"write":0,"status":0,"timeout":1},"latency_us":[5,7],"words":{}}'
    ).errors
    assert errors == Counter({"wrk_read": 2, "wrk_timeout": 1})


def test_wrk_command_takes_whole_seconds(tmp_path: Path) -> None:
    wrk = Wrk("/usr/bin/wrk", tmp_path)
    target = Target.for_url("http://127.0.0.1:9/stubs/handler_api.php", {"action": "getStatus"})
    command = wrk.command(target, 32, 0.4)
    assert "-d1s" in command and "-c32" in command and "-t1" in command
    assert command[-1] == "http://127.0.0.1:9/stubs/handler_api.php?action=getStatus"
    assert wrk.script.read_text().count("function ") == 4
    assert Wrk.slice_seconds(2.6) == 3.0


@pytest.mark.skipif(find_wrk() is None, reason="wrk is not installed")
def test_wrk_drives_a_server(tmp_path: Path) -> None:
    async def answer(request: Request) -> Response:
        return Response("STATUS_OK:1234" if request.query_params.get("id") else "NO_ID")

    app = Starlette(routes=[Route("/h", answer)])
    binary = find_wrk()
    assert binary is not None
    with ThreadedServer(app) as server:
        targets = [Target.for_url(server.url + "/h", {"id": "1"})] * 2
        result = asyncio.run(Wrk(binary, tmp_path).run(targets, 4, 1))
    assert result.requests > 0 and result.served == result.requests
    assert result.words == Counter({"STATUS_OK": result.requests})
    assert result.client == "wrk" and result.client_cpu > 0 and result.seconds >= 1


def test_cpu_per_request_from_what_was_read() -> None:
    """CPU µs per request = (server CPU - idle rate x wall) / requests served, by target."""
    raw = Raw(
        options={"duration_s": 1.0, "bots": 1, "poll_s": 1.0, "poll_interval_s": 1.0,
                 "sms_delay_s": 1.0, "hammer_s": 3.0, "connections": 2, "url": None},
        mode="managed",
    )  # fmt: skip
    raw.idle = Spent(cpu={"bare": 0.0, "proxy-0": 0.02}, wall=1.0)  # 2 % idle
    raw.loop_servers = {"bare": ["bare"], "getstatus": ["proxy-0"]}
    raw.hammer = {
        "bare": Result(requests=9000, seconds=3.0, served=10000,
                       server=Spent(cpu={"bare": 1.0}, wall=3.0), client_cpu=0.5),
        "getstatus": Result(requests=3000, seconds=3.0, served=3000,
                            server=Spent(cpu={"proxy-0": 1.06}, wall=3.0)),
    }  # fmt: skip
    built = report.build_report(raw)
    per = built["cpu_us_per_request"]["getStatus"]
    assert per["bare"] == 100.0 and per["smsproxy"] == 333.3  # (1.06 - 0.02 * 3) / 3000
    assert per["smsproxy_two_replicas"] is None
    assert built["getstatus_cpu_vs_bare"] == 3.333
    assert built["targets"]["getstatus_cpu_vs_bare"]["pass"] is False
    assert built["throughput"]["client_cpu_us_per_request"]["bare"] == 50.0
    assert built["throughput"]["server_busy_percent"] == {"bare": 33.3, "getstatus": 33.3}
    assert built["throughput"]["client_limited"] == []
    assert built["idle_cpu_percent"] == {"bare": 0.0, "proxy-0": 2.0}
    assert built["workers"]["ratio"] is None and built["getnumber_idle_ms"] is None
