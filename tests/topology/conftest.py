"""Fixtures for the Redis topologies: a Cluster and a Sentinel setup shared by the session
(read-and-write tests that leave them healthy), fresh ones for tests that kill a node, and
proxies served over HTTP on any of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import pytest
import structlog
from structlog.testing import LogCapture

from proxy.redis_server import RedisNotFound, find_redis_server
from tests.conftest import ConfigServer, Proxy, Upstream, proxy_config
from tests.topology.servers import Cluster, SentinelSetup, Unsupported

# The scenarios' asserts explain themselves, as a test module's do.
pytest.register_assert_rewrite("tests.topology.scenarios")

Topology = TypeVar("Topology", Cluster, SentinelSetup)
PASSWORD = "topology-secret"


class ServeProxy(Protocol):
    """Serve a proxy whose [redis] table is `redis` (over the test deployment's defaults)."""

    def __call__(self, redis: dict[str, Any], **overrides: Any) -> Proxy: ...


@pytest.fixture(autouse=True)
def _print_logged_problems() -> Iterator[None]:
    """The proxies' warnings and errors, with tracebacks, printed after each test: pytest
    shows them for a failed one (the session's logging discards everything)."""
    saved = structlog.get_config()
    capture = LogCapture()
    structlog.configure(
        processors=[structlog.processors.format_exc_info, capture],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)
        problems = Counter(
            repr(entry)
            for entry in capture.entries
            if entry.get("log_level") in {"warning", "error", "critical"}
        )
        for entry, times in problems.items():  # each once, in order of first appearance
            print(f"{times} x {entry}")


@pytest.fixture(scope="session", name="redis_binary")
def fixture_redis_binary() -> str:
    try:
        return find_redis_server()
    except RedisNotFound as exc:
        pytest.skip(f"no redis-server: {exc}")


def started(topology: Topology, stop_on_exit: list[Callable[[], None]]) -> Topology:
    """`topology` started, or the test skipped when the binary cannot run it."""
    stop_on_exit.append(topology.stop)
    try:
        return topology.start()
    except Unsupported as exc:
        pytest.skip(f"this redis-server cannot run {type(topology).__name__}: {exc}")


@pytest.fixture(scope="session", name="cluster")
def fixture_cluster(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Shared: tests on it must leave every node up."""
    stops: list[Callable[[], None]] = []
    try:
        yield started(Cluster(redis_binary, tmp_path_factory.mktemp("cluster")), stops)
    finally:
        for stop in stops:
            stop()


@pytest.fixture(name="fresh_cluster")
def fixture_fresh_cluster(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """A cluster of the test's own, which it may break; with AOF, so a killed node comes back
    with its data, and a password, as a deployment has one."""
    stops: list[Callable[[], None]] = []
    try:
        directory = tmp_path_factory.mktemp("fresh-cluster")
        cluster = Cluster(redis_binary, directory, persistent=True, password=PASSWORD)
        yield started(cluster, stops)
    finally:
        for stop in stops:
            stop()


@pytest.fixture(scope="session", name="sentinels")
def fixture_sentinels(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SentinelSetup]:
    """Shared: tests on it must leave the primary where it is."""
    stops: list[Callable[[], None]] = []
    try:
        yield started(SentinelSetup(redis_binary, tmp_path_factory.mktemp("sentinel")), stops)
    finally:
        for stop in stops:
            stop()


@pytest.fixture(name="fresh_sentinels")
def fixture_fresh_sentinels(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SentinelSetup]:
    """A Sentinel setup of the test's own, whose primary it may kill."""
    stops: list[Callable[[], None]] = []
    try:
        directory = tmp_path_factory.mktemp("fresh-sentinel")
        yield started(SentinelSetup(redis_binary, directory), stops)
    finally:
        for stop in stops:
            stop()


@pytest.fixture(name="secured_sentinels")
def fixture_secured_sentinels(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SentinelSetup]:
    """A Sentinel setup whose data nodes and sentinels all require a password."""
    stops: list[Callable[[], None]] = []
    try:
        directory = tmp_path_factory.mktemp("secured-sentinel")
        yield started(SentinelSetup(redis_binary, directory, password=PASSWORD), stops)
    finally:
        for stop in stops:
            stop()


@pytest.fixture(name="serve_proxy")
def fixture_serve_proxy(
    smspva: Upstream, vaksms: Upstream, serve_config: ConfigServer
) -> ServeProxy:
    """Proxies over the emulators, with `proxy_config`'s deployment and the given [redis]
    table (its key prefix random unless `prefix` is given)."""

    def serve(redis: dict[str, Any], **overrides: Any) -> Proxy:
        return serve_config(proxy_config("", smspva.url, vaksms.url, redis=redis, **overrides))

    return serve
