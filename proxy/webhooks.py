"""Webhooks: one POST per SMS to the client's URL (seeds/002:251-268), kept durable in Redis.

SMS-Activate waits for HTTP 200 and otherwise tries again "within 2 hours, but no more than 8
times" (002:266). A delivery is written to Redis (`proxy.store.outbox`) as soon as the SMS is
seen, so a restart or a dead replica loses none, and the poller's lease holder sends what is
due. A tenant with a `webhook_secret` gets `X-Smsproxy-Signature: sha256=<hex HMAC-SHA256 of
the body>` on every POST, so its receiver can tell smsproxy's calls from forged ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import re
import socket
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from proxy.lifecycle import Activation
from proxy.metrics import Metrics
from proxy.protocol.answers import timestamp
from proxy.rent.model import Rent
from proxy.store.outbox import SEND_TIMEOUT, Delivery, Outbox

log = structlog.get_logger("webhooks")

CONCURRENCY = 10  # POSTs in flight at once: one slow receiver cannot hold up the others
SIGNATURE_HEADER = "X-Smsproxy-Signature"


def usable_url(url: str) -> bool:
    """Only absolute http(s) URLs with a host (and a valid port, if any) are called."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """The addresses a host name resolves to, in the resolver's order of preference."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]).split("%")[0] for info in found]  # "%": an IPv6 zone
    return list(dict.fromkeys(addresses))


