"""Operator endpoints (issue 14, point 5): /health/upstreams and /metrics show the operator's
data, so they go on their own address ([admin] port) or behind a bearer token ([admin] token);
/health/live and /health/ready stay open on the client port for probes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.admin import OPERATOR_PATHS, bearer_matches
from proxy.app import HANDLER_PATH
from proxy.cli import proxy_servers
from proxy.config import settings_from_dict
from proxy.redis_server import EmbeddedRedis
from proxy.serving import Server, free_port
from tests.conftest import SMSPVA_KEY, TENANT_KEYS, VAKSMS_KEY, Upstream, proxy_config

HOST = "127.0.0.1"
TOKEN = "s3cret-admin-token"
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


class Together:
    """`serve`'s servers (the proxy and its admin server) in one event loop, in a thread."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def serve_all() -> None:
            await asyncio.gather(*(server.serve() for server in self.servers))

        try:
            asyncio.run(serve_all())
        except BaseException as exc:  # reported to the test
            self.error = exc

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not all(server.started for server in self.servers):
            assert self.error is None and self.thread.is_alive(), self.error
            assert time.monotonic() < deadline, "servers did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        self.thread.join(15)


@pytest.fixture(name="serve")
def fixture_serve(redis_server: EmbeddedRedis, smspva: Upstream, vaksms: Upstream) -> Iterator[Any]:
    """serve(**admin) -> (client URL, admin URL or None): `smsproxy serve`'s servers for the
    test deployment with this [admin] table."""
    running: list[Together] = []

    def serve(**admin: Any) -> tuple[str, str | None]:
        config = proxy_config(redis_server.url, smspva.url, vaksms.url)
        config["admin"] = admin
        port = free_port()
        servers = proxy_servers(settings_from_dict(config), HOST, port)
        assert len(servers) == (2 if admin.get("port") else 1)
        together = Together(servers)
        running.append(together)
        together.start()
        admin_url = f"http://{HOST}:{admin['port']}" if admin.get("port") else None
        return f"http://{HOST}:{port}", admin_url

    yield serve
    for together in running:
        together.stop()


def get(url: str, token: str | None = None, scheme: str = "Bearer") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return httpx.get(url, headers=headers, timeout=10)


def assert_probes_and_clients_open(client_url: str) -> None:
    assert get(client_url + "/health/live").status_code == 200
    assert get(client_url + "/health/ready").json() == {"status": "ok"}
    balance = get(f"{client_url}{HANDLER_PATH}?api_key={TENANT_KEYS['alice']}&action=getBalance")
    assert balance.text.startswith("ACCESS_BALANCE:")


def assert_operator_data(response: httpx.Response, path: str) -> None:
    assert response.status_code == 200, (path, response.text)
    if path == "/health/upstreams":
        assert set(response.json()) == {"smspva", "vaksms"}
    else:
        assert "smsproxy_requests_total" in response.text


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.text == "unauthorized\n"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_no_admin_settings_keep_the_old_open_endpoints(serve: Any) -> None:
    client, admin = serve()
    assert admin is None
    for path in OPERATOR_PATHS:
        assert_operator_data(get(client + path), path)
    assert_probes_and_clients_open(client)


def test_token_guards_the_operator_endpoints_on_the_client_port(serve: Any) -> None:
    client, admin = serve(token=TOKEN)
    assert admin is None
    for path in OPERATOR_PATHS:
        assert_refused(get(client + path))
        assert_refused(get(client + path, "wrong"))
        assert_refused(get(client + path, TOKEN + "x"))
        assert_refused(httpx.get(client + path, headers={"Authorization": "Bearer"}))
        assert_refused(get(client + path, TOKEN, scheme="Basic"))
        assert_operator_data(get(client + path, TOKEN), path)
        assert_operator_data(get(client + path, TOKEN, scheme="bearer"), path)
    assert_probes_and_clients_open(client)


def test_admin_port_takes_the_operator_endpoints_off_the_client_port(serve: Any) -> None:
    client, admin = serve(port=free_port())
    for path in OPERATOR_PATHS:
        assert get(client + path).status_code == 404
        assert get(client + path, TOKEN).status_code == 404
        assert_operator_data(get(admin + path), path)
    assert_probes_and_clients_open(client)
    # One state behind both ports: the client port's getBalance is counted on the admin port.
    metrics = get(admin + "/metrics").text
    assert any("smsproxy_requests_total" in line and 'answer="ACCESS_BALANCE"' in line
               and not line.endswith(" 0.0") for line in metrics.splitlines())  # fmt: skip
    # The admin port serves nothing else.
    assert get(f"{admin}{HANDLER_PATH}?api_key=alice-key&action=getBalance").status_code == 404


def test_admin_port_with_a_token_wants_it_there(serve: Any) -> None:
    client, admin = serve(port=free_port(), token=TOKEN)
    for path in OPERATOR_PATHS:
        assert get(client + path, TOKEN).status_code == 404
        assert_refused(get(admin + path))
        assert_refused(get(admin + path, "wrong"))
        assert_operator_data(get(admin + path, TOKEN), path)
    assert_probes_and_clients_open(client)


def test_the_operator_page_lives_on_the_admin_port_when_there_is_one(serve: Any) -> None:
    client, admin = serve(port=free_port(), token=TOKEN)
    for path in ("/admin", "/admin/api/overview", "/admin/login"):
        assert get(client + path, TOKEN).status_code == 404
    assert get(admin + "/admin").status_code == 401  # the login form
    page = get(admin + "/admin", TOKEN)
    assert page.status_code == 200 and "data-figure" in page.text
    assert set(get(admin + "/admin/api/overview", TOKEN).json()["windows"]["hour"]) >= {"all"}
    login = httpx.get(f"{admin}/admin/login?token={TOKEN}", timeout=10)
    assert login.status_code == 303 and "smsproxy_admin" in login.cookies


