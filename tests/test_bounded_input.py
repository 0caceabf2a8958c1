"""Issue 14, point 3: input without bounds. Each finding, over real HTTP against a served proxy.

- numbers: ASCII digits only, at most 18 (`id=²` and 4,301 digits were ERROR_SQL with an
  error-level traceback; `id=١` was read as 1);
- the body: read chunk by chunk up to `server.max_body_bytes`, then BAD_ACTION unread;
- the parameters: at most `server.max_params`, counted before they are decoded;
- logs: the client's action and X-Request-Id clipped (proxy.logging.clip);
- stored strings: orderId, rent url and operator names over their caps answer BAD_ACTION.
"""

from __future__ import annotations

import json
import socket
import time
import tracemalloc
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import httpx
import pytest
import redis
from structlog.testing import capture_logs

from proxy.app import create_app
from proxy.config import settings_from_dict
from proxy.logging import CLIENT_VALUE_CHARS, clip
from proxy.protocol.requests import OPERATOR_CHARS, ORDER_ID_CHARS, URL_CHARS
from proxy.redis_server import EmbeddedRedis
from proxy.serving import ThreadedServer
from tests.conftest import TENANT_KEYS, Proxy, Upstream, proxy_config

KEY = TENANT_KEYS["alice"]
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
SUPERSCRIPT_TWO = "²"  # str.isdigit() is true, int() refuses it
HUGE = "9" * 4301  # one digit past int()'s limit
# Values a number parameter must refuse: int() failed on the first two (ERROR_SQL), read the
# others as numbers.
NOT_NUMBERS = [SUPERSCRIPT_TWO, HUGE, "١", "１", "9" * 19, "1_0", "+5"]
INVALID_PHONE = {"status": "error", "message": "INVALID_PHONE"}
INVALID_TIME = {"status": "error", "message": "INVALID_TIME"}


def arabic(value: int) -> str:
    return str(value).translate(ARABIC_INDIC)


Logs = Sequence[MutableMapping[str, Any]]


def errors(logs: Logs) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e.get("log_level") in ("error", "critical", "exception")]


def answer(response: httpx.Response) -> Any:
    """The protocol answer: the bare word, or the decoded JSON."""
    assert response.status_code == 200
    if response.headers["content-type"].startswith("application/json"):
        return response.json()
    return response.text


@pytest.fixture(name="make_limited")
def fixture_make_limited(
    redis_server: EmbeddedRedis, smspva: Upstream, vaksms: Upstream
) -> Iterator[Any]:
    """A proxy with its own `[server]` limits, otherwise as tests/conftest.py builds them."""
    servers: list[ThreadedServer] = []
    clients: list[httpx.Client] = []

    def make(**server: int) -> Proxy:
        config = proxy_config(redis_server.url, smspva.url, vaksms.url)
        config["server"] = server
        settings = settings_from_dict(config)
        servers.append(ThreadedServer(create_app(settings)).start())
        clients.append(httpx.Client(timeout=30))
        return Proxy(servers[-1].url, settings, clients[-1])

    yield make
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


# --- numbers -------------------------------------------------------------------------------

# (action, the number parameter, other parameters, the answer for a value that is no number)
WORDED = [
    ("getStatus", "id", {}, "NO_ACTIVATION"),
    ("getStatusV2", "id", {}, "NO_ACTIVATION"),
    ("getFullSms", "id", {}, "NO_ACTIVATION"),
    ("setStatus", "id", {"status": "8"}, "WRONG_ACTIVATION_ID"),
    ("setStatus", "status", {"id": "1"}, "BAD_STATUS"),
    ("getExtraActivation", "activationId", {}, "WRONG_ACTIVATION_ID"),
    ("checkExtraActivation", "activationId", {}, "WRONG_ACTIVATION_ID"),
    ("getAdditionalService", "id", {"service": "tg"}, "WRONG_ACTIVATION_ID"),
    ("getNumber", "country", {"service": "tg"}, "NO_NUMBERS"),
    ("getRentStatus", "id", {}, INVALID_PHONE),
    ("setRentStatus", "id", {"status": "1"}, INVALID_PHONE),
    ("continueRentNumber", "id", {"rent_time": "4"}, INVALID_PHONE),
    ("getContinueRentPriceNumber", "id", {"rent_time": "4"}, INVALID_PHONE),
    ("getRentNumber", "rent_time", {"service": "tg"}, INVALID_TIME),
    ("getRentServicesAndCountries", "rent_time", {}, INVALID_TIME),
]


