"""Prometheus metrics: one registry per app instance, exposed on /metrics.

Names (all prefixed `smsproxy_`): requests by action and answer word, request latency,
upstream calls by provider/endpoint/outcome and their latency, failovers, breaker state,
active activations, codes received, refunds, client polls and upstream polls (their ratio is
the poll saving), the cancel rate per provider account, and webhook POSTs by outcome.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """Every metric smsproxy exports, on a registry of its own (several apps per process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "smsproxy_requests", "Client requests by action and answer word",
            ["action", "answer"], registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "smsproxy_request_seconds", "Client request latency", ["action"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
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
        self.client_polls = Counter(
            "smsproxy_client_polls", "getStatus requests from clients", registry=r
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

    def exposition(self) -> bytes:
        client = self.client_polls._value.get()
        upstream = sum(
            sample.value
            for metric in self.upstream_polls.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
        self.poll_savings.set(client / upstream if upstream else 0.0)
        return generate_latest(self.registry)
