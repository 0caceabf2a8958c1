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
from collections.abc import Mapping
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


async def public_target(url: str) -> bool:
    """Every address the URL's host resolves to is a public one: a client's URL must not make
    smsproxy call this network's own hosts (loopback, private, link-local such as a cloud's
    metadata service). A name that does not resolve passes: its POST fails and is retried."""
    if not usable_url(url):
        return False
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port)
    except (OSError, UnicodeError):
        return True
    addresses = {str(info[4][0]).split("%")[0] for info in found}  # "%": an IPv6 zone
    return all(_public(ipaddress.ip_address(address)) for address in addresses)


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
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.secrets = secrets
        self.metrics = metrics
        self.private_targets = private_targets

    async def send_due(self, now: float) -> dict[str, int]:
        """One pass: every due delivery tried once, CONCURRENCY at a time; counts by outcome."""
        outcome = {"delivered": 0, "retry": 0, "abandoned": 0}
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(delivery: Delivery) -> None:
            async with slots:
                try:
                    allowed = await self._allowed(delivery)
                    delivered = allowed and await self._post(delivery)
                except Exception:  # a URL httpx cannot use, say: it never will
                    log.exception("webhook_unusable", tenant=delivery.tenant)
                    allowed = delivered = False
            result = await self.outbox.settle(delivery, delivered, now, hopeless=not allowed)
            outcome[result] += 1
            self.metrics.webhooks.labels(result).inc()
            if result == "abandoned":
                log.warning("webhook_abandoned", tenant=delivery.tenant, url=delivery.url,
                            attempts=delivery.attempts + 1)  # fmt: skip

        await asyncio.gather(*(one(d) for d in await self.outbox.take_due(now)))
        return outcome

    async def _allowed(self, delivery: Delivery) -> bool:
        """A URL a client sent (getRentNumber's `url`) must name a public host unless the
        operator allows otherwise (`webhooks.private_targets`); the operator's own URLs are
        trusted."""
        if self.private_targets or not delivery.from_client or await public_target(delivery.url):
            return True
        log.warning("webhook_target_refused", tenant=delivery.tenant, url=delivery.url)
        return False

    async def _post(self, delivery: Delivery) -> bool:
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json"}
        secret = self.secrets.get(delivery.tenant)
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
        try:
            answer = await self.client.post(
                delivery.url, content=body, headers=headers, timeout=SEND_TIMEOUT
            )
        except httpx.HTTPError as exc:
            log.info("webhook_failed", tenant=delivery.tenant, error=type(exc).__name__)
            return False
        if answer.status_code != 200:  # seeds/002:266: HTTP status 200 is the receipt
            log.info("webhook_refused", tenant=delivery.tenant, status=answer.status_code)
            return False
        return True


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
