"""The one place an adapter's request meets httpx: errors mapped, one log line per call."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import structlog

from proxy.providers.base import OutcomeUnknown, ProviderAnswerInvalid, RequestNotSent

log = structlog.get_logger("upstream")

# Most specific first: these never reached the upstream, so nothing can have happened there.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def make_client(max_connections: int = 100) -> httpx.AsyncClient:
    """The shared client: pooled, explicit timeouts (adapters pass their own per request)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(15.0, connect=5.0, pool=5.0),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=50),
        headers={"user-agent": "smsproxy"},
    )


async def send(
    client: httpx.AsyncClient,
    *,
    provider: str,
    endpoint: str,
    method: str,
    url: str,
    timeouts: httpx.Timeout,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """Send one upstream request; raise RequestNotSent or OutcomeUnknown instead of httpx errors."""
    started = time.perf_counter()
    status: int | str = "error"
    try:
        response = await client.request(
            method, url, headers=headers, params=params, timeout=timeouts
        )
        status = response.status_code
        return response
    except NOT_SENT as exc:
        status = type(exc).__name__
        raise RequestNotSent(provider, f"{endpoint}: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        status = type(exc).__name__
        raise OutcomeUnknown(provider, f"{endpoint}: {type(exc).__name__}") from exc
    finally:
        log.info(
            "upstream_call",
            provider=provider,
            endpoint=endpoint,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )


def json_body(provider: str, endpoint: str, response: httpx.Response) -> Any:
    """The answer's JSON, or ProviderAnswerInvalid naming what came instead."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        snippet = response.text[:80]
        raise ProviderAnswerInvalid(
            provider, f"{endpoint}: HTTP {response.status_code}, not JSON: {snippet!r}"
        ) from exc


def retry_after_of(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header given as a number (the HTTP-date form is ignored)."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def loose_json(response: httpx.Response) -> Any:
    """The body's JSON, or None: for error answers whose body may be a page or empty."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
