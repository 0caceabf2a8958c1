"""The bench's reference point: a bare starlette endpoint served exactly like `smsproxy serve`.

It answers a fixed word on the SMS-Activate path, touching no Redis and no upstream, so that
getStatus throughput can be reported as a ratio to it: absolute req/s on a shared, noisy machine
say little, the ratio to the same server stack on the same machine at the same moment says more.

Run as `python -m proxy.bench.bare --port N`; SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxy.serving import make_server, run, serve_until_signalled

ANSWER = "STATUS_WAIT_CODE"
# proxy.app.HANDLER_PATH, not imported: the reference must not load the proxy it is compared to.
HANDLER_PATH = "/stubs/handler_api.php"


async def _fixed(request: Request) -> Response:
    return Response(ANSWER, media_type="text/plain; charset=utf-8")


def create_bare_app() -> Starlette:
    """One route, the proxy's path, answering a fixed word like getStatus would."""
    return Starlette(routes=[Route(HANDLER_PATH, _fixed, methods=["GET", "POST"])])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proxy.bench.bare", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    # The same as run_serve: make_server, no access log, lifespan on, the same event loop.
    server = make_server(create_bare_app(), args.host, args.port, access_log=False)
    run(serve_until_signalled([server]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
