"""/admin, its refresh and login, and the JSON twin /admin/api/...: read-only, behind
[admin] token.

A browser cannot send a bearer header with a page load, so the login form (or
`/admin/login?token=...`) trades the token for a session cookie: its issue time and an HMAC of
it under the token, good on every replica for 12 hours or until the token changes, never the
token itself. Scripts send `Authorization: Bearer <token>` to any of these routes. Without a token
configured, the page is not served at all: it shows tenants' spend and providers' balances.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from proxy.admin import bearer_matches
from proxy.config import Settings
from proxy.operator import page
from proxy.operator.figures import Sources, as_section, overview
from proxy.operator.schema import SECTIONS, Overview
from proxy.store.activations import StoreError

log = structlog.get_logger("operator")

COOKIE = "smsproxy_admin"
WRONG_TOKEN_PAUSE = 0.5  # seconds before a wrong token hears so: guessing is slow
SESSION_SECONDS = 12 * 3600  # a login lasts this long
OVERVIEW_SECONDS = 5.0  # the most the figures are waited for (then 503: the page says stale)
MAX_LOGIN_BYTES = 4096

# The page's own inline style and script; nothing from elsewhere, nothing framing it.
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def session_value(token: str, issued: int) -> str:
    """The cookie a right token earns at `issued` (Unix seconds): the time, then HMAC-SHA256
    of a fixed label and the time under the token."""
    label = f"smsproxy operator session 1:{issued}".encode()
    return f"{issued}.{hmac.new(token.encode(), label, hashlib.sha256).hexdigest()}"


class Gate:
    """Who may see the page: a bearer header, or a session cookie from this token issued
    less than SESSION_SECONDS ago."""

    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        self.clock = clock
        self.guessing = asyncio.Lock()  # wrong tokens answered one at a time, slowly

    def allows(self, request: Request) -> bool:
        if not self.token:
            return False
        header = request.headers.get("authorization", "")
        if header.strip().lower().startswith("bearer"):
            return bearer_matches(header, self.digest)
        # Another scheme (a reverse proxy's Basic auth, say) is not ours: the cookie decides.
        cookie = request.cookies.get(COOKIE, "")
        issued, _, _ = cookie.partition(".")
        if not issued.isdigit() or not 0 <= self.clock() - int(issued) < SESSION_SECONDS:
            return False
        return hmac.compare_digest(cookie.encode(), session_value(self.token, int(issued)).encode())

    def right(self, given: str) -> bool:
        digest = hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest()
        return bool(self.token) and hmac.compare_digest(digest, self.digest)

    def session(self) -> str:
        return session_value(self.token, int(self.clock()))


def operator_page_routes(settings: Settings) -> list[Route]:
    """The page and its twin for `settings` (token, refresh, providers, tenants)."""
    gate = Gate(settings.admin.token)

    def sources(request: Request) -> Sources:
        return Sources(
            ctx=request.state.ctx,
            providers=settings.providers,
            tenants=settings.tenants,
            refresh_seconds=settings.admin.refresh_seconds,
        )

    def guarded(
        endpoint: Callable[[Request, Overview], Response], *, html: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            if not settings.admin.token:
                return PlainTextResponse(NO_TOKEN, status_code=403)
            if not gate.allows(request):
                if html:
                    return _html(page.render_login(action=_login_url(request)), 401)
                return JSONResponse({"error": "unauthorized"}, status_code=401, headers=CHALLENGE)
            try:
                async with asyncio.timeout(OVERVIEW_SECONDS):
                    view = await overview(sources(request))
            except (StoreError, TimeoutError) as exc:
                error = str(exc) or f"no answer from Redis within {OVERVIEW_SECONDS:g} s"
                log.warning("operator_page_unavailable", error=error)
                return JSONResponse({"status": "unavailable", "redis": error}, status_code=503)
            return endpoint(request, view)

        return handle

    async def login(request: Request) -> Response:
        if not settings.admin.token:
            return PlainTextResponse(NO_TOKEN, status_code=403)
        given = await _given_token(request)
        if given is None or not gate.right(given):
            if given is not None:
                async with gate.guessing:  # guesses in parallel wait for each other
                    await asyncio.sleep(WRONG_TOKEN_PAUSE)
            message = "" if given is None else "Wrong token."
            return _html(page.render_login(message, action=_login_url(request)), 401)
        response = Response(status_code=303, headers={"location": _admin_url(request)})
        response.set_cookie(
            COOKIE, gate.session(), max_age=SESSION_SECONDS, path=_admin_url(request),
            httponly=True, samesite="strict", secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    async def logout(request: Request) -> Response:
        response = Response(status_code=303, headers={"location": _admin_url(request)})
        response.delete_cookie(COOKIE, path=_admin_url(request))
        return response

    def whole(request: Request, view: Overview) -> Response:
        fragment = _admin_url(request) + "/fragment"
        return _html(page.render_page(view, fragment_url=fragment))

    def fragment(request: Request, view: Overview) -> Response:
        return _html(page.render_fragment(view))

    def api(request: Request, view: Overview) -> Response:
        section = request.path_params.get("section", "overview")
        if section == "overview":
            return JSONResponse(view, headers={"cache-control": "no-store"})
        if section not in SECTIONS:
            return JSONResponse({"error": "no such section", "sections": list(SECTIONS)},
                                status_code=404)  # fmt: skip
        return JSONResponse(as_section(view, section), headers={"cache-control": "no-store"})

    return [
        Route("/admin", guarded(whole, html=True), methods=["GET"]),
        Route("/admin/fragment", guarded(fragment, html=False), methods=["GET"]),
        Route("/admin/login", login, methods=["GET", "POST"]),
        Route("/admin/logout", logout, methods=["GET", "POST"]),
        Route("/admin/api/{section}", guarded(api, html=False), methods=["GET"]),
    ]


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="smsproxy"'}
NO_TOKEN = "the operator page needs [admin] token (SMSPROXY_ADMIN__TOKEN) set\n"


def _html(body: str, status: int = 200) -> Response:
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def _admin_url(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + "/admin"


def _login_url(request: Request) -> str:
    return _admin_url(request) + "/login"


async def _given_token(request: Request) -> str | None:
    """The token a login carries: a form field (POST) or the query (GET); None when none."""
    if request.method == "GET":
        return request.query_params.get("token")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BYTES:
            return ""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    values = fields.get("token")
    return values[0] if values else ""
