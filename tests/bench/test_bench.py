"""`smsproxy bench`: a short real run, as a user starts it; the JSON has every documented key.

Only sanity is checked here, never the performance targets: timing assertions on a shared
machine would be flaky, and the targets are the benchmark's to report.
"""

from __future__ import annotations

import json
import re
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
    assert result["settings"]["bots"] == 5 and result["settings"]["cores"] >= 1

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

    targets = result["targets"]
    assert set(targets) == {
        "getstatus_vs_bare",
        "upstream_polls_per_interval",
        "sms_to_ok_p99_ms",
        "getnumber_added_p50_ms",
        "getnumber_added_p99_ms",
        "redis_bytes_per_activation",
    }
    for name, target in targets.items():
        assert set(target) == {"value", "target", "pass"}, name
        if name != "sms_to_ok_p99_ms" or sms["count"]:
            assert isinstance(target["pass"], bool), name
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
    table = report.render_table(built)
    assert "getStatus throughput ÷ bare endpoint" in table and "n/a" in table
    assert "not measured against --url" in table