NOT_NUMBER_IDS = ["superscript", "4301-digits", "arabic-indic", "fullwidth", "19-digits",
                  "underscore", "plus"]  # fmt: skip


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=NOT_NUMBER_IDS)
def test_a_number_that_is_not_ascii_digits_answers_the_actions_word(
    proxy: Proxy, value: str
) -> None:
    """Each action's own word for a bad value, HTTP 200, and no error-level log line."""
    with capture_logs() as logs:
        for action, name, extra, expected in WORDED:
            response = proxy.call(action=action, **{**extra, name: value})
            assert answer(response) == expected, (action, name)
    assert errors(logs) == []


# Parameters with no error word of their own: a value that is no number means the default
# (getHistory paging, rent SMS paging) or a country that matches nothing (catalogs).
DEFAULTED = [
    ("getHistory", "limit", {}),
    ("getHistory", "offset", {}),
    ("getHistory", "size", {}),
    ("getPrices", "country", {}),
    ("getNumbersStatus", "country", {}),
    ("getOperators", "country", {}),
    ("getServicesList", "country", {}),
    ("getRentStatus", "page", {"id": "1"}),
]


@pytest.mark.parametrize("value", [SUPERSCRIPT_TWO, HUGE], ids=["superscript", "4301-digits"])
def test_a_number_without_a_word_is_no_error_either(proxy: Proxy, value: str) -> None:
    with capture_logs() as logs:
        for action, name, extra in DEFAULTED:
            response = proxy.call(action=action, **{**extra, name: value})
            assert response.status_code == 200
            assert response.text != "ERROR_SQL", (action, name)
    assert errors(logs) == []


def test_get_prices_for_a_country_that_is_no_number_is_empty(proxy: Proxy) -> None:
    """Was ERROR_SQL; `١` was read as Ukraine (1)."""
    for value in (SUPERSCRIPT_TWO, HUGE, arabic(1)):
        assert proxy.call(action="getPrices", country=value).json() == {}
    assert proxy.call(action="getPrices", country="1").json() != {}


def test_unicode_digits_are_not_the_activation_id(proxy: Proxy) -> None:
    """`id=١` read as 1: the client's own activation, reached with digits it never sent."""
    activation_id, _ = proxy.buy()
    other = arabic(activation_id)
    assert proxy.text(action="getStatus", id=other) == "NO_ACTIVATION"
    assert proxy.text(action="getStatusV2", id=other) == "NO_ACTIVATION"
    assert proxy.text(action="getFullSms", id=other) == "NO_ACTIVATION"
    assert proxy.text(action="setStatus", id=other, status=8) == "WRONG_ACTIVATION_ID"
    assert proxy.text(action="setStatus", id=activation_id, status=arabic(8)) == "BAD_STATUS"
    assert proxy.text(action="getExtraActivation", activationId=other) == "WRONG_ACTIVATION_ID"
    assert proxy.text(action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"  # untouched
    assert proxy.text(action="setStatus", id=activation_id, status=8) == "ACCESS_CANCEL"


def test_unicode_digits_are_not_the_rent_id(proxy: Proxy) -> None:
    rented = proxy.call(action="getRentNumber", service="tg", rent_time=4).json()
    assert rented["status"] == "success", rented
    rent_id = int(rented["phone"]["id"])
    assert proxy.call(action="getRentStatus", id=arabic(rent_id)).json() == INVALID_PHONE
    assert proxy.call(action="setRentStatus", id=arabic(rent_id), status=2).json() == (
        INVALID_PHONE
    )
    waiting = proxy.call(action="getRentStatus", id=rent_id).json()
    assert waiting["message"] == "STATUS_WAIT_CODE"  # the rental, not cancelled


def test_unicode_digits_are_not_rent_hours(proxy: Proxy) -> None:
    """`rent_time=١٢` was a 12-hour rental."""
    response = proxy.call(action="getRentNumber", service="tg", rent_time=arabic(12))
    assert response.json() == INVALID_TIME


def test_unicode_digits_are_not_a_page_size(proxy: Proxy) -> None:
    """`limit=١` was a page of 1: now it is no limit, the default page (50)."""
    for _ in range(2):
        proxy.buy()
    assert len(proxy.call(action="getHistory", limit=arabic(1)).json()) == 2
    assert len(proxy.call(action="getHistory", limit=1).json()) == 1


def test_eighteen_digits_are_a_number(proxy: Proxy) -> None:
    """The cap is above any id: 18 digits are read (an unknown id), 19 are not a number."""
    assert proxy.text(action="getStatus", id="9" * 18) == "NO_ACTIVATION"
    assert proxy.text(action="setStatus", id="9" * 18, status=8) == "NO_ACTIVATION"
    assert proxy.text(action="setStatus", id="9" * 19, status=8) == "WRONG_ACTIVATION_ID"


# --- the body --------------------------------------------------------------------------------

CHUNK = b"x" * 65_536  # one buffer, yielded again and again: the test allocates no 200 MB
BIG = 200 * 1024 * 1024


class Chunks:
    """200 MB of form body, counted as it is sent."""

    def __init__(self, total: int = BIG) -> None:
        self.head = f"api_key={KEY}&action=getBalance&filler=".encode()
        self.total = total
        self.sent = 0

    def __len__(self) -> int:
        return len(self.head) + self.total

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        while self.sent < self.total:
            self.sent += len(CHUNK)
            yield CHUNK


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_200_mb_body_is_refused_unread(proxy: Proxy, declared: bool) -> None:
    """Was read whole (66 -> 453 MB). Now BAD_ACTION, HTTP 200, at once, and the connection
    closed: at most the limit is held, and the rest is never read."""
    body = Chunks()
    headers = {**FORM, **({"content-length": str(len(body))} if declared else {})}
    tracemalloc.start()
    try:
        started = time.monotonic()
        response = proxy.client.post(proxy.endpoint, content=iter(body), headers=headers)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (response.status_code, response.text) == (200, "BAD_ACTION")
    assert response.headers["connection"] == "close"
    assert elapsed < 5
    assert body.sent < BIG / 4, f"{body.sent} bytes sent"
    assert peak < 4 * 1024 * 1024, f"{peak} bytes at peak"


def test_the_body_is_not_read_past_a_declared_length(proxy: Proxy) -> None:
    """Headers announcing 200 MB, and 64 KB sent: the answer comes without waiting for more."""
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /stubs/handler_api.php HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {BIG}\r\n\r\n".encode()
            + CHUNK
        )
        received = b""
        while b"BAD_ACTION" not in received:
            data = sock.recv(4096)
            if not data:
                break
            received += data
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(b"\r\n\r\nBAD_ACTION")


