"""Webhooks: one POST per SMS to the client's URL (seeds/002:251-268), kept durable in Redis.

SMS-Activate waits for HTTP 200 and otherwise tries again "within 2 hours, but no more than 8
times" (002:266). A delivery is written to Redis (the outbox) as soon as the SMS is seen, so a
restart or a dead replica loses none, and the poller's lease holder sends what is due. A tenant
with a `webhook_secret` gets `X-Smsproxy-Signature: sha256=<hex HMAC-SHA256 of the body>` on
every POST, so its receiver can tell smsproxy's calls from forged ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
import structlog

from proxy.lifecycle import Activation
from proxy.metrics import Metrics
from proxy.protocol.answers import timestamp
from proxy.rent.model import Rent
from proxy.store.keys import Keys

log = structlog.get_logger("webhooks")

ATTEMPTS = 8  # seeds/002:266
WINDOW = 7200.0  # seconds: "within 2 hours"
# Waits after attempts 1..7: eight attempts spread over about 1 h 52 min.
BACKOFF = (30.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 2700.0)
SEND_TIMEOUT = 10.0
BATCH = 50
CONCURRENCY = 10  # POSTs in flight at once: one slow receiver cannot hold up the others
SIGNATURE_HEADER = "X-Smsproxy-Signature"


def usable_url(url: str) -> bool:
    """Only absolute http(s) URLs are called; anything else is not a webhook."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST still owed: where, what, for whom, and how often it was tried."""

    id: str
    url: str
    body: str
    tenant: str
    attempts: int
    created: float


class Outbox:
    """Deliveries in Redis: a hash each and one sorted set scored by when each is due."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def enqueue(self, tenant: str, url: str, payload: Mapping[str, Any]) -> str:
        """Owe one POST of `payload` to `url`, due now."""
        delivery_id = uuid.uuid4().hex
        now = time.time()
        fields = {"url": url, "body": json.dumps(payload), "tenant": tenant,
                  "attempts": "0", "created": repr(now)}  # fmt: skip
        key = self.keys.webhook(delivery_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=cast("dict[Any, Any]", fields))
            pipe.expire(key, int(WINDOW) + 600)
            pipe.zadd(self.keys.webhook_queue(), {delivery_id: now})
            await pipe.execute()
        return delivery_id

    async def take_due(self, now: float, limit: int = BATCH) -> list[Delivery]:
        """Deliveries due by `now`, each pushed SEND_TIMEOUT ahead first, so that a sender
        that dies mid-POST leaves it to be sent again rather than lost."""
        queue = self.keys.webhook_queue()
        ids = cast("list[str]", await self.redis.zrangebyscore(queue, 0, now, 0, limit))
        found = []
        for delivery_id in ids:
            await self.redis.zadd(queue, {delivery_id: now + SEND_TIMEOUT * 3}, xx=True)
            key = self.keys.webhook(delivery_id)
            fields = cast("dict[str, str]", await self.redis.hgetall(key))
            if not fields:
                await self.redis.zrem(queue, delivery_id)  # expired: nothing left to send
                continue
            found.append(
                Delivery(delivery_id, fields["url"], fields["body"], fields["tenant"],
                         int(fields["attempts"]), float(fields["created"]))
            )  # fmt: skip
        return found

    async def settle(self, delivery: Delivery, delivered: bool, now: float) -> str:
        """Drop a delivered or hopeless POST, or schedule the next attempt; the outcome word."""
        attempts = delivery.attempts + 1
        retry_at = now + BACKOFF[min(attempts, len(BACKOFF)) - 1]
        if delivered or attempts >= ATTEMPTS or retry_at - delivery.created > WINDOW:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self.keys.webhook(delivery.id))
                pipe.zrem(self.keys.webhook_queue(), delivery.id)
                await pipe.execute()
            return "delivered" if delivered else "abandoned"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.webhook(delivery.id), "attempts", str(attempts))
            pipe.zadd(self.keys.webhook_queue(), {delivery.id: retry_at})
            await pipe.execute()
        return "retry"

    async def pending(self) -> int:
        return int(await self.redis.zcard(self.keys.webhook_queue()))


class Sender:
    """POSTs what the outbox holds; run by the poller's lease holder only."""

    def __init__(
        self,
        outbox: Outbox,
        client: httpx.AsyncClient,
        secrets: Mapping[str, bytes],
        metrics: Metrics,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.secrets = secrets
        self.metrics = metrics

    async def send_due(self, now: float) -> dict[str, int]:
        """One pass: every due delivery tried once, CONCURRENCY at a time; counts by outcome."""
        outcome = {"delivered": 0, "retry": 0, "abandoned": 0}
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(delivery: Delivery) -> None:
            async with slots:
                delivered = await self._post(delivery)
            result = await self.outbox.settle(delivery, delivered, now)
            outcome[result] += 1
            self.metrics.webhooks.labels(result).inc()
            if result == "abandoned":
                log.warning("webhook_abandoned", tenant=delivery.tenant, url=delivery.url,
                            attempts=delivery.attempts + 1)  # fmt: skip

        await asyncio.gather(*(one(d) for d in await self.outbox.take_due(now)))
        return outcome

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
            })  # fmt: skip
