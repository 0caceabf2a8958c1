"""Issue 12, point 4: after setStatus 3 a new SMS is new by its position, not by its text.

VAK-SMS lists every code with `all` (seeds/003:1199-1205), so after `setStatus=send` the same code
again reads `["1234","1234"]`; SMSPVA's clearsms deletes the SMS `sms` showed (seeds/000:120-126,
368-375), so whatever `sms` shows afterwards came after the retry. Either way, an SMS carrying the
code of the one before is a new SMS, and every view of the activation shows it.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from hypothesis import HealthCheck, given, settings, strategies as st

from proxy.store.keys import Keys
from tests.conftest import TEST_POLL_INTERVAL, Proxy, ProxyFactory, Upstream, deliver, order_for
from tests.e2e.test_poller import wait_until
from tests.e2e.test_webhooks import Receiver, fixture_receiver  # noqa: F401  (the fixture)

TENANT = {"smspva": "pva", "vaksms": "vak"}


@pytest.fixture(name="upstream", params=["smspva", "vaksms"])
def fixture_upstream(
    request: pytest.FixtureRequest, smspva: Upstream, vaksms: Upstream
) -> Upstream:
    return smspva if request.param == "smspva" else vaksms


def tenant_of(upstream: Upstream, smspva: Upstream) -> str:
    return TENANT["smspva"] if upstream is smspva else TENANT["vaksms"]


def status(proxy: Proxy, tenant: str, activation_id: int) -> str:
    return proxy.text(tenant, action="getStatus", id=activation_id)


def retry(proxy: Proxy, tenant: str, activation_id: int) -> None:
    """setStatus 3, then the tests' poll interval waited out so that getStatus asks upstream."""
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=3) == (
        "ACCESS_RETRY_GET"
    )
    time.sleep(TEST_POLL_INTERVAL * 3)


def test_same_code_after_retry_is_the_new_sms(
    proxy: Proxy, upstream: Upstream, smspva: Upstream
) -> None:
    """1234, setStatus 3, 1234 again: STATUS_OK:1234, not STATUS_WAIT_RETRY until expiry."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
    retry(proxy, tenant, activation_id)
    assert status(proxy, tenant, activation_id) == "STATUS_WAIT_RETRY:1234"
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
    if upstream is not smspva:  # the issue's own answer: both SMS listed by VAK-SMS
        assert order_for(upstream, phone).codes == ["1234", "1234"]
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=6) == (
        "ACCESS_ACTIVATION"
    )
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"


def test_same_code_three_retries(proxy: Proxy, upstream: Upstream, smspva: Upstream) -> None:
    """Each retry is answered by the next SMS, however many retries and whatever the code."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
    for _ in range(3):
        retry(proxy, tenant, activation_id)
        assert status(proxy, tenant, activation_id) == "STATUS_WAIT_RETRY:1234"
        deliver(upstream, phone, "1234")
        assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
    listing = proxy.call(tenant, action="getActiveActivations").json()
    (entry,) = listing["activeActivations"]
    assert entry["smsCode"] == ["1234"] * 4


def test_a_different_code_still_works(proxy: Proxy, upstream: Upstream, smspva: Upstream) -> None:
    """1234, retry, 5678: the new code; retry, 5678 again: that one too."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
    retry(proxy, tenant, activation_id)
    deliver(upstream, phone, "5678")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:5678"
    retry(proxy, tenant, activation_id)
    assert status(proxy, tenant, activation_id) == "STATUS_WAIT_RETRY:5678"
    deliver(upstream, phone, "5678")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:5678"


def test_retry_with_no_new_sms_keeps_waiting(
    proxy: Proxy, upstream: Upstream, smspva: Upstream
) -> None:
    """The SMS before the retry, still listed (VAK) or cleared (SMSPVA), is never the answer."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
    retry(proxy, tenant, activation_id)
    for _ in range(5):
        assert status(proxy, tenant, activation_id) == "STATUS_WAIT_RETRY:1234"
        time.sleep(TEST_POLL_INTERVAL * 2)
    v2 = proxy.call(tenant, action="getStatusV2", id=activation_id).json()
    assert v2 == {"verificationType": 0, "sms": None, "call": None}


