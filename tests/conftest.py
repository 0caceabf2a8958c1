"""Real parts for every test: a redis-server spawned for the session on a free port, the two
provider emulators over loopback HTTP, and the proxy served by uvicorn in a thread."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from proxy.app import HANDLER_PATH, create_app
from proxy.config import Settings, settings_from_dict
from proxy.emulators import SmspvaEmulator, VaksmsEmulator
from proxy.redis_server import EmbeddedRedis
from proxy.serving import ThreadedServer

SMSPVA_KEY = "pva-upstream-key"
VAKSMS_KEY = "vak-upstream-key"
TEST_POLL_INTERVAL = 0.01
TENANT_KEYS = {"alice": "alice-key", "bob": "bob-key", "pva": "pva-only-key", "vak": "vak-only-key"}


@pytest.fixture(scope="session", autouse=True)
def _quiet_logs() -> None:
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )


@pytest.fixture(scope="session", name="redis_server")
def fixture_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persistent=False) as server:
        yield server


@dataclass
class Upstream:
    """An emulator and the URL it is served on."""

    emulator: Any
    url: str


@pytest.fixture(scope="session")
def _smspva_server() -> Iterator[Upstream]:
    emulator = SmspvaEmulator(api_keys={SMSPVA_KEY: Decimal("100")}, sms_delay=None)
    with ThreadedServer(emulator.app) as server:
        yield Upstream(emulator, server.url)


@pytest.fixture(scope="session")
def _vaksms_server() -> Iterator[Upstream]:
    emulator = VaksmsEmulator(api_keys={VAKSMS_KEY: Decimal("10000")}, sms_delay=None)
    with ThreadedServer(emulator.app) as server:
        yield Upstream(emulator, server.url)


@pytest.fixture(name="smspva")
def fixture_smspva(_smspva_server: Upstream) -> Upstream:
    _smspva_server.emulator.reset()
    return _smspva_server


@pytest.fixture(name="vaksms")
def fixture_vaksms(_vaksms_server: Upstream) -> Upstream:
    _vaksms_server.emulator.reset()
    return _vaksms_server


def proxy_config(
    redis_url: str,
    smspva_url: str,
    vaksms_url: str,
    *,
    poll_interval: float = TEST_POLL_INTERVAL,
    prefix: str | None = None,
    read_timeout: float = 2.0,
    catalog_ttl: float = 300.0,
    warm: list[list[Any]] | None = None,
    tenants: dict[str, dict[str, Any]] | None = None,
    providers: dict[str, dict[str, Any]] | None = None,
    routing: dict[str, Any] | None = None,
    webhooks: dict[str, Any] | None = None,
    extra_tenants: list[dict[str, Any]] | None = None,
    redis: dict[str, Any] | None = None,
    admin: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The test deployment: four tenants over the two emulated providers; the dicts given
    are merged into a tenant's, a provider's or the routing table."""
    config: dict[str, Any] = {
        "redis": {"url": redis_url, "key_prefix": prefix or f"t{uuid.uuid4().hex[:10]}",
                  **(redis or {})},
        "money": {"currency": "USD", "rates": {"RUB": "0.01"}},
        "catalog": {"ttl": catalog_ttl, "warm": warm or []},
        "providers": {
            "smspva": {"api_key": SMSPVA_KEY, "base_url": smspva_url,
                       "poll_interval": poll_interval, "read_timeout": read_timeout},
            "vaksms": {"api_key": VAKSMS_KEY, "base_url": vaksms_url,
                       "poll_interval": poll_interval, "read_timeout": read_timeout},
        },
        "tenants": [
            {"name": "alice", "key": TENANT_KEYS["alice"], "providers": ["smspva", "vaksms"]},
            {"name": "bob", "key": TENANT_KEYS["bob"], "providers": ["vaksms", "smspva"],
             "markup": "0.1"},
            {"name": "pva", "key": TENANT_KEYS["pva"], "providers": ["smspva"]},
            {"name": "vak", "key": TENANT_KEYS["vak"], "providers": ["vaksms"]},
        ],
        # The background poller is tested on its own (tests/e2e/test_poller.py); elsewhere
        # getStatus polls on demand, so a test sees a delivered code at its next read.
        "routing": {"poller": False, **(routing or {})},
        "webhooks": webhooks or {},
        "admin": admin or {},
    }  # fmt: skip
    config["tenants"].extend(extra_tenants or [])
    for tenant in config["tenants"]:
        tenant.update((tenants or {}).get(tenant["name"], {}))
    for name, extra in (providers or {}).items():
        config["providers"][name].update(extra)
    return config


