"""Webhooks (seeds/002:251-268): a signed POST per SMS, kept in Redis until the receiver says
200, tried at most 8 times within 2 hours; activations via the tenant's `webhook_url`, rentals
via getRentNumber's `url`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxy.metrics import Metrics
from proxy.redis_server import EmbeddedRedis
from proxy.serving import ThreadedServer
from proxy.store.keys import Keys
from proxy.store.outbox import ATTEMPTS, BACKOFF, WINDOW, Outbox
from proxy.webhooks import Pinned, Sender, code_in, pin
from tests.conftest import SMSPVA_KEY, ProxyFactory, Upstream, order_for
from tests.e2e.test_poller import wait_until
from tests.e2e.test_rent import pva_order, rented

SECRET = "hook-secret"
POLLER = {"poller": True}


@dataclass
class Receiver:
    """A client's webhook endpoint: records each POST; answers `failures` 500s first."""

    url: str = ""
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    failures: int = 0

    async def hook(self, request: Request) -> Response:
        self.posts.append((dict(request.headers), await request.body()))
        if self.failures > 0:
            self.failures -= 1
            return Response("busy", status_code=500)
        return Response("ok")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.posts]


@pytest.fixture(name="receiver")
def fixture_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    with ThreadedServer(app) as server:
        receiver.url = server.url + "/hook"
        yield receiver


def test_activation_code_is_posted_signed(
    make_proxy: ProxyFactory, smspva: Upstream, receiver: Receiver
) -> None:
    """The seed's shape, and an HMAC of the body the receiver can check."""
    hooked = {"webhook_url": receiver.url, "webhook_secret": SECRET}
    proxy = make_proxy(routing=POLLER, poll_interval=0.1, tenants={"pva": hooked})
    activation_id, phone = proxy.buy("pva")
    seen_after = time.time()
    smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, "4812", "Your code: 4812")
    wait_until(lambda: receiver.posts)
    headers, body = receiver.posts[0]
    sent = json.loads(body)
    received = sent.pop("receivedAt")
    assert sent == {
        "activationId": activation_id, "service": "tg", "text": "Your code: 4812",
        "code": "4812", "country": 0,
    }  # fmt: skip
    moment = datetime.strptime(received, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    assert seen_after - 1 <= moment <= time.time()  # UTC, when smsproxy saw it
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-smsproxy-signature"] == expected
    assert headers["content-type"] == "application/json"
    time.sleep(0.5)
    assert len(receiver.posts) == 1  # delivered once: nothing owed any more
    metrics = proxy.client.get(proxy.url + "/metrics").text
    assert 'smsproxy_webhooks_total{outcome="delivered"} 1.0' in metrics


def test_tenant_without_webhook_gets_none(
    make_proxy: ProxyFactory, smspva: Upstream, receiver: Receiver
) -> None:
    proxy = make_proxy(routing=POLLER, poll_interval=0.1,
                       tenants={"pva": {"webhook_url": receiver.url}})  # fmt: skip
    _, phone = proxy.buy("alice")  # alice has no webhook
    smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, "1111")
    wait_until(lambda: proxy.call("alice", action="getActiveActivations").json()
               ["activeActivations"][0]["smsCode"] == ["1111"])  # fmt: skip
    time.sleep(0.3)
    assert receiver.posts == []