def test_a_client_gone_before_its_body_is_no_error(proxy: Proxy) -> None:
    """A client that announces a body and hangs up: logged as refused, not as a failure."""
    host, port = proxy.url.removeprefix("http://").split(":")
    with capture_logs() as logs:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                b"POST /stubs/handler_api.php HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 1000\r\n\r\napi_key=x"
            )
            time.sleep(0.1)
        deadline = time.monotonic() + 5
        while not any(e["event"] == "request" for e in logs) and time.monotonic() < deadline:
            time.sleep(0.02)
    (line,) = [e for e in logs if e["event"] == "request"]
    assert line["refused"] == "client disconnected"
    assert errors(logs) == []


def test_a_body_at_the_limit_is_read(make_limited: Any) -> None:
    proxy = make_limited(max_body_bytes=1000)
    head = f"api_key={KEY}&action=getBalance&filler="
    exact = head + "x" * (1000 - len(head))
    response = proxy.client.post(proxy.endpoint, content=exact.encode(), headers=FORM)
    assert response.text.startswith("ACCESS_BALANCE:")
    response = proxy.client.post(proxy.endpoint, content=(exact + "x").encode(), headers=FORM)
    assert response.text == "BAD_ACTION"
    chunked = iter([head.encode(), b"x" * (1000 - len(head)), b"x"])
    response = proxy.client.post(proxy.endpoint, content=chunked, headers=FORM)
    assert response.text == "BAD_ACTION"


def test_a_query_string_over_the_limit_is_refused(make_limited: Any) -> None:
    proxy = make_limited(max_body_bytes=1000)
    response = proxy.call(action="getBalance", filler="x" * 900)
    assert response.text.startswith("ACCESS_BALANCE:")
    response = proxy.call(action="getBalance", filler="x" * 1000)
    assert (response.status_code, response.text) == (200, "BAD_ACTION")


def test_a_large_json_body_is_refused(proxy: Proxy) -> None:
    body = json.dumps({"api_key": KEY, "action": "getBalance", "filler": "x" * 70_000})
    response = proxy.client.post(
        proxy.endpoint, content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.text) == (200, "BAD_ACTION")


def test_a_deeply_nested_json_body_is_no_error(proxy: Proxy) -> None:
    """json.loads raises RecursionError (not ValueError) past its depth: once an ERROR_SQL."""
    with capture_logs() as logs:
        response = proxy.client.post(
            proxy.endpoint, params={"api_key": KEY, "action": "getBalance"},
            content="[" * 50_000, headers={"content-type": "application/json"},
        )  # fmt: skip
    assert response.text.startswith("ACCESS_BALANCE:")
    assert errors(logs) == []