@dataclass
class Proxy:
    """A running proxy and a client speaking SMS-Activate to it."""

    url: str
    settings: Settings
    client: httpx.Client = field(repr=False)

    @property
    def endpoint(self) -> str:
        return self.url + HANDLER_PATH

    def call(self, tenant: str = "alice", **params: Any) -> httpx.Response:
        query = {"api_key": TENANT_KEYS.get(tenant, tenant), **params}
        return self.client.get(self.endpoint, params=query)

    def text(self, tenant: str = "alice", **params: Any) -> str:
        response = self.call(tenant, **params)
        assert response.status_code == 200
        return response.text

    def buy(self, tenant: str = "alice", service: str = "tg", country: int = 0) -> tuple[int, str]:
        answer = self.text(tenant, action="getNumber", service=service, country=country)
        word, activation_id, phone = answer.split(":")
        assert word == "ACCESS_NUMBER", answer
        return int(activation_id), phone


ProxyFactory = Callable[..., Proxy]
ConfigServer = Callable[[dict[str, Any]], Proxy]


@pytest.fixture(name="serve_config")
def fixture_serve_config() -> Iterator[ConfigServer]:
    """smsproxy from a whole configuration dict, over real HTTP; stopped after the test."""
    servers: list[ThreadedServer] = []
    clients: list[httpx.Client] = []

    def serve(config: dict[str, Any]) -> Proxy:
        settings = settings_from_dict(config)
        server = ThreadedServer(create_app(settings)).start()
        servers.append(server)
        client = httpx.Client(timeout=10)
        clients.append(client)
        return Proxy(server.url, settings, client)

    yield serve
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


@pytest.fixture(name="make_proxy")
def fixture_make_proxy(
    redis_server: EmbeddedRedis, smspva: Upstream, vaksms: Upstream, serve_config: ConfigServer
) -> ProxyFactory:
    def make(
        smspva_url: str | None = None,
        vaksms_url: str | None = None,
        redis_url: str | None = None,
        **overrides: Any,
    ) -> Proxy:
        return serve_config(proxy_config(
            redis_url or redis_server.url, smspva_url or smspva.url, vaksms_url or vaksms.url,
            **overrides,
        ))  # fmt: skip

    return make


@pytest.fixture(name="proxy")
def fixture_proxy(make_proxy: ProxyFactory) -> Proxy:
    return make_proxy()


FIXTURES_DIR = Path(__file__).resolve().parent.parent / "protocol_fixtures"


def order_for(upstream: Upstream, phone: str) -> Any:
    """The emulator's order behind one of our phones (SMSPVA keeps the national number)."""
    matches = [o for o in upstream.emulator.orders.values() if phone.endswith(str(o.phone))]
    assert matches, f"no upstream order for {phone}"
    return max(matches, key=lambda o: o.created)


def deliver(upstream: Upstream, phone: str, code: str | None = None) -> str:
    """An SMS arrives upstream for our phone; returns its code.

    Waits out the tests' poll interval, so the next getStatus may ask the upstream again.
    """
    order = order_for(upstream, phone)
    message = upstream.emulator.deliver_sms(order.order_id, code)
    time.sleep(TEST_POLL_INTERVAL * 3)
    return str(message.code)