def test_rented_number_posts_each_sms(
    make_proxy: ProxyFactory, smspva: Upstream, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """getRentNumber's `url`: the poller watches the rental (waking the SMSPVA number itself)
    and posts each SMS with the rent id, the code and the sender."""
    monkeypatch.setattr(smspva.emulator.rent, "activation_delay", 0.0)
    # the test's receiver is on loopback: a target the operator must allow for client URLs
    proxy = make_proxy(routing=POLLER, poll_interval=0.1, webhooks={"private_targets": True})
    rent_id, phone, _ = rented(proxy, "pva", url=receiver.url)
    order = pva_order(smspva, phone)
    wait_until(lambda: order.activated_at is not None)  # woken with no client request
    smspva.emulator.deliver_rent_sms(order.order_id, "Telegram code: 671 094", "TELEGRAM")
    wait_until(lambda: receiver.posts)
    body = receiver.bodies()[0]
    assert body["activationId"] == body["rentId"] == rent_id
    assert body["code"] == "671094" and body["text"] == "Telegram code: 671 094"
    assert body["phoneFrom"] == "TELEGRAM" and body["phone"] == phone
    assert body["service"] == "tg" and body["country"] == 0
    assert "x-smsproxy-signature" not in {k.lower() for k in receiver.posts[0][0]}
    smspva.emulator.deliver_rent_sms(order.order_id, "Telegram code: 222 333", "TELEGRAM")
    wait_until(lambda: len(receiver.posts) == 2)
    assert receiver.bodies()[1]["code"] == "222333"
    status = proxy.call("pva", action="getRentStatus", id=rent_id).json()
    assert status["quantity"] == "2"  # the client's own reads see the same SMS


def test_a_client_url_to_this_network_is_refused(
    make_proxy: ProxyFactory, smspva: Upstream, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default a client's `url` may not reach loopback or private hosts (no SSRF through
    smsproxy): the POST is abandoned at once, unsent; the rental itself is unaffected."""
    monkeypatch.setattr(smspva.emulator.rent, "activation_delay", 0.0)
    proxy = make_proxy(routing=POLLER, poll_interval=0.1)
    rent_id, phone, _ = rented(proxy, "pva", url=receiver.url)
    order = pva_order(smspva, phone)
    wait_until(lambda: order.activated_at is not None)
    smspva.emulator.deliver_rent_sms(order.order_id, "Telegram code: 111 222", "TELEGRAM")

    def abandoned() -> bool:
        text = proxy.client.get(proxy.url + "/metrics").text
        return 'smsproxy_webhooks_total{outcome="abandoned"} 1.0' in text

    wait_until(abandoned)
    assert receiver.posts == []
    assert proxy.call("pva", action="getRentStatus", id=rent_id).json()["quantity"] == "1"


def test_a_rent_url_that_is_not_http_is_ignored(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    smspva.emulator.set_balance(SMSPVA_KEY, Decimal(1000))  # four week-long rentals
    proxy = make_proxy()
    for url in ("ftp://example.invalid/x", "http://[::1", "http://example.com:abc/x", "x"):
        rent_id, _, _ = rented(proxy, "pva", url=url)
        assert proxy.call("pva", action="getRentStatus", id=rent_id).json()["message"] == (
            "STATUS_WAIT_CODE"
        )


def test_owed_posts_survive_a_restart(
    make_proxy: ProxyFactory, smspva: Upstream, receiver: Receiver
) -> None:
    """Seen by a replica whose receiver was down: the next lease holder delivers it."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    hooked = {"pva": {"webhook_url": receiver.url}}
    first = make_proxy(prefix=prefix, tenants=hooked)  # no poller: nothing is sent
    activation_id, phone = first.buy("pva")
    smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, "5150")
    time.sleep(0.05)
    assert first.text("pva", action="getStatus", id=activation_id) == "STATUS_OK:5150"
    time.sleep(0.3)
    assert receiver.posts == []
    make_proxy(prefix=prefix, tenants=hooked, routing=POLLER)
    wait_until(lambda: receiver.posts)
    assert receiver.bodies()[0]["activationId"] == activation_id


def test_code_in_text() -> None:
    assert code_in("Code Instagram: 671 094.") == "671094"
    assert code_in("G-482913 is your code") == "482913"
    assert code_in("no digits") == "no digits"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_retries_then_gives_up(redis_server: EmbeddedRedis, receiver: Receiver) -> None:
    """A refused POST comes back after the backoff, at most 8 times, never past 2 hours."""
    assert sum(BACKOFF) < WINDOW and len(BACKOFF) == ATTEMPTS - 1

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        outbox = Outbox(redis, Keys(f"t{uuid.uuid4().hex[:10]}"))
        async with httpx.AsyncClient() as client:
            sender = Sender(outbox, client, {}, Metrics())
            receiver.failures = 100
            await outbox.enqueue("pva", receiver.url, {"activationId": 1})
            now = time.time()
            assert await sender.send_due(now) == {"delivered": 0, "retry": 1, "abandoned": 0}
            assert await outbox.take_due(now + BACKOFF[0] - 1) == []
            sent = 1
            for wait in BACKOFF[:-1]:
                now += wait
                outcome = await sender.send_due(now + 0.5)
                sent += 1
                assert outcome["retry"] == 1, (sent, outcome)
                now += 0.5
            now += BACKOFF[-1]
            assert await sender.send_due(now + 0.5) == {
                "delivered": 0, "retry": 0, "abandoned": 1,
            }  # fmt: skip
            assert len(receiver.posts) == ATTEMPTS and await outbox.pending() == 0
        await redis.aclose()

    run(scenario())