def test_every_view_shows_the_second_sms(
    proxy: Proxy, upstream: Upstream, smspva: Upstream
) -> None:
    """getStatusV2 and getFullSms show the second SMS; getActiveActivations and getHistory
    list both."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    order_id = order_for(upstream, phone).order_id
    upstream.emulator.deliver_sms(order_id, "1234", "Your code is 1234 (first)")
    time.sleep(TEST_POLL_INTERVAL * 3)
    first = proxy.call(tenant, action="getStatusV2", id=activation_id).json()["sms"]
    retry(proxy, tenant, activation_id)
    assert proxy.text(tenant, action="getFullSms", id=activation_id) == "STATUS_WAIT_CODE"
    time.sleep(1.0)  # the second SMS's dateTime is a later second than the first's
    upstream.emulator.deliver_sms(order_id, "1234", "Your code is 1234 (second)")
    time.sleep(TEST_POLL_INTERVAL * 3)
    second = proxy.call(tenant, action="getStatusV2", id=activation_id).json()["sms"]
    # SMSPVA gives the full text (seeds/000:84); VAK-SMS only codes (003:1203), shown as text.
    texts = ["Your code is 1234 (first)", "Your code is 1234 (second)"]
    if upstream is not smspva:
        texts = ["1234", "1234"]
    assert (second["code"], second["text"]) == ("1234", texts[1])
    assert proxy.text(tenant, action="getFullSms", id=activation_id) == f"FULL_SMS:{texts[1]}"
    assert second["dateTime"] > first["dateTime"]
    (entry,) = proxy.call(tenant, action="getActiveActivations").json()["activeActivations"]
    assert entry["activationStatus"] == "4"
    assert entry["smsCode"] == ["1234", "1234"]
    assert entry["smsText"] == f"[{texts[0]}, {texts[1]}]"
    (record,) = proxy.call(tenant, action="getHistory").json()
    assert record["id"] == activation_id
    assert json.loads(record["sms"]) == texts


def test_a_webhook_per_sms_with_the_same_code(
    make_proxy: ProxyFactory, upstream: Upstream, smspva: Upstream, receiver: Receiver
) -> None:
    """With the background poller: one POST per SMS, the retry's SMS too (seeds/002:251-268)."""
    tenant = tenant_of(upstream, smspva)
    proxy = make_proxy(routing={"poller": True}, poll_interval=0.1,
                       tenants={tenant: {"webhook_url": receiver.url}})  # fmt: skip
    activation_id, phone = proxy.buy(tenant)
    order_id = order_for(upstream, phone).order_id
    upstream.emulator.deliver_sms(order_id, "1234", "Code 1234, first")
    wait_until(lambda: status(proxy, tenant, activation_id) == "STATUS_OK:1234")
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=3) == (
        "ACCESS_RETRY_GET"
    )
    time.sleep(0.3)  # the poller looks again: the first SMS is not the retry's
    assert status(proxy, tenant, activation_id) == "STATUS_WAIT_RETRY:1234"
    upstream.emulator.deliver_sms(order_id, "1234", "Code 1234, second")
    wait_until(lambda: status(proxy, tenant, activation_id) == "STATUS_OK:1234")
    wait_until(lambda: len(receiver.posts) == 2)
    bodies = receiver.bodies()
    texts = ["Code 1234, first", "Code 1234, second"] if upstream is smspva else ["1234"] * 2
    assert [(b["code"], b["text"]) for b in bodies] == [("1234", t) for t in texts]
    assert {b["activationId"] for b in bodies} == {activation_id}
    time.sleep(0.3)
    assert len(receiver.posts) == 2  # no SMS posted twice