# --- the parameters --------------------------------------------------------------------------


Pairs = list[tuple[str, str | int | float | bool | None]]


def _many(count: int) -> Pairs:
    pairs: Pairs = [("api_key", KEY), ("action", "getBalance")]
    return pairs + [(f"p{i}", "1") for i in range(count - 2)]


def test_max_params_in_a_query_and_a_form(proxy: Proxy) -> None:
    """64 parameters by default, in the query and the body together."""
    assert proxy.client.get(proxy.endpoint, params=_many(64)).text.startswith("ACCESS_BALANCE:")
    assert proxy.client.get(proxy.endpoint, params=_many(65)).text == "BAD_ACTION"
    assert proxy.client.post(proxy.endpoint, data=dict(_many(64))).text.startswith(
        "ACCESS_BALANCE:"
    )
    assert proxy.client.post(proxy.endpoint, data=dict(_many(65))).text == "BAD_ACTION"
    split = proxy.client.post(
        proxy.endpoint, params=_many(40), data={f"q{i}": "1" for i in range(25)}
    )
    assert split.text == "BAD_ACTION"
    repeated = _many(2) + [("id", "1")] * 63
    assert proxy.client.get(proxy.endpoint, params=repeated).text == "BAD_ACTION"
    many_keys = json.dumps(dict(_many(65)))
    response = proxy.client.post(
        proxy.endpoint, content=many_keys, headers={"content-type": "application/json"}
    )
    assert response.text == "BAD_ACTION"


def test_a_million_parameters_are_refused_fast(make_limited: Any) -> None:
    """Took 1.7 s of the event loop (every other request waited). Refused by the count alone,
    here with a body limit large enough to let the million through to it."""
    proxy = make_limited(max_body_bytes=8 * 1024 * 1024)
    body = f"api_key={KEY}&action=getBalance&" + "&".join(["p=1"] * 1_000_000)
    started = time.monotonic()
    response = proxy.client.post(proxy.endpoint, content=body.encode(), headers=FORM)
    elapsed = time.monotonic() - started
    assert (response.status_code, response.text) == (200, "BAD_ACTION")
    assert elapsed < 0.5, elapsed


def test_a_million_parameters_over_the_default_limits(proxy: Proxy) -> None:
    body = f"api_key={KEY}&action=getBalance&" + "&".join(["p=1"] * 1_000_000)
    started = time.monotonic()
    response = proxy.client.post(proxy.endpoint, content=body.encode(), headers=FORM)
    assert (response.status_code, response.text) == (200, "BAD_ACTION")
    assert time.monotonic() - started < 0.5


# --- logs ------------------------------------------------------------------------------------


def test_clip() -> None:
    assert clip(None) is None
    assert clip("a" * CLIENT_VALUE_CHARS) == "a" * CLIENT_VALUE_CHARS
    assert clip("a" * 100_000) == "a" * CLIENT_VALUE_CHARS + "…[100000 chars]"
    assert clip("getStatus", 3) == "get…[9 chars]"


def _longest_logged(logs: Logs) -> int:
    return max(len(v) for entry in logs for v in entry.values() if isinstance(v, str))


def test_a_1_mb_action_is_logged_clipped(make_limited: Any) -> None:
    """One 1 MB request wrote 1 MB of log, before authentication."""
    proxy = make_limited(max_body_bytes=4 * 1024 * 1024)
    action = "getStatus" + "A" * (1024 * 1024)
    with capture_logs() as logs:
        response = proxy.client.post(proxy.endpoint, data={"action": action, "api_key": "no"})
    assert response.text == "BAD_KEY"
    (line,) = [e for e in logs if e["event"] == "request"]
    assert line["action"].startswith(action[:CLIENT_VALUE_CHARS])
    assert len(line["action"]) < CLIENT_VALUE_CHARS + 32
    assert "…" in line["action"]
    assert _longest_logged(logs) < CLIENT_VALUE_CHARS + 32


def test_a_1_mb_action_over_the_body_limit_is_not_logged(proxy: Proxy) -> None:
    with capture_logs() as logs:
        response = proxy.client.post(proxy.endpoint, data={"action": "A" * (1024 * 1024)})
    assert response.text == "BAD_ACTION"
    (line,) = [e for e in logs if e["event"] == "request"]
    assert line["action"] is None
    assert line["refused"] == "body over 65536 bytes"
    assert _longest_logged(logs) < CLIENT_VALUE_CHARS + 32