def test_a_post_that_later_succeeds(redis_server: EmbeddedRedis, receiver: Receiver) -> None:
    async def scenario() -> None:
        redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        outbox = Outbox(redis, Keys(f"t{uuid.uuid4().hex[:10]}"))
        async with httpx.AsyncClient() as client:
            sender = Sender(outbox, client, {"pva": b"k"}, Metrics())
            receiver.failures = 1
            await outbox.enqueue("pva", receiver.url, {"activationId": 2})
            now = time.time()
            assert (await sender.send_due(now))["retry"] == 1
            assert (await sender.send_due(now + BACKOFF[0] + 1))["delivered"] == 1
            assert await outbox.pending() == 0
            assert receiver.posts[0][1] == receiver.posts[1][1]  # the same body again
        await redis.aclose()

    run(scenario())


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("http://93.184.216.34/hook", True),
        ("http://127.0.0.1:9/hook", False),
        ("http://10.1.2.3/hook", False),
        ("http://169.254.169.254/latest", False),  # a cloud's metadata service: link-local
        ("http://[::1]/hook", False),
        ("https://localhost/hook", False),
    ],
)
def test_which_hosts_a_client_url_may_reach(url: str, public: bool) -> None:
    """Every address the host resolves to must be public (a client's URL must not reach this
    network's own hosts: loopback, private, a cloud's link-local metadata service)."""
    pinned = run(pin(url))
    assert (pinned is not None and pinned.public) is public


def resolving(answers: dict[str, list[str]], asked: list[str] | None = None) -> Any:
    """A resolver with fixed answers; a name it does not know does not resolve."""

    async def resolver(host: str, port: int) -> list[str]:
        if asked is not None:
            asked.append(host)
        if host not in answers:
            raise OSError(f"{host} does not resolve")
        return answers[host]

    return resolver


def client_delivery(redis_server: EmbeddedRedis, url: str, resolver: Any, private: bool) -> Any:
    """Enqueue one POST to a client's `url` and run one pass: (outcome, outbox pending)."""

    async def scenario() -> tuple[dict[str, int], int]:
        redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        outbox = Outbox(redis, Keys(f"t{uuid.uuid4().hex[:10]}"))
        async with httpx.AsyncClient() as client:
            sender = Sender(outbox, client, {}, Metrics(), private, resolver=resolver)
            await outbox.enqueue("pva", url, {"rentId": 7}, from_client=True)
            outcome = await sender.send_due(time.time())
            pending = await outbox.pending()
        await redis.aclose()
        return outcome, pending

    return run(scenario())


