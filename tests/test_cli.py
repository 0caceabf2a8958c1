"""The `smsproxy` command as a user runs it: real processes, real signals."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.serving import free_port
from tests.conftest import SMSPVA_KEY, VAKSMS_KEY, Upstream
from tests.test_redis_server import wait_gone

SMSPROXY = [sys.executable, "-m", "proxy.cli"]


def wait_for(url: str, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture(name="spawn")
def fixture_spawn() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def start(args: list[str], spawn: list[subprocess.Popen[str]], **env: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [*SMSPROXY, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    spawn.append(process)
    return process


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, then the output. The wait outlasts the shutdown's own bound (20 s, plus Redis's
    stop), so a slow step shows as a logged `shutdown_step_timed_out` (reported here as a
    warning: an error under the suite's `filterwarnings`) and a stuck exit as the stack dump
    the server writes after 12 s."""
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=45)
    assert process.returncode == 0, output
    if "shutdown_step_timed_out" in output or "Thread 0x" in output:
        warnings.warn(f"slow shutdown:\n{output[-6000:]}", stacklevel=2)
    return output


def redis_children(output: str) -> list[str]:
    ports = [line.split("redis://127.0.0.1:")[1].split("/")[0] for line in output.splitlines()
             if "embedded_redis_started" in line]  # fmt: skip
    found = subprocess.run(["pgrep", "-af", "redis-server"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if any(f":{p}" in line for p in ports)]


def test_demo_runs_the_readme_walkthrough(spawn: list[subprocess.Popen[str]]) -> None:
    """`smsproxy demo`: the printed curl lines give a number, then its code; SIGTERM cleans up."""
    port = free_port()
    demo = start(["demo", "--port", str(port), "--sms-delay", "0.5"], spawn)
    base = f"http://127.0.0.1:{port}/stubs/handler_api.php?api_key=demo"
    wait_for(base + "&action=getBalance", demo)
    assert httpx.get(base + "&action=getBalance").text.startswith("ACCESS_BALANCE:")
    word, activation_id, phone = httpx.get(base + "&action=getNumber&service=tg").text.split(":")
    assert word == "ACCESS_NUMBER" and phone.startswith("7")
    deadline, answer = time.monotonic() + 10, ""
    while time.monotonic() < deadline and not answer.startswith("STATUS_OK:"):
        answer = httpx.get(f"{base}&action=getStatus&id={activation_id}").text
        time.sleep(0.2)
    assert answer.startswith("STATUS_OK:")
    output = stop(demo)
    assert "curl '" in output and "action=getNumber" in output
    assert redis_children(output) == []


def test_demo_shows_the_operator_page_with_live_figures(
    spawn: list[subprocess.Popen[str]],
) -> None:
    """`smsproxy demo --traffic`: its bots buy through the proxy, and the page printed with
    its token shows their purchases and codes."""
    port = free_port()
    demo = start(["demo", "--port", str(port), "--sms-delay", "0.5", "--traffic", "300"], spawn)
    assert demo.stdout is not None
    lines: list[str] = []  # read all along: a full pipe would stall the demo's logging
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or ()), daemon=True)
    reader.start()
    deadline, token = time.monotonic() + 20, None
    while token is None and time.monotonic() < deadline:
        found = re.search(r"/admin/login\?token=(\S+)", "".join(lines))
        token = found[1] if found else None
        time.sleep(0.1)
    assert token, "".join(lines)
    base = f"http://127.0.0.1:{port}"
    deadline, totals = time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        api = httpx.get(f"{base}/admin/api/windows", headers={"authorization": f"Bearer {token}"})
        totals = api.json()["hour"]["all"]
        if totals["bought"] >= 3 and totals["coded"] >= 1:
            break
        time.sleep(0.5)
    assert totals["bought"] >= 3 and totals["coded"] >= 1, totals
    with httpx.Client(base_url=base, follow_redirects=True) as browser:
        assert browser.get(f"/admin/login?token={token}").status_code == 200  # redirected
        page = browser.get("/admin")
        assert page.status_code == 200 and 'data-figure="windows/hour/all/bought"' in page.text
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(timeout=45) == 0
    reader.join(5)
    demo.stdout.close()
    assert "demo_bot_failed" not in "".join(lines)


