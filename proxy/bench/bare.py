"""The bench's reference points, served exactly like `smsproxy serve`: a bare endpoint and a relay.

- The bare endpoint answers a fixed word on the SMS-Activate path, touching no Redis and no
  upstream, so that getStatus throughput can be reported as a ratio to it: absolute req/s on a
  shared, noisy machine say little, the ratio to the same server stack on the same machine at
  the same moment says more.
- The relay (`/relay/<provider>/<path>`) forwards a request to that emulated upstream with the
  proxy's own upstream client (`make_client`) and answers its body: one more server hop and one
  httpx call, no Redis, no routing, no logging. A purchase through it costs what any gateway
  built on this stack pays at the least, so getNumber's added latency splits into the stack's
  share (relay over direct) and smsproxy's own (proxy over relay).
- `/_bench/stack` answers which HTTP parser and event loop serve it (`{"http": "httptools",
  "loop": "uvloop"}`): the comparison is only fair on the stack users run, and a missing
  httptools silently means h11.

Run as `python -m proxy.bench.bare --port N [--upstream NAME=URL ...]`; SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proxy.providers.http import make_client
from proxy.serving import make_server, run, serve_until_signalled

ANSWER = "STATUS_WAIT_CODE"
# proxy.app.HANDLER_PATH, not imported: the reference must not load the app it is compared to
# (the relay takes only the upstream client's settings, proxy.providers.http.make_client).
HANDLER_PATH = "/stubs/handler_api.php"
RELAY_PATH = "/relay/{provider}/{path:path}"
STACK_PATH = "/_bench/stack"
PARSERS = {"HttpToolsProtocol": "httptools", "H11Protocol": "h11"}
FORWARDED_HEADERS = ("apikey",)  # SMSPVA's key travels in a header; VAK-SMS's in the query


async def _fixed(request: Request) -> Response:
    return Response(ANSWER, media_type="text/plain; charset=utf-8")


async def _stack(request: Request) -> Response:
    """The parser uvicorn chose (`main` puts its server in the app's state) and the loop."""
    server = getattr(request.app.state, "server", None)
    protocol = getattr(getattr(server, "config", None), "http_protocol_class", None)
    name = getattr(protocol, "__name__", "")
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    return JSONResponse({"http": PARSERS.get(name, name or None), "loop": loop})


def create_bare_app(upstreams: Mapping[str, str] | None = None) -> Starlette:
    """The proxy's path answering a fixed word like getStatus would; with `upstreams` (name ->
    base URL), the relay to them too."""
    targets = {name: url.rstrip("/") for name, url in (upstreams or {}).items()}
    client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal client
        client = make_client()
        try:
            yield
        finally:
            await client.aclose()

    async def relay(request: Request) -> Response:
        base = targets.get(request.path_params["provider"])
        if base is None or client is None:
            return Response("unknown upstream", status_code=404)
        headers = {k: v for k in FORWARDED_HEADERS if (v := request.headers.get(k)) is not None}
        try:
            answer = await client.get(
                f"{base}/{request.path_params['path']}",
                params=list(request.query_params.multi_items()),
                headers=headers,
            )
        except httpx.HTTPError as exc:
            return Response(type(exc).__name__, status_code=502)
        media_type = answer.headers.get("content-type")
        return Response(answer.content, status_code=answer.status_code, media_type=media_type)

    return Starlette(
        routes=[
            Route(HANDLER_PATH, _fixed, methods=["GET", "POST"]),
            Route(RELAY_PATH, relay, methods=["GET"]),
            Route(STACK_PATH, _stack, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _upstream(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise argparse.ArgumentTypeError(f"expected NAME=URL, got {text!r}")
    return name, url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proxy.bench.bare", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--upstream", type=_upstream, action="append", default=[], metavar="NAME=URL",
        help="relay /relay/NAME/... to URL (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    # The same as run_serve: make_server, no access log, lifespan on, the same event loop.
    app = create_bare_app(dict(args.upstream))
    server = make_server(app, args.host, args.port)
    app.state.server = server
    run(serve_until_signalled([server]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
