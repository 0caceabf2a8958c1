"""`smsproxy bench`: a short real run, as a user starts it; the JSON has every documented key.

Only sanity is checked here, never the performance targets: timing assertions on a shared
machine would be flaky, and the targets are the benchmark's to report.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

from proxy.bench import report
from proxy.bench.figures import Raw

EXPECTED_WORDS = {
    "getNumber": {"ACCESS_NUMBER"},
    "getStatus": {"STATUS_WAIT_CODE", "STATUS_OK"},
    "setStatus": {"ACCESS_ACTIVATION"},
}


def documented_top_level_keys() -> set[str]:
    """The first segment of every key the report module's docstring lists."""
    assert report.__doc__ is not None
    return set(re.findall(r"^- `([a-z_0-9]+)[.`]", report.__doc__, re.MULTILINE))


def test_short_run_reports_every_documented_key() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "bench", "--duration", "3", "--bots", "5", "--json"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert set(result) == documented_top_level_keys()
    assert result["mode"] == "managed" and result["unavailable"] == []
    settings = result["settings"]
    assert settings["bots"] == 5 and settings["cores"] >= 1
    assert settings["client"] == ("wrk" if shutil.which("wrk") else "python")
    assert settings["stack"]["loop"] in {"uvloop", "asyncio"}
    assert settings["stack"]["http"] in {"httptools", "h11"}
    if sys.platform.startswith("linux"):  # smsproxy serve runs on what the reference runs on
        stack = settings["stack"]
        expected = [name for name, on in (("httptools", stack["http"] == "httptools"),
                                          ("uvloop", stack["loop"] == "uvloop")) if on]  # fmt: skip
        assert settings["native"]["proxy-0"] == settings["native"]["bare"] == expected

    actions = result["actions"]
    assert actions["getNumber"]["count"] >= 5 and actions["getStatus"]["count"] >= 1
    for action, figures in actions.items():
        assert set(figures["answers"]) <= EXPECTED_WORDS[action], (action, figures["answers"])
        if figures["count"]:
            assert 0 < figures["p50_ms"] <= figures["p99_ms"]
            assert figures["server_p50_ms"] is not None and figures["rps"] > 0

    activations = result["activations"]
    assert activations["created"] == actions["getNumber"]["answers"]["ACCESS_NUMBER"]
    assert sum(activations["by_provider"].values()) == activations["created"]
    assert min(activations["by_provider"].values()) >= 1, "both providers sell"
    assert activations["not_ended"] == 0

    upstream = result["upstream"]
    assert upstream["polls_per_interval_worst"] > 0
    assert upstream["closed_loop_activation"]["polls"] >= 1
    assert set(upstream["providers"]) == {"smspva", "vaksms"}
    assert upstream["providers"]["smspva"]["requests"]["number"] >= 1

    added = result["getnumber_added_ms"]
    assert added["direct_count"] >= 2 and added["proxy_p50"] > 0 and added["direct_p50"] > 0
    assert added["p50"] == round(added["proxy_p50"] - added["direct_p50"], 2)
    assert added["relay_count"] >= 2 and added["relay_p50"] > 0, "the relay sold numbers"
    assert added["relay_over_direct_p50"] == round(added["relay_p50"] - added["direct_p50"], 2)
    assert added["proxy_over_relay_p50"] == round(added["proxy_p50"] - added["relay_p50"], 2)
    assert added["direct_failed"] == 0

    sms = result["sms_to_ok_ms"]
    assert sms["count"] >= 0 and (sms["count"] == 0 or 0 < sms["p50"] <= sms["p99"])

    redis = result["redis"]
    assert redis["activations"] == activations["created"]
    # used_memory moves with buffers and expiries too: in a 3 s run its delta may even be < 0
    assert isinstance(redis["used_memory_delta"], int) and redis["activation_key_bytes"] > 0
    assert redis["keys_bytes_per_activation"] > 0 and redis["keys"]

    throughput = result["throughput"]
    for key in ("bare_rps", "getstatus_rps", "getstatus_two_replicas_rps"):
        assert throughput[key] > 0, key
    assert set(throughput["getstatus_answers"]) <= {"STATUS_OK", "STATUS_WAIT_CODE"}
    assert result["getstatus_vs_bare"] > 0 and result["two_replicas_ratio"] > 0
    assert result["two_replicas_per_core"] == round(result["two_replicas_ratio"] / 2, 3)
    assert throughput["client"] == settings["client"]
    loops = {"bare", "getstatus", "getstatus_two_replicas"}
    assert loops <= set(throughput["client_cpu_us_per_request"])
    assert all(throughput["server_busy_percent"][name] > 0 for name in loops)

    workers = result["workers"]
    assert set(workers) == {"available", "count", "reason", "ratio", "cpu_share_percent"}
    if workers["available"]:
        assert throughput["getstatus_workers_rps"] > 0 and workers["ratio"] > 0
        assert len(workers["cpu_share_percent"]) >= 2  # a master and its workers
    else:  # said, not silent
        assert workers["reason"] and throughput["getstatus_workers_rps"] is None

    cpu = result["cpu_us_per_request"]
    if sys.platform.startswith("linux"):
        for server in ("bare", "smsproxy", "smsproxy_two_replicas"):
            assert cpu["getStatus"][server] > 0, server
        assert (cpu["getStatus"]["smsproxy_workers"] is not None) == workers["available"]
        assert result["getstatus_cpu_vs_bare"] == round(
            cpu["getStatus"]["smsproxy"] / cpu["getStatus"]["bare"], 3
        )
        assert cpu["getNumber"]["count"] == settings["idle_purchases"] == 10
        assert cpu["getNumber"]["smsproxy"] > 0 and cpu["getNumber"]["relay"] > 0
        assert cpu["setStatus"]["count"] == 10 and cpu["setStatus"]["smsproxy"] > 0
        assert cpu["load"]["requests"] == sum(a["count"] for a in actions.values())
        assert {"proxy-0", "proxy-1", "bare", "redis"} <= set(result["idle_cpu_percent"])

    idle = result["getnumber_idle_ms"]
    assert idle["count"] == 10 and idle["failed"] == 0
    assert idle["cancels"] == {"ACCESS_CANCEL": 10}
    assert idle["proxy_over_relay_p50"] == round(idle["proxy_p50"] - idle["relay_p50"], 2)

    targets = result["targets"]
    assert set(targets) == {
        "getstatus_cpu_vs_bare",
        "getstatus_vs_bare",
        "getnumber_own_idle_p50_ms",
        "workers_two_vs_one",
        "upstream_polls_per_interval",
        "sms_to_ok_p99_ms",
        "redis_bytes_per_activation",
    }
    for name, target in targets.items():
        assert set(target) == {"value", "target", "pass", "note"}, name
        measured = {"sms_to_ok_p99_ms": sms["count"], "workers_two_vs_one": workers["available"]}
        if measured.get(name, True):
            assert isinstance(target["pass"], bool), name
    if not workers["available"]:
        assert targets["workers_two_vs_one"]["note"] == workers["reason"]
    assert set(result["proxy_log"]) == {"warning", "error", "unstructured_lines"}
    assert "bots" in done.stderr, "the progress bar is drawn on stderr"


def test_table_renders_from_a_report() -> None:
    """The table is made from the JSON object alone; unmeasured figures print as n/a."""
    raw = Raw(
        options={"duration_s": 1.0, "bots": 1, "poll_s": 1.0, "poll_interval_s": None,
                 "sms_delay_s": None, "hammer_s": 1.0, "connections": 2, "url": "http://x"},
        mode="url",
    )  # fmt: skip
    built = report.build_report(raw)
    assert set(built) == documented_top_level_keys()
    assert built["upstream"] is None and built["targets"]["getstatus_vs_bare"]["pass"] is None
    assert built["cpu_us_per_request"] is None and built["workers"] is None
    assert "cpu_us_per_request" in built["unavailable"]
    table = report.render_table(built)
    assert "getStatus throughput ÷ bare endpoint" in table and "n/a" in table
    assert "getStatus CPU per request ÷ bare endpoint" in table
    assert "not measured against --url" in table