def test_poll_asked_before_the_clear_is_not_the_new_sms(proxy: Proxy, smspva: Upstream) -> None:
    """SMSPVA: a poll answered before clearsms but read after the retry shows the old SMS."""
    activation_id, phone = proxy.buy("pva")
    deliver(smspva, phone, "1234")
    assert status(proxy, "pva", activation_id) == "STATUS_OK:1234"
    time.sleep(TEST_POLL_INTERVAL * 3)  # the next getStatus asks upstream again
    smspva.emulator.stall("sms", 1.0)  # the next `sms` answers (showing 1234) a second late
    asked = smspva.emulator.requests["sms"]
    answers: list[str] = []
    slow = threading.Thread(target=lambda: answers.append(status(proxy, "pva", activation_id)))
    slow.start()
    wait_until(lambda: smspva.emulator.requests["sms"] > asked)  # read upstream, not yet back
    retry(proxy, "pva", activation_id)  # clearsms while that answer is still on its way
    slow.join()
    assert answers == ["STATUS_WAIT_RETRY:1234"]
    assert status(proxy, "pva", activation_id) == "STATUS_WAIT_RETRY:1234"
    deliver(smspva, phone, "1234")
    assert status(proxy, "pva", activation_id) == "STATUS_OK:1234"


def test_a_record_written_before_the_change_still_works(
    proxy: Proxy, upstream: Upstream, smspva: Upstream
) -> None:
    """A record awaiting a retry without `listed`/`retries` (as the previous code stored it)
    loads, keeps waiting, and takes the same code again as the new SMS."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
    retry(proxy, tenant, activation_id)
    keys = Keys(proxy.settings.redis.key_prefix)
    with redis.Redis.from_url(proxy.settings.redis.url) as client:
        assert client.hdel(keys.activation(activation_id), "listed", "retries") == 2
        client.publish(keys.changes(), str(activation_id))  # no cached copy survives
    time.sleep(0.1)
    assert status(proxy, tenant, activation_id) == "STATUS_WAIT_RETRY:1234"
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
    retry(proxy, tenant, activation_id)
    assert status(proxy, tenant, activation_id) == "STATUS_WAIT_RETRY:1234"
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"


Step = tuple[str, str, bool]  # ("sms", code, look) or ("retry", "", look)
STEPS = st.lists(
    st.tuples(st.sampled_from(["sms", "retry"]), st.sampled_from(["11", "22"]), st.booleans()),
    min_size=1,
    max_size=7,
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=STEPS)
def test_status_ok_exactly_when_an_sms_came_after_the_last_retry(
    proxy: Proxy, upstream: Upstream, smspva: Upstream, steps: list[Step]
) -> None:
    """Random SMS (two codes) and setStatus 3 on a fresh number, getStatus after some steps
    only: it answers STATUS_OK exactly when an SMS arrived after the last retry the proxy sent
    upstream, with a code that came then; an SMS it had not seen before a retry is not one."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    since: list[str] = []  # codes of the SMS since the last retry sent upstream
    shown: str | None = None  # the code the proxy showed at the last getStatus (STATUS_OK)
    previous: str | None = None  # the code STATUS_WAIT_RETRY repeats
    for kind, code, look in steps:
        if kind == "sms":
            deliver(upstream, phone, code)
            since.append(code)
        else:
            answer = proxy.text(tenant, action="setStatus", id=activation_id, status=3)
            if shown is not None:  # the proxy shows a code: the retry goes upstream
                assert answer == "ACCESS_RETRY_GET"
                previous, shown, since = shown, None, []
            else:  # waiting for a retry's SMS (already asked) or for the first (too early)
                assert answer == ("ACCESS_RETRY_GET" if previous else "BAD_STATUS")
            time.sleep(TEST_POLL_INTERVAL * 3)
        if not look:
            continue
        got = status(proxy, tenant, activation_id)
        if since:
            assert got.startswith("STATUS_OK:") and got.split(":")[1] in since, (got, since)
            shown = got.split(":")[1]
        elif previous is not None:
            assert got == f"STATUS_WAIT_RETRY:{previous}"
        else:
            assert got == "STATUS_WAIT_CODE"


def test_an_sms_unseen_before_the_retry_is_not_its_answer(
    proxy: Proxy, upstream: Upstream, smspva: Upstream
) -> None:
    """1234 shown, 1234 again before setStatus 3 with no getStatus between: that SMS came
    before the retry (VAK counts its list when the retry is asked; SMSPVA's clearsms deletes
    it), so the retry waits for the next one."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
    deliver(upstream, phone, "1234")
    retry(proxy, tenant, activation_id)
    assert status(proxy, tenant, activation_id) == "STATUS_WAIT_RETRY:1234"
    deliver(upstream, phone, "1234")
    assert status(proxy, tenant, activation_id) == "STATUS_OK:1234"
