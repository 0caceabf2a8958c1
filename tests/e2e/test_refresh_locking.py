"""getStatus's upstream poll: one that finds no SMS changes nothing and takes no lock; one that
brings a code writes it under the activation's lock, so no concurrent change is lost."""

from __future__ import annotations

import threading
import time

import redis

from proxy.store.keys import Keys
from tests.conftest import Proxy, Upstream, order_for

HELD = "held-by-the-test"


def hold_lock(proxy: Proxy, activation_id: int) -> redis.Redis:
    """Another replica holds the activation's lock (as redis-py's Lock would: SET NX PX)."""
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    key = Keys(proxy.settings.redis.key_prefix).activation_lock(activation_id)
    assert client.set(key, HELD, nx=True, px=60_000)
    return client


def test_a_waiting_poll_takes_no_lock(proxy: Proxy, smspva: Upstream) -> None:
    """With the lock held elsewhere, polls that find no SMS still answer (they never wait for
    it: the client's 10 s timeout would fail this test if they did)."""
    activation_id, phone = proxy.buy("pva")
    holder = hold_lock(proxy, activation_id)
    order_id = order_for(smspva, phone).order_id
    before = smspva.emulator.order_requests[("sms", order_id)]
    for _ in range(3):
        assert proxy.text("pva", action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
        time.sleep(0.03)  # past the tests' poll interval: each read asks the upstream
    assert smspva.emulator.order_requests[("sms", order_id)] > before
    holder.close()


def test_a_code_is_written_under_the_lock(proxy: Proxy, smspva: Upstream) -> None:
    """A poll that brings a code waits for the lock, then writes it."""
    activation_id, phone = proxy.buy("pva")
    holder = hold_lock(proxy, activation_id)
    smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, "4242")
    time.sleep(0.03)
    answers: list[str] = []
    reader = threading.Thread(
        target=lambda: answers.append(proxy.text("pva", action="getStatus", id=activation_id))
    )
    reader.start()
    reader.join(0.5)
    assert reader.is_alive() and answers == []  # waiting for the lock another replica holds
    holder.delete(Keys(proxy.settings.redis.key_prefix).activation_lock(activation_id))
    reader.join(10)
    assert answers == ["STATUS_OK:4242"]
    holder.close()
