"""The background poller: codes seen while clients are quiet, one replica at a time, refunds
before the upstream's window closes; and what /metrics and /health report of it."""

from __future__ import annotations

import time
import uuid

from proxy.emulators import OrderState
from tests.conftest import ProxyFactory, Upstream, order_for

POLLER = {"poller": True}


def wait_until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_code_is_seen_without_client_polls(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    proxy = make_proxy(routing=POLLER, poll_interval=0.1)
    activation_id, phone = proxy.buy("pva")
    smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, "2718")

    def listed() -> bool:
        entries = proxy.call("pva", action="getActiveActivations").json()["activeActivations"]
        return bool(entries[0]["smsCode"] == ["2718"])

    wait_until(listed)  # getActiveActivations reads Redis only: the poller put the code there
    assert proxy.text("pva", action="getStatus", id=activation_id) == "STATUS_OK:2718"


def test_one_replica_polls(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """Two replicas with pollers on one Redis: one lease, one poll per interval."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    replicas = [make_proxy(prefix=prefix, routing=POLLER, poll_interval=0.2) for _ in range(2)]
    _, phone = replicas[0].buy("pva")
    order_id = order_for(smspva, phone).order_id
    started = time.monotonic()
    time.sleep(1.5)
    polls = smspva.emulator.order_requests[("sms", order_id)]
    elapsed = time.monotonic() - started
    assert 3 <= polls <= int(elapsed / 0.2) + 2


def test_unused_number_is_refunded_before_the_window(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """No SMS by refund_after: SMSPVA blocknumber / VAK-SMS end, refunded, STATUS_CANCEL."""
    fast = {"refund_after": 0.3}
    proxy = make_proxy(routing=POLLER, poll_interval=0.1,
                       providers={"smspva": fast, "vaksms": fast})  # fmt: skip
    pva_id, pva_phone = proxy.buy("pva")
    vak_id, vak_phone = proxy.buy("vak")
    wait_until(lambda: order_for(smspva, pva_phone).refunded)
    wait_until(lambda: order_for(vaksms, vak_phone).refunded)
    assert order_for(smspva, pva_phone).state is OrderState.BLOCKED
    # The upstream takes the number back before the record says so: each is waited for.
    wait_until(lambda: proxy.text("pva", action="getStatus", id=pva_id) == "STATUS_CANCEL")
    wait_until(lambda: proxy.text("vak", action="getStatus", id=vak_id) == "STATUS_CANCEL")
    refunded = 'smsproxy_refunds_total{provider="smspva",why="no_sms"} 1.0'
    wait_until(lambda: refunded in proxy.client.get(proxy.url + "/metrics").text)  # counted last
    metrics = proxy.client.get(proxy.url + "/metrics").text
    assert 'smsproxy_cancel_rate{provider="smspva"} 1.0' in metrics


def test_number_with_a_code_is_not_refunded(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    proxy = make_proxy(
        routing=POLLER, poll_interval=0.1, providers={"smspva": {"refund_after": 0.5}}
    )
    activation_id, phone = proxy.buy("pva")
    smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, "4444")
    time.sleep(1.0)
    assert not order_for(smspva, phone).refunded
    assert proxy.text("pva", action="getStatus", id=activation_id) == "STATUS_OK:4444"


def test_metrics_and_health(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    proxy = make_proxy()
    activation_id, _ = proxy.buy("pva")
    for _ in range(5):
        proxy.text("pva", action="getStatus", id=activation_id)
    proxy.text("nobody", action="getBalance")
    text = proxy.client.get(proxy.url + "/metrics").text
    assert 'smsproxy_requests_total{action="GetNumber",answer="ACCESS_NUMBER"} 1.0' in text
    assert 'smsproxy_requests_total{action="invalid",answer="BAD_KEY"} 1.0' in text
    assert "smsproxy_client_polls_total 5.0" in text
    assert (
        'smsproxy_upstream_calls_total{endpoint="buy",outcome="ok",provider="smspva"} 1.0' in text
    )
    assert "smsproxy_active_activations 1.0" in text
    assert 'smsproxy_breaker_open{provider="smspva"} 0.0' in text
    assert "smsproxy_poll_savings" in text
    assert proxy.client.get(proxy.url + "/health/live").json() == {"status": "ok"}
    assert proxy.client.get(proxy.url + "/health/ready").json() == {"status": "ok"}
    upstreams = proxy.client.get(proxy.url + "/health/upstreams").json()
    assert upstreams["smspva"]["state"] == "closed"
    assert upstreams["smspva"]["last_latency_ms"] is not None


def test_cancel_rate_warning(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """An account that gives most numbers back is flagged in logs and metrics."""
    from structlog.testing import capture_logs

    routing = {"poller": True, "cancel_rate_warning": 0.5, "cancel_rate_every": 0.2}
    proxy = make_proxy(routing=routing)
    with capture_logs() as logs:
        for _ in range(6):
            activation_id, _ = proxy.buy("pva")
            assert proxy.text("pva", action="setStatus", id=activation_id, status=8) == (
                "ACCESS_CANCEL"
            )
        # a check may fall between a purchase and its cancel (5 of 6): wait for all six
        wait_until(lambda: any(e["event"] == "cancel_rate_high" and e["rate"] == 1.0
                               for e in logs))  # fmt: skip
    warnings = [e for e in logs if e["event"] == "cancel_rate_high"]
    assert all(w["provider"] == "smspva" and w["rate"] > 0.5 for w in warnings)
