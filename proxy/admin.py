"""The operator endpoints' protection (issue 14): a bearer token, and the admin app's view of
the client app's state when they are served on their own address ([admin] port).

What they show (upstream balances, breaker states, errors, traffic) is the operator's, not the
tenants': `/health/live` and `/health/ready`, for probes, are not guarded.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
S = TypeVar("S", bound=Mapping[str, Any])

OPERATOR_PATHS = ("/health/upstreams", "/metrics")


def _digest(value: str) -> bytes:
    # Compared as digests: equal lengths, so not even the token's length shows in the timing.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def bearer_matches(header: str, expected: bytes) -> bool:
    """Whether an `Authorization` header carries the token whose digest is `expected`."""
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(_digest(given.strip()), expected)


def unauthorized() -> Response:
    return PlainTextResponse(
        "unauthorized\n", status_code=401, headers={"WWW-Authenticate": 'Bearer realm="smsproxy"'}
    )


def require_token(endpoint: Endpoint, token: str) -> Endpoint:
    """`endpoint`, answering 401 (and nothing of its data) unless the request carries
    `Authorization: Bearer <token>`; unchanged when `token` is empty."""
    if not token:
        return endpoint
    expected = _digest(token)

    async def guarded(request: Request) -> Response:
        if not bearer_matches(request.headers.get("authorization", ""), expected):
            return unauthorized()
        return await endpoint(request)

    guarded.__name__ = getattr(endpoint, "__name__", "guarded")
    guarded.__doc__ = endpoint.__doc__
    return guarded


class Shared:
    """The client app's lifespan state while it runs, for the admin app (one state, two ports)."""

    def __init__(self) -> None:
        self.state: Mapping[str, Any] | None = None


def publishing(
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[S]], shared: Shared
) -> Callable[[Starlette], AbstractAsyncContextManager[S]]:
    """`lifespan`, its state also kept in `shared` from startup until shutdown begins."""

    @asynccontextmanager
    async def wrapped(app: Starlette) -> AsyncIterator[S]:
        async with lifespan(app) as state:
            shared.state = state
            try:
                yield state
            finally:
                shared.state = None

    return wrapped


class SharedState:
    """ASGI middleware: each HTTP request sees the client app's state (`request.state.ctx`),
    or gets 503 while the client app is not (or no longer) running."""

    def __init__(self, app: ASGIApp, shared: Shared) -> None:
        self.app = app
        self.shared = shared

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = self.shared.state
            if state is None:
                response = PlainTextResponse("not running\n", status_code=503)
                await response(scope, receive, send)
                return
            scope["state"] = dict(state)
        await self.app(scope, receive, send)