def test_serve_with_config_and_environment(
    tmp_path: Path, spawn: list[subprocess.Popen[str]], smspva: Upstream, vaksms: Upstream
) -> None:
    """`smsproxy serve --config`: secrets from the environment, JSON log lines, clean exit."""
    port = free_port()
    config = tmp_path / "smsproxy.toml"
    config.write_text(
        f"""
[redis]
data_dir = "{tmp_path / "redis"}"
[money]
rates = {{ RUB = "0.01" }}
[providers.smspva]
base_url = "{smspva.url}"
[providers.vaksms]
base_url = "{vaksms.url}"
[[tenants]]
name = "t"
providers = ["vaksms", "smspva"]
"""
    )
    server = start(
        ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        spawn,
        SMSPROXY_PROVIDERS__SMSPVA__API_KEY=SMSPVA_KEY,
        SMSPROXY_PROVIDERS__VAKSMS__API_KEY=VAKSMS_KEY,
        SMSPROXY_TENANTS__0__KEY="env-secret",
    )
    base = f"http://127.0.0.1:{port}/stubs/handler_api.php?api_key=env-secret"
    wait_for(f"http://127.0.0.1:{port}/health/live", server)
    assert httpx.get(f"http://127.0.0.1:{port}/health/ready").json() == {"status": "ok"}
    assert httpx.get(base + "&action=getBalance").text == "ACCESS_BALANCE:200.00"
    assert httpx.get(base + "&action=getNumber&service=tg").text.startswith("ACCESS_NUMBER:")
    output = stop(server)
    assert any(json.loads(line).get("event") == "request"
               for line in output.splitlines() if line.startswith("{"))  # fmt: skip
    assert "env-secret" not in output and SMSPVA_KEY not in output
    assert redis_children(output) == []


