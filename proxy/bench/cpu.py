"""CPU time of the servers under test, read from /proc, so that cost is measured per request.

Throughput on a 2-core machine says as much about the load generator as about the server; the
CPU a server process spent per request does not depend on who sent the requests. Each server
is read as its process tree (a `serve --workers 2` master and its workers count as one server).

A process's time is read per thread from `/proc/PID/task/TID/schedstat` (nanoseconds), and a
window's cost is the sum of each thread's own difference, so a thread that ends within the
window loses only its last moments (the servers' threads, event loop, executor and libuv pools,
Redis's own, live as long as the process). Where the kernel keeps no scheduler statistics,
`utime + stime` from `/proc/PID/stat` is used (clock ticks, 10 ms: coarse for a short phase).
Off Linux there is no /proc: every reading is None.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    """Whether this machine exposes per-process CPU time (/proc)."""
    return (PROC / "self" / "stat").is_file()


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which may hold spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _thread_seconds(pid: int) -> dict[int, float] | None:
    """Each thread's time on a CPU so far (thread id -> seconds); None if not kept here."""
    threads: dict[int, float] = {}
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return None
    for task in tasks:
        try:
            threads[int(task.name)] = int((task / "schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue  # the thread ended between the listing and the read
    return threads if any(threads.values()) else None


def _ticks_seconds(pid: int) -> float | None:
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # After the name: state(0) ppid(1) ... utime(11) stime(12), per proc(5).
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


# Where a reading keeps a process's `utime + stime` when it has no per-thread statistics.
WHOLE_PROCESS = -1
Reading = dict[str, dict[tuple[int, int], float]]  # server -> (pid, thread id) -> CPU seconds


def process_threads(pid: int) -> dict[tuple[int, int], float] | None:
    """CPU seconds so far of each thread of one process, or of the whole process under
    (pid, WHOLE_PROCESS) where the kernel keeps no per-thread figure; None if it is gone."""
    threads = _thread_seconds(pid)
    if threads is not None:
        return {(pid, tid): seconds for tid, seconds in threads.items()}
    whole = _ticks_seconds(pid)
    return None if whole is None else {(pid, WHOLE_PROCESS): whole}


def descendants(roots: Iterable[int]) -> dict[int, list[int]]:
    """Each root with every process below it (children, grandchildren …), root first."""
    children: dict[int, list[int]] = {}
    try:
        entries = [entry.name for entry in PROC.iterdir() if entry.name.isdigit()]
    except OSError:
        entries = []
    for name in entries:
        fields = _stat_fields(name)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    trees = {}
    for root in roots:
        tree, todo = [root], [root]
        while todo:
            found = children.get(todo.pop(), [])
            tree.extend(found)
            todo.extend(found)
        trees[root] = tree
    return trees


def read(servers: Mapping[str, int]) -> Reading | None:
    """Each server's (name -> root pid) threads and their CPU seconds so far, over its whole
    process tree; a server whose process is gone is left out; None off Linux."""
    if not available():
        return None
    trees = descendants(servers.values())
    reading: Reading = {}
    for name, pid in servers.items():
        root = process_threads(pid)
        if root is None:
            continue
        for child in trees[pid][1:]:
            root.update(process_threads(child) or {})
        reading[name] = root
    return reading


def used(before: Reading, after: Reading) -> dict[str, dict[int, float]]:
    """CPU seconds each server's processes used between two readings (server -> pid ->
    seconds). A thread (or process) that ended in between loses only its time within the
    window, never its past: each thread's own difference is summed, and one that is new counts
    from zero."""
    spent: dict[str, dict[int, float]] = {}
    for name, threads in after.items():
        if name not in before:
            continue
        earlier = before[name]
        processes = spent.setdefault(name, {})
        for key, now in threads.items():
            processes[key[0]] = processes.get(key[0], 0.0) + max(0.0, now - earlier.get(key, 0.0))
    return spent


def native_libraries(pid: int, names: Iterable[str]) -> list[str] | None:
    """Which of `names` (httptools, uvloop) have a shared object mapped in the process: the
    HTTP parser and event loop it really runs on, whatever its configuration says. None if it
    cannot be read."""
    try:
        maps = (PROC / str(pid) / "maps").read_text()
    except OSError:
        return None
    paths = {line.rsplit(" ", 1)[-1] for line in maps.splitlines() if line.endswith(".so")}
    return [name for name in names if any(f"/{name}/" in path for path in paths)]


def own_seconds() -> float:
    """This process's CPU seconds, all threads: the Python load generator's cost."""
    return time.process_time()


def children_seconds() -> float:
    """CPU seconds of this process's children that have exited and been waited for: a wrk
    run's cost, read before and after it."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(slots=True)
class Spent:
    """CPU seconds each server used over one or more measured windows, and their wall time;
    `processes` splits each server's by process id (a master and its workers)."""

    cpu: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    processes: dict[str, dict[int, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, by_process: dict[str, dict[int, float]], wall: float) -> Spent:
        cpu = {name: sum(split.values()) for name, split in by_process.items()}
        return cls(cpu, wall, {name: dict(split) for name, split in by_process.items()})

    def add(self, other: Spent) -> None:
        for name, seconds in other.cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds
        for name, split in other.processes.items():
            mine = self.processes.setdefault(name, {})
            for pid, seconds in split.items():
                mine[pid] = mine.get(pid, 0.0) + seconds
        self.wall += other.wall

    def net(self, names: Iterable[str], idle: Mapping[str, float]) -> float | None:
        """The CPU seconds of `names` together, less what each burns idle over the same wall
        time (`idle`: CPU seconds per second); None if one of them was not measured."""
        total = 0.0
        for name in names:
            if name not in self.cpu:
                return None
            total += max(0.0, self.cpu[name] - idle.get(name, 0.0) * self.wall)
        return total


class Window:
    """`with Window(servers) as w: ...`, then `w.spent`: what each server used meanwhile."""

    def __init__(self, servers: Mapping[str, int]) -> None:
        self.servers = dict(servers)
        self.spent = Spent()
        self._before: Reading | None = None
        self._started = 0.0

    def __enter__(self) -> Window:
        self._before = read(self.servers)
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._started
        after = read(self.servers)
        if self._before is not None and after is not None:
            self.spent = Spent.of(used(self._before, after), wall)
        else:
            self.spent = Spent(wall=wall)


def idle_rates(spent: Spent) -> dict[str, float]:
    """CPU seconds per second of each server over a window in which nothing was asked of it."""
    if spent.wall <= 0:
        return {}
    return {name: seconds / spent.wall for name, seconds in spent.cpu.items()}