@dataclass(frozen=True, slots=True)
class Pinned:
    """A client's URL resolved once: checked and connected to at the same addresses.

    Resolving to check and resolving again to connect would let a name that answers a public
    address first and a private one next (DNS rebinding) slip past the check; the POST goes to
    the addresses that were checked, in the resolver's order, with the URL's own Host header
    and TLS name.
    """

    url: str
    addresses: tuple[str, ...]
    public: bool  # every address the name resolved to is public

    def request(self, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """The URL with `address` as its host, the headers and the request extensions."""
        original = httpx.URL(self.url)
        # A fresh connection per delivery: another host's connection to this address (its TLS
        # session made for another name) is never reused (the client keeps none alive either).
        headers = {"Host": original.netloc.decode("ascii"), "Connection": "close"}
        extensions: dict[str, Any] = {}
        if original.scheme == "https":
            extensions["sni_hostname"] = original.raw_host.decode("ascii")
        return original.copy_with(host=address), headers, extensions


async def pin(url: str, resolver: Resolver = resolve) -> Pinned | None:
    """Resolve a usable URL's host once; None when the name does not resolve (the delivery is
    tried again later, as a POST that failed would be). The name resolved is the one the Host
    header and TLS will carry (httpx's IDNA form), so the check and the request agree."""
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = await resolver(parsed.raw_host.decode("ascii"), port)
        public = all(_public(ipaddress.ip_address(address)) for address in addresses)
    except (OSError, UnicodeError, ValueError):
        return None
    if not addresses:
        return None
    return Pinned(url, tuple(addresses), public)


def proxied(url: str) -> bool:
    """Whether the environment sends this URL through an HTTP proxy (httpx's `trust_env`).

    Through a proxy the connection is the proxy's to make: a pinned address would be what the
    proxy connects to and, over its CONNECT tunnel, what TLS checks the certificate against,
    which fails. Such deliveries are checked, then sent by name; the egress proxy is the
    operator's own control over where they go.
    """
    parsed = httpx.URL(url)
    found = urllib.request.getproxies()
    if not (found.get(parsed.scheme) or found.get("all")):
        return False
    return not urllib.request.proxy_bypass(parsed.host)


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global, and no private IPv4 address hidden inside an IPv6 one (mapped, 6to4, Teredo,
    NAT64), which would reach the same host."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = (
            address.ipv4_mapped
            or address.sixtofour
            or (address.teredo[1] if address.teredo else None)
        )
        if inner is None and address in NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None and not inner.is_global:
            return False
    return address.is_global


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Sender:
    """POSTs what the outbox holds; run by the poller's lease holder only."""

    def __init__(
        self,
        outbox: Outbox,
        client: httpx.AsyncClient,
        secrets: Mapping[str, bytes],
        metrics: Metrics,
        private_targets: bool = False,
        resolver: Resolver = resolve,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.secrets = secrets
        self.metrics = metrics
        self.private_targets = private_targets
        self.resolver = resolver

    async def send_due(self, now: float) -> dict[str, int]:
        """One pass: every due delivery tried once, CONCURRENCY at a time; counts by outcome."""
        outcome = {"delivered": 0, "retry": 0, "abandoned": 0}
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(delivery: Delivery) -> None:
            async with slots:
                hopeless = False
                try:
                    delivered = await self._deliver(delivery)
                except Refused:
                    hopeless, delivered = True, False
                except Exception:  # a URL httpx cannot use, say: it never will
                    log.exception("webhook_unusable", tenant=delivery.tenant)
                    hopeless, delivered = True, False
            result = await self.outbox.settle(delivery, delivered, now, hopeless=hopeless)
            outcome[result] += 1
            self.metrics.webhooks.labels(result).inc()
            if result == "abandoned":
                log.warning("webhook_abandoned", tenant=delivery.tenant, url=delivery.url,
                            attempts=delivery.attempts + 1)  # fmt: skip

        await asyncio.gather(*(one(d) for d in await self.outbox.take_due(now)))
        return outcome

    async def _deliver(self, delivery: Delivery) -> bool:
        """POST it; a URL a client sent (getRentNumber's `url`) is resolved once, must name a
        public host unless the operator allows otherwise (`webhooks.private_targets`), and is
        sent to the addresses checked. The operator's own URLs are trusted and sent as they are."""
        if not delivery.from_client:
            return await self._post(delivery, delivery.url)
        if not usable_url(delivery.url):
            raise Refused(delivery.url)
        pinned = await pin(delivery.url, self.resolver)
        if pinned is None:
            log.info("webhook_unresolved", tenant=delivery.tenant)
            return False
        if not (pinned.public or self.private_targets):
            log.warning("webhook_target_refused", tenant=delivery.tenant, url=delivery.url)
            raise Refused(delivery.url)
        if self.client.trust_env and proxied(delivery.url):
            return await self._post(delivery, delivery.url)
        for address in pinned.addresses[:-1]:
            try:
                return await self._post(delivery, *pinned.request(address), unreachable=True)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                continue  # the next address the name gave, as a connection by name would
        return await self._post(delivery, *pinned.request(pinned.addresses[-1]))

    async def _post(
        self,
        delivery: Delivery,
        url: str | httpx.URL,
        headers: Mapping[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
        *,
        unreachable: bool = False,
    ) -> bool:
        """True on the receiver's 200; with `unreachable`, a connection failure is raised for
        the caller to try another address."""
        body = delivery.body.encode()
        sent = {**(headers or {}), "Content-Type": "application/json"}
        secret = self.secrets.get(delivery.tenant)
        if secret:
            sent[SIGNATURE_HEADER] = signature(secret, body)
        try:
            answer = await self.client.post(
                url, content=body, headers=sent, timeout=SEND_TIMEOUT, extensions=extensions
            )
        except httpx.HTTPError as exc:
            if unreachable and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                raise
            log.info("webhook_failed", tenant=delivery.tenant, error=type(exc).__name__)
            return False
        if answer.status_code != 200:  # seeds/002:266: HTTP status 200 is the receipt
            log.info("webhook_refused", tenant=delivery.tenant, status=answer.status_code)
            return False
        return True


class Refused(Exception):
    """A client's URL smsproxy will never call: abandoned at once, unsent."""


_CODE = re.compile(r"(?<!\d)(\d{3})[ -](\d{3})(?!\d)|(?<!\d)(\d{4,8})(?!\d)")


def code_in(text: str) -> str:
    """The code an SMS text carries ("Code Instagram: 671 094." -> 671094), else the text."""
    match = _CODE.search(text)
    if match is None:
        return text
    return "".join(part for part in match.groups() if part)


class Notifier:
    """Turns newly seen SMS into owed deliveries: activations go to the tenant's configured
    `webhook_url`, rentals to the `url` given with getRentNumber."""

    def __init__(self, outbox: Outbox, tenant_urls: Mapping[str, str]) -> None:
        self.outbox = outbox
        self.tenant_urls = tenant_urls

    async def activation(self, before: Activation, after: Activation) -> None:
        url = self.tenant_urls.get(after.tenant, "")
        if not url:
            return
        for message in after.messages[len(before.messages) :]:
            await self.outbox.enqueue(after.tenant, url, {
                "activationId": after.id, "service": after.service,
                "text": message.text or message.code, "code": message.code,
                "country": after.country, "receivedAt": timestamp(message.at),
            })  # fmt: skip

    async def rent(self, before: Rent, after: Rent) -> None:
        """The seed's webhook shape, `activationId` holding the rent id; `rentId`, `phone` and
        `phoneFrom` say more for rent-aware receivers (extra keys break no JSON reader)."""
        if not after.url:
            return
        for sms in after.messages[len(before.messages) :]:
            await self.outbox.enqueue(after.tenant, after.url, {
                "activationId": after.id, "rentId": after.id, "service": after.service,
                "text": sms.text, "code": code_in(sms.text), "country": after.country,
                "receivedAt": timestamp(sms.date), "phone": after.phone,
                "phoneFrom": sms.sender,
            }, from_client=True)  # fmt: skip