def test_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[providers.x]\nkind = "nope"\napi_key = "k"\n')
    result = subprocess.run(
        [*SMSPROXY, "serve", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr


def test_emulate(spawn: list[subprocess.Popen[str]]) -> None:
    """`smsproxy emulate vaksms`: one emulator speaking VAK-SMS's wire format."""
    port = free_port()
    emulator = start(["emulate", "vaksms", "--port", str(port), "--api-key", "k"], spawn)
    url = f"http://127.0.0.1:{port}/api/getBalance/?apiKey=k"
    wait_for(url, emulator)
    assert httpx.get(url).json() == {"balance": 100.0}
    stop(emulator)


def test_catalog_unmapped_report_honours_overrides(tmp_path: Path) -> None:
    """`smsproxy catalog --unmapped`: provider codes with no pair; a config pair removes one."""
    plain = subprocess.run(
        [*SMSPROXY, "catalog", "--unmapped", "--json"], capture_output=True, text=True, timeout=30
    )
    assert plain.returncode == 0, plain.stderr
    unmapped = {s["code"] for s in json.loads(plain.stdout)["providers"]["smspva"]["services"]}
    assert "opt0" in unmapped
    config = tmp_path / "smsproxy.toml"
    config.write_text('[mapping.smspva.services]\not = "opt0"\n')
    overridden = subprocess.run(
        [*SMSPROXY, "catalog", "--unmapped", "--json", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert overridden.returncode == 0, overridden.stderr
    services = json.loads(overridden.stdout)["providers"]["smspva"]["services"]
    assert "opt0" not in {s["code"] for s in services}
    text = subprocess.run([*SMSPROXY, "catalog", "--unmapped"], capture_output=True, text=True)
    assert "opt0" in text.stdout and "smspva" in text.stdout


def test_providers_table(
    spawn: list[subprocess.Popen[str]], smspva: Upstream, vaksms: Upstream, tmp_path: Path
) -> None:
    """`smsproxy providers --url`: the health table of a running proxy."""
    port = free_port()
    config = tmp_path / "smsproxy.toml"
    config.write_text(
        f'[redis]\ndata_dir = "{tmp_path / "r"}"\n[money]\nrates = {{ RUB = "0.01" }}\n'
        f'[providers.smspva]\nbase_url = "{smspva.url}"\napi_key = "{SMSPVA_KEY}"\n'
        f'[providers.vaksms]\nbase_url = "{vaksms.url}"\napi_key = "{VAKSMS_KEY}"\n'
        '[[tenants]]\nname = "t"\nkey = "k"\n'
    )
    server = start(["serve", "--config", str(config), "--port", str(port)], spawn)
    base = f"http://127.0.0.1:{port}"
    wait_for(base + "/health/live", server)
    httpx.get(base + "/stubs/handler_api.php?api_key=k&action=getBalance")
    table = subprocess.run(
        [*SMSPROXY, "providers", "--url", base], capture_output=True, text=True, timeout=30
    )
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["provider", "state"]
    assert any(line.startswith("smspva") and "closed" in line and "100" in line for line in lines)
    stop(server)


# Issue 14, point 1: every configuration error is one line on stderr and exit code 2.


def run_cli(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """The command in an environment holding no SMSPROXY_* variable but those given."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("SMSPROXY_")}
    return subprocess.run(
        [*SMSPROXY, *args], capture_output=True, text=True, timeout=30, env={**clean, **env}
    )


@pytest.mark.parametrize(
    ("body", "env", "message"),
    [
        ('[server]\nport = "eighty"\n', {}, "server.port: expected an integer, got 'eighty'"),
        ('[providers.smspva]\napi_key = "k"\npoll_interval = "fast"\n', {},
         "providers.smspva.poll_interval: expected a number, got 'fast'"),
        ("[server]\nprot = 9000\n", {}, "server.prot: unknown key (did you mean 'port'?)"),
        ('[[tenants]]\nname = "t"\nkey = "k"\nmarkp = "0.1"\n', {},
         "tenants[0].markp: unknown key (did you mean 'markup'?)"),
        ("", {"SMSPROXY_WEBHOOKS__PRIVATE_TARGETS": "maybe"},
         "webhooks.private_targets: expected one of 1/0, true/false, yes/no, on/off, got 'maybe' "
         "(from SMSPROXY_WEBHOOKS__PRIVATE_TARGETS)"),
        # Failed inside the server's startup: a traceback and exit code 3.
        ('[providers.vaksms]\napi_key = "k"\n', {},
         "money.rates has no rate for ['RUB'] (into USD)"),
    ],
    ids=["port-eighty", "poll-interval-fast", "prot", "markp", "env-boolean", "no-rate"],
)  # fmt: skip
def test_serve_config_errors_are_one_line_exit_2(
    tmp_path: Path, body: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "smsproxy.toml"
    config.write_text(f'[redis]\ndata_dir = "{tmp_path / "redis"}"\n{body}')
    port = str(free_port())
    result = run_cli(["serve", "--config", str(config), "--host", "127.0.0.1", "--port", port],
                     **env)  # fmt: skip
    assert (result.returncode, result.stderr) == (
        2, f"smsproxy: configuration error: {message}\n"
    ), result.stderr  # fmt: skip
    assert result.stdout == ""


def test_catalog_config_error_is_one_line_exit_2(tmp_path: Path) -> None:
    """A mistyped mapping table was ignored: the report showed the shipped pairs."""
    config = tmp_path / "smsproxy.toml"
    config.write_text('[mapping.smspva.servics]\not = "opt0"\n')
    result = run_cli(["catalog", "--unmapped", "--config", str(config)])
    assert (result.returncode, result.stderr) == (
        2, "smsproxy: configuration error: mapping.smspva.servics: unknown key "
        "(did you mean 'services'?)\n",
    )  # fmt: skip


def test_serve_logs_its_address_providers_and_tenants(
    tmp_path: Path, spawn: list[subprocess.Popen[str]], smspva: Upstream, vaksms: Upstream
) -> None:
    """`serve` said nothing of where it listened, and nothing when it had no tenant."""
    port = free_port()
    config = tmp_path / "smsproxy.toml"
    config.write_text(
        f'[redis]\ndata_dir = "{tmp_path / "redis"}"\n[money]\nrates = {{ RUB = "0.01" }}\n'
        f'[providers.pva]\nkind = "smspva"\nbase_url = "{smspva.url}"\napi_key = "{SMSPVA_KEY}"\n'
        f'[providers.vaksms]\nbase_url = "{vaksms.url}"\napi_key = "{VAKSMS_KEY}"\n'
    )
    server = start(["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                   spawn)  # fmt: skip
    wait_for(f"http://127.0.0.1:{port}/health/live", server)
    output = stop(server)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    events = {line["event"]: line for line in lines}
    assert events["serving"]["listen"] == f"http://127.0.0.1:{port}"
    assert events["serving"]["providers"] == {"pva": "smspva", "vaksms": "vaksms"}
    assert events["serving"]["tenants"] == 0
    assert events["serving"]["config"] == str(config)
    assert events["no_tenants"]["level"] == "warning"


def test_start_line_counts_tenants() -> None:
    from structlog.testing import capture_logs

    from proxy.cli import log_start
    from proxy.config import settings_from_dict

    settings = settings_from_dict({
        "providers": {"vak": {"kind": "vaksms", "api_key": "k"}},
        "tenants": [{"name": "a", "key": "x"}, {"name": "b", "key": "y"}],
    })  # fmt: skip
    with capture_logs() as logs:
        log_start(settings, "::1", 8080, None)
    assert logs == [{"event": "serving", "log_level": "info", "listen": "http://[::1]:8080",
                     "config": None, "providers": {"vak": "vaksms"}, "tenants": 2}]  # fmt: skip
    with capture_logs() as logs:
        log_start(settings_from_dict({}), "0.0.0.0", 8080, None)
    assert [(log["event"], log["log_level"]) for log in logs] == [
        ("serving", "info"), ("no_tenants", "warning"), ("no_providers", "warning")
    ]  # fmt: skip


# Issue 14, points 3 and 4: no redis-server outlives a killed demo; a port in use ends `serve`
# and `demo` at once, before Redis starts or the poller takes its lease.


def redis_child(pid: int) -> int | None:
    """The redis-server process `pid` started, if any."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        if "(redis-server" in fields[0] and int(fields[1].split()[1]) == pid:
            return int(stat.parent.name)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG)")
def test_killed_demo_leaves_no_redis(tmp_path: Path, spawn: list[subprocess.Popen[str]]) -> None:
    port = free_port()
    demo = start(["demo", "--port", str(port), "--data-dir", str(tmp_path)], spawn)
    wait_for(f"http://127.0.0.1:{port}/health/ready", demo)
    child = redis_child(demo.pid)
    assert child is not None
    demo.kill()
    demo.communicate()
    assert wait_gone(child), f"redis-server {child} outlived the SIGKILLed demo"


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_port_in_use_fails_at_once(tmp_path: Path, command: str) -> None:
    config = tmp_path / "smsproxy.toml"
    config.write_text(f'[redis]\ndata_dir = "{tmp_path / "redis"}"\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = {"serve": ["serve", "--config", str(config), "--host", "127.0.0.1"],
                "demo": ["demo", "--data-dir", str(tmp_path / "redis")]}[command]  # fmt: skip
        started = time.monotonic()
        result = run_cli([*args, "--port", str(port)])
    assert time.monotonic() - started < 15  # a process start: no Redis, no 20 s wait
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == (
        f"smsproxy: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(choose another port: --port)\n"
    )
    assert not (tmp_path / "redis").exists()  # Redis never started