def test_a_long_request_id_is_logged_clipped(proxy: Proxy) -> None:
    request_id = "r" * 8000
    with capture_logs() as logs:
        response = proxy.client.get(
            proxy.endpoint, params={"api_key": KEY, "action": "getBalance"},
            headers={"x-request-id": request_id},
        )  # fmt: skip
    assert response.text.startswith("ACCESS_BALANCE:")
    (line,) = [e for e in logs if e["event"] == "request"]
    assert line["request_id"].startswith("r" * CLIENT_VALUE_CHARS)
    assert len(line["request_id"]) < CLIENT_VALUE_CHARS + 32
    short = "abc-123"
    with capture_logs() as logs:
        proxy.client.get(proxy.endpoint, params={"action": "x"}, headers={"x-request-id": short})
    assert [e["request_id"] for e in logs if e["event"] == "request"] == [short]


# --- stored strings --------------------------------------------------------------------------


def _largest_stored(proxy: Proxy) -> int:
    """The longest key or value under the proxy's prefix (strings and hash fields)."""
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=False)
    largest = 0
    try:
        for key in client.scan_iter(match=proxy.settings.redis.key_prefix.encode() + b"*"):
            largest = max(largest, len(key))
            kind = client.type(key)
            if kind == b"string":
                largest = max(largest, int(client.strlen(key)))
            elif kind == b"hash":
                largest = max(largest, *(len(v) for v in client.hvals(key)), 0)
    finally:
        client.close()
    return largest


def _post(proxy: Proxy, **params: Any) -> httpx.Response:
    return proxy.client.post(proxy.endpoint, data={"api_key": KEY, **params})


def test_a_100_kb_order_id_is_refused(
    make_limited: Any, smspva: Upstream, vaksms: Upstream
) -> None:
    """Was kept in Redis (a key named after it). Now BAD_ACTION, and nothing bought; with a
    body limit that lets 100 KB through, and in a query within the default limits."""
    proxy = make_limited(max_body_bytes=1024 * 1024)
    response = _post(proxy, action="getNumberV2", service="tg", orderId="o" * 100_000)
    assert (response.status_code, response.text) == (200, "BAD_ACTION")
    response = proxy.call(action="getNumberV2", service="tg", orderId="o" * 10_000)
    assert (response.status_code, response.text) == (200, "BAD_ACTION")
    assert not smspva.emulator.orders and not vaksms.emulator.orders
    assert _largest_stored(proxy) < 4096
    longest = "o" * ORDER_ID_CHARS
    body = proxy.call(action="getNumberV2", service="tg", orderId=longest).json()
    assert "activationId" in body
    assert proxy.text(action="getNumberV2", service="tg", orderId=longest) == (
        "ORDER_ALREADY_EXISTS"
    )
    assert proxy.text(action="getNumberV2", service="tg", orderId=longest + "o") == "BAD_ACTION"


def test_a_100_kb_rent_url_is_refused(
    make_limited: Any, smspva: Upstream, vaksms: Upstream
) -> None:
    proxy = make_limited(max_body_bytes=1024 * 1024)
    url = "https://example.com/hook?" + "u" * 100_000
    response = _post(proxy, action="getRentNumber", service="tg", rent_time="4", url=url)
    assert (response.status_code, response.text) == (200, "BAD_ACTION")
    response = proxy.call(action="getRentNumber", service="tg", rent_time=4, url=url[:10_000])
    assert (response.status_code, response.text) == (200, "BAD_ACTION")
    assert not smspva.emulator.rent.orders and not vaksms.emulator.orders
    assert _largest_stored(proxy) < 4096
    longest = "https://example.com/hook?u=" + "u" * (URL_CHARS - 27)
    body = proxy.call(action="getRentNumber", service="tg", rent_time=4, url=longest).json()
    assert body["status"] == "success", body


def test_a_long_operator_name_is_refused(proxy: Proxy, smspva: Upstream) -> None:
    """An operator that cannot be honoured is kept with the activation (the fallback):
    a name past OPERATOR_CHARS is no operator, and answers BAD_ACTION."""
    name = "m" * (OPERATOR_CHARS + 1)
    for action in ("getNumber", "getNumberV2"):
        response = proxy.call(action=action, service="tg", operator=f"mts,{name}")
        assert response.text == "BAD_ACTION"
    response = proxy.call(action="getRentNumber", service="tg", operator=name)
    assert response.text == "BAD_ACTION"
    assert not smspva.emulator.orders