def test_bearer_header_parsing() -> None:
    import hashlib

    expected = hashlib.sha256(TOKEN.encode()).digest()
    assert bearer_matches(f"Bearer {TOKEN}", expected)
    assert bearer_matches(f"bearer  {TOKEN} ", expected)
    for header in ("", "Bearer", "Bearer ", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}",
                   f"Bearer {TOKEN}{TOKEN}", f"Token {TOKEN}"):  # fmt: skip
        assert not bearer_matches(header, expected), header


# `smsproxy serve` as a user runs it: the warning, and both servers from one process.


def spawn_serve(tmp_path: Path, redis_url: str, upstreams: tuple[Upstream, Upstream],
                port: int, admin: str = "", **env: str) -> subprocess.Popen[str]:  # fmt: skip
    smspva, vaksms = upstreams
    config = tmp_path / f"smsproxy-{port}.toml"
    config.write_text(
        textwrap.dedent(f"""
        [redis]
        url = "{redis_url}"
        key_prefix = "t{uuid.uuid4().hex[:10]}"
        [money]
        rates = {{ RUB = "0.01" }}
        [providers.smspva]
        base_url = "{smspva.url}"
        api_key = "{SMSPVA_KEY}"
        [providers.vaksms]
        base_url = "{vaksms.url}"
        api_key = "{VAKSMS_KEY}"
        [[tenants]]
        name = "t"
        key = "k"
        """)
        + admin
    )
    return subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config),
         "--host", HOST, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env},
    )  # fmt: skip


def wait_live(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, process.communicate()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, url
        time.sleep(0.1)


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=45)
    assert process.returncode == 0, output
    return output


@pytest.fixture(name="processes")
def fixture_processes() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_warns_when_the_operator_endpoints_are_open(
    tmp_path: Path, redis_server: EmbeddedRedis, smspva: Upstream, vaksms: Upstream,
    processes: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    port = free_port()
    server = spawn_serve(tmp_path, redis_server.url, (smspva, vaksms), port)
    processes.append(server)
    wait_live(f"http://{HOST}:{port}/health/live", server)
    assert get(f"http://{HOST}:{port}/health/upstreams").status_code == 200
    output = stop(server)
    assert "operator_endpoints_open" in output


def test_serve_with_an_admin_port_and_token(
    tmp_path: Path, redis_server: EmbeddedRedis, smspva: Upstream, vaksms: Upstream,
    processes: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    """`smsproxy serve` starts the admin server too; `smsproxy providers` reads it with the
    token from the environment ([admin] token itself comes from SMSPROXY_ADMIN__TOKEN)."""
    port, admin_port = free_port(), free_port()
    admin_table = f"[admin]\nport = {admin_port}\n"
    server = spawn_serve(tmp_path, redis_server.url, (smspva, vaksms), port, admin_table,
                         SMSPROXY_ADMIN__TOKEN=TOKEN)  # fmt: skip
    processes.append(server)
    client, admin = f"http://{HOST}:{port}", f"http://{HOST}:{admin_port}"
    wait_live(client + "/health/live", server)
    assert get(client + "/health/upstreams", TOKEN).status_code == 404
    assert get(client + "/metrics", TOKEN).status_code == 404
    assert get(client + "/health/ready").status_code == 200
    assert get(admin + "/health/upstreams").status_code == 401
    assert_operator_data(get(admin + "/health/upstreams", TOKEN), "/health/upstreams")
    assert_operator_data(get(admin + "/metrics", TOKEN), "/metrics")
    providers = [sys.executable, "-m", "proxy.cli", "providers", "--url", admin]
    env = {k: v for k, v in os.environ.items() if k != "SMSPROXY_ADMIN__TOKEN"}
    refused = subprocess.run(providers, capture_output=True, text=True, timeout=30, env=env)
    assert refused.returncode == 1 and "401" in refused.stderr
    table = subprocess.run(
        providers, capture_output=True, text=True, timeout=30,
        env={**env, "SMSPROXY_ADMIN__TOKEN": TOKEN},
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:2] == ["provider", "state"]
    output = stop(server)
    assert "operator_endpoints_open" not in output
    assert TOKEN not in output


def test_deploy_files_keep_the_operator_endpoints_private() -> None:
    """Kubernetes: [admin] port in the ConfigMap, scraped there by Prometheus, not in the
    Service; the probes stay on the client port."""
    manifest = (DEPLOY / "kubernetes" / "smsproxy.yaml").read_text()
    block = manifest.split("smsproxy.toml: |\n", 1)[1].split("\n---", 1)[0]
    admin = tomllib.loads(textwrap.dedent(block))["admin"]
    assert admin["port"] and admin["port"] != 8080
    assert f'prometheus.io/port: "{admin["port"]}"' in manifest
    assert f"{{containerPort: {admin['port']}, name: admin}}" in manifest
    service = [line.split("#")[0] for line in manifest.rsplit("kind: Service", 1)[1].splitlines()]
    assert not any("admin" in line or str(admin["port"]) in line for line in service)
    assert "httpGet: {path: /health/ready, port: http}" in manifest
    assert "SMSPROXY_ADMIN__TOKEN" in manifest
    for name in ("Dockerfile", "smsproxy.service"):
        text = (DEPLOY / name).read_text()
        assert "[admin]" in text and "SMSPROXY_ADMIN__TOKEN" in text, name