def test_a_client_url_is_sent_to_the_address_that_was_checked(
    redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    """The name is resolved once and the POST connects to that address (no second lookup for
    DNS rebinding to answer differently), with the URL's own Host header."""
    port = httpx.URL(receiver.url).port
    asked: list[str] = []
    resolver = resolving({"hooks.example": ["127.0.0.1"]}, asked)
    url = f"http://hooks.example:{port}/hook"
    outcome, pending = client_delivery(redis_server, url, resolver, private=True)
    assert outcome == {"delivered": 1, "retry": 0, "abandoned": 0} and pending == 0
    assert asked == ["hooks.example"]  # once: this name resolves nowhere else
    headers, body = receiver.posts[0]
    assert headers["host"] == f"hooks.example:{port}" and json.loads(body) == {"rentId": 7}


def test_a_name_answering_any_private_address_is_refused_unsent(
    redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    port = httpx.URL(receiver.url).port
    resolver = resolving({"rebind.example": ["93.184.216.34", "127.0.0.1"]})
    url = f"http://rebind.example:{port}/hook"
    outcome, pending = client_delivery(redis_server, url, resolver, private=False)
    assert outcome == {"delivered": 0, "retry": 0, "abandoned": 1} and pending == 0
    assert receiver.posts == []


def test_a_dead_first_address_falls_over_to_the_next(
    redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    """As a connection by name would: every checked address in turn, none unchecked."""
    port = httpx.URL(receiver.url).port
    resolver = resolving({"hooks.example": ["127.0.0.2", "127.0.0.1"]})  # nobody on .2
    url = f"http://hooks.example:{port}/hook"
    outcome, _ = client_delivery(redis_server, url, resolver, private=True)
    assert outcome["delivered"] == 1 and len(receiver.posts) == 1


def test_the_name_checked_is_the_name_sent(redis_server: EmbeddedRedis, receiver: Receiver) -> None:
    """An international name is resolved in the IDNA form its Host header carries: the check
    and the request cannot be about two different domains (faß.de is not fass.de)."""
    port = httpx.URL(receiver.url).port
    asked: list[str] = []
    resolver = resolving({"xn--fa-hia.example": ["127.0.0.1"]}, asked)
    outcome, _ = client_delivery(
        redis_server, f"http://faß.example:{port}/hook", resolver, private=True
    )
    assert outcome["delivered"] == 1 and asked == ["xn--fa-hia.example"]
    assert receiver.posts[0][0]["host"] == f"xn--fa-hia.example:{port}"


def test_through_an_egress_proxy_the_name_is_sent(
    redis_server: EmbeddedRedis, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set the proxy makes the connection (and over CONNECT checks TLS by
    the name it is given): the URL is still checked, then sent by name, through the proxy."""
    forwarded: list[bytes] = []

    async def forward_proxy(scope: Any, receive: Any, send: Any) -> None:
        """Answers 200 to what it is asked to forward, recording the absolute target."""
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        # The request target in absolute form (h11 keeps it whole in raw_path; httptools
        # gives the path, the name then being in the Host header).
        host = dict(scope["headers"]).get(b"host", b"")
        path = scope["raw_path"]
        forwarded.append(path if path.startswith(b"http://") else b"http://" + host + path)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with ThreadedServer(forward_proxy) as egress:
        monkeypatch.setenv("HTTP_PROXY", egress.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        resolver = resolving({"hooks.example": ["93.184.216.34"]})
        outcome, _ = client_delivery(
            redis_server, "http://hooks.example/hook", resolver, private=False
        )
    assert outcome["delivered"] == 1
    assert forwarded == [b"http://hooks.example/hook"] and receiver.posts == []


def test_a_name_that_does_not_resolve_is_tried_again_later(
    redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    outcome, pending = client_delivery(
        redis_server, "http://gone.example/hook", resolving({}), private=False
    )
    assert outcome == {"delivered": 0, "retry": 1, "abandoned": 0} and pending == 1


@pytest.mark.parametrize(
    ("url", "address", "expected", "host", "sni"),
    [
        ("https://hooks.example/a?b=1", "93.184.216.34", "https://93.184.216.34/a?b=1",
         "hooks.example", "hooks.example"),
        ("http://hooks.example:8080/a", "2606:2800:220:1::1", "http://[2606:2800:220:1::1]:8080/a",
         "hooks.example:8080", None),
        ("https://bücher.example/", "93.184.216.34", "https://93.184.216.34/",
         "xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)  # fmt: skip
def test_a_pinned_request_keeps_the_urls_own_name(
    url: str, address: str, expected: str, host: str, sni: str | None
) -> None:
    """Connected by address, named as the client wrote it: Host header, and TLS's SNI and
    certificate check (httpcore's `sni_hostname`)."""
    target, headers, extensions = Pinned(url, (address,), public=True).request(address)
    assert str(target) == expected
    assert headers == {"Host": host, "Connection": "close"}
    assert extensions.get("sni_hostname") == sni


def test_a_watched_rental_is_not_woken_at_every_poll(
    make_proxy: ProxyFactory, smspva: Upstream, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMS are asked at each poll interval; whether the number must be woken (`orders`, a list
    of the whole account) only once a minute: the number stays awake 10-30 min (001:39-40)."""
    monkeypatch.setattr(smspva.emulator.rent, "activation_delay", 0.0)
    proxy = make_proxy(routing=POLLER, poll_interval=0.1, webhooks={"private_targets": True})
    rented(proxy, "pva", url=receiver.url)
    wait_until(lambda: smspva.emulator.requests["rent:sms"] >= 5)
    assert smspva.emulator.requests["rent:orders"] == 1
    assert smspva.emulator.requests["rent:activate"] == 1


def test_a_vanished_delivery_is_not_brought_back(redis_server: EmbeddedRedis) -> None:
    """A delivery whose record expired (or another sender settled) is neither revived as a
    stub by a retry nor able to stop the queue; a damaged record is dropped when taken."""

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        keys = Keys(f"t{uuid.uuid4().hex[:10]}")
        outbox = Outbox(redis, keys)
        gone = await outbox.enqueue("pva", "http://example.invalid/", {"activationId": 1})
        now = time.time()
        [delivery] = await outbox.take_due(now)
        await redis.delete(keys.webhook(gone))
        assert await outbox.settle(delivery, False, now) == "abandoned"
        assert await redis.exists(keys.webhook(gone)) == 0
        damaged = await outbox.enqueue("pva", "http://example.invalid/", {"activationId": 2})
        await redis.hdel(keys.webhook(damaged), "url")
        fine = await outbox.enqueue("pva", "http://example.invalid/", {"activationId": 3})
        assert [d.id for d in await outbox.take_due(time.time() + 1)] == [fine]
        assert await outbox.pending() == 1
        assert await outbox.take_due(time.time() + 1) == []  # taken ones are pushed ahead
        await redis.aclose()

    run(scenario())
