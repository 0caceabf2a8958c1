"""Prometheus metrics: one registry per app instance, exposed on /metrics.

Names (all prefixed `smsproxy_`): requests by action and answer word, request latency,
upstream calls by provider/endpoint/outcome and their latency, failovers, breaker state,
active activations, codes received, refunds, client polls and upstream polls (their ratio is
the poll saving), the cancel rate per provider account, and webhook POSTs by outcome.

The three that every request updates (requests, their latency, client polls) are kept as plain
numbers and exposed in prometheus_client's own form (`Series`, `LatencySeries`): its metrics
take a lock and check their state on each update, about 20,000 CPU instructions per getStatus
here, a tenth of the whole request (issue 15).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
INF = float("inf")
Labels = tuple[str, ...]


def created_series() -> bool:
    """Whether prometheus_client writes `_created` samples now (see its
    `disable_created_metrics`), asked of a throwaway counter, so that ours follow."""
    probe = Counter("probe", "", registry=None)
    return any(sample.name.endswith("_created") for m in probe.collect() for sample in m.samples)


def _le(bound: float) -> str:
    """A bucket's `le` label as prometheus_client writes it ("0.0005", "1.0", "+Inf")."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


class Series:
    """A counter by label values, exposed as prometheus_client's Counter is; updated from the
    event loop only (no lock)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.values: dict[Labels, float] = {}
        self.created: dict[Labels, float] = {}
        if not self.labelnames:  # exposed from the start, at 0, as prometheus_client does
            self.values[()], self.created[()] = 0.0, time.time()
        registry.register(self)

    def inc(self, labels: Labels = ()) -> None:
        value = self.values.get(labels)
        if value is None:
            self.created[labels] = time.time()
            value = 0.0
        self.values[labels] = value + 1.0

    def total(self) -> float:
        return sum(self.values.values())

    def describe(self) -> Iterable[Metric]:
        return [Metric(self.name, self.documentation, "counter")]

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self.name, self.documentation, "counter")
        created = created_series()
        for labels, value in list(self.values.items()):
            named = dict(zip(self.labelnames, labels, strict=True))
            metric.add_sample(self.name + "_total", named, value)
            if created:
                metric.add_sample(self.name + "_created", dict(named), self.created[labels])
        return [metric]


class LatencySeries:
    """A histogram by label values, exposed as prometheus_client's Histogram is (cumulative
    buckets, count, sum, created); updated from the event loop only (no lock)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        bounds = [float(b) for b in buckets]
        self.bounds = bounds if bounds[-1] == INF else [*bounds, INF]
        # Per label values: each bucket's own count (not cumulative), then the sum.
        self.series: dict[Labels, list[float]] = {}
        self.created: dict[Labels, float] = {}
        registry.register(self)

    def observe(self, labels: Labels, value: float) -> None:
        counts = self.series.get(labels)
        if counts is None:
            counts = self.series[labels] = [0.0] * (len(self.bounds) + 1)
            self.created[labels] = time.time()
        counts[bisect_left(self.bounds, value)] += 1.0  # the first bound >= value: `le`
        counts[-1] += value

    def describe(self) -> Iterable[Metric]:
        return [Metric(self.name, self.documentation, "histogram")]

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self.name, self.documentation, "histogram")
        created = created_series()
        for labels, counts in list(self.series.items()):
            named = dict(zip(self.labelnames, labels, strict=True))
            total = 0.0
            for bound, count in zip(self.bounds, counts, strict=False):
                total += count
                metric.add_sample(self.name + "_bucket", {**named, "le": _le(bound)}, total)
            metric.add_sample(self.name + "_count", dict(named), total)
            metric.add_sample(self.name + "_sum", dict(named), counts[-1])
            if created:
                metric.add_sample(self.name + "_created", dict(named), self.created[labels])
        return [metric]


class Metrics:
    """Every metric smsproxy exports, on a registry of its own (several apps per process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Series(
            "smsproxy_requests", "Client requests by action and answer word",
            ["action", "answer"], r,
        )  # fmt: skip
        self.request_seconds = LatencySeries(
            "smsproxy_request_seconds", "Client request latency", ["action"], LATENCY_BUCKETS, r
        )
        self.upstream_calls = Counter(
            "smsproxy_upstream_calls", "Upstream calls by provider, endpoint and outcome",
            ["provider", "endpoint", "outcome"], registry=r,
        )  # fmt: skip
        self.upstream_seconds = Histogram(
            "smsproxy_upstream_seconds", "Upstream call latency", ["provider", "endpoint"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.failovers = Counter(
            "smsproxy_failovers", "A purchase moved on from a provider", ["provider", "reason"],
            registry=r,
        )  # fmt: skip
        self.breaker_open = Gauge(
            "smsproxy_breaker_open", "1 while a provider rests (breaker open)", ["provider"],
            registry=r,
        )  # fmt: skip
        self.active = Gauge(
            "smsproxy_active_activations", "Activations waiting for or holding a code",
            registry=r,
        )  # fmt: skip
        self.codes = Counter(
            "smsproxy_codes_received", "First codes received", ["provider"], registry=r
        )
        self.refunds = Counter(
            "smsproxy_refunds", "Numbers given back upstream for a refund", ["provider", "why"],
            registry=r,
        )  # fmt: skip
        self.client_polls = Series(
            "smsproxy_client_polls", "getStatus requests from clients", [], r
        )
        self.upstream_polls = Counter(
            "smsproxy_upstream_polls", "Order polls sent upstream", ["provider"], registry=r
        )
        self.poll_savings = Gauge(
            "smsproxy_poll_savings", "Client polls per upstream poll, since start", registry=r
        )
        self.webhooks = Counter(
            "smsproxy_webhooks", "Webhook POST attempts by outcome (delivered, retry, abandoned)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.cancel_rate = Gauge(
            "smsproxy_cancel_rate", "Share of an account's recent numbers that were cancelled",
            ["provider"], registry=r,
        )  # fmt: skip

        # Children by label values: `.labels(...)` takes a lock and costs a few µs per call.
        # Bounded by what the labels can be (providers' endpoints and outcomes), as
        # prometheus_client's own children are.
        self._upstream: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def request_done(self, action: str, answer: str, seconds: float) -> None:
        """One client request: counted by action and answer word, its latency observed."""
        self.requests.inc((action, answer))
        self.request_seconds.observe((action,), seconds)

    def client_poll(self) -> None:
        """A client asked for an activation's status (getStatus, getFullSms)."""
        self.client_polls.inc()

    def upstream_done(
        self, provider: str, endpoint: str, outcome: str, seconds: float | None
    ) -> None:
        """One upstream call (or one not sent, `seconds` None: counted, no latency)."""
        children = self._upstream.get((provider, endpoint, outcome))
        if children is None:
            children = self._upstream[(provider, endpoint, outcome)] = (
                self.upstream_calls.labels(provider, endpoint, outcome),
                self.upstream_seconds.labels(provider, endpoint),
            )
        children[0].inc()
        if seconds is not None:
            children[1].observe(seconds)

    def exposition(self) -> bytes:
        client = self.client_polls.total()
        upstream = sum(
            sample.value
            for metric in self.upstream_polls.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
        self.poll_savings.set(client / upstream if upstream else 0.0)
        return generate_latest(self.registry)
