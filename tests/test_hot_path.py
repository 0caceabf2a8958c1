"""Issue 15: the request path made cheap must answer exactly as before.

- the query string reader is parse_qsl's reading, limits included;
- the response carries what starlette's Response carried, byte for byte;
- what the endpoint is not served directly for (HEAD, other methods, a root_path) still goes
  through starlette, to the same handler;
- X-Request-Id is logged as given (clipped) or made up;
- keys are remembered only once proven, at most one per tenant;
- the per-request metrics are exposed as prometheus_client's own metrics are;
- an answer that cannot be rendered is ERROR_SQL, never an HTTP error.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, MutableMapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from structlog.testing import capture_logs

from proxy import app as app_module
from proxy.actions import Trace
from proxy.app import (
    HANDLER_PATH,
    JSON,
    TEXT,
    HandlerApi,
    Oversized,
    _fields,
    render,
    response_headers,
)
from proxy.config import TenantSettings, hash_key
from proxy.lifecycle import Activation, Message, State
from proxy.logging import clip
from proxy.metrics import LATENCY_BUCKETS, LatencySeries, Metrics, Series
from proxy.protocol import answers
from proxy.protocol.answers import Answer
from proxy.protocol.requests import _NUMBER, NUMBER_DIGITS, number
from proxy.protocol.words import Word
from proxy.tenants import Tenants
from tests.conftest import TENANT_KEYS, Proxy

KEY = TENANT_KEYS["alice"]

# --- the query string -------------------------------------------------------------------------

QUERIES = [
    "", "a", "a=", "=b", "a=b&c", "&&a=1&&", "a=1=2&b", "a+b=c%20d&e=%zz&f=%E2%82%AC", "x=%ff%fe",
    "a=1;b=2", "&", "=", "==", "k=v+v", "%41=%42", "a=\xe9", "api_key=k&action=getStatus&id=1",
]  # fmt: skip


def _parse_qsl(text: str, most: int) -> list[tuple[str, str]] | str:
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=most)
    except ValueError:
        return "refused"


def _ours(text: str, most: int) -> list[tuple[str, str]] | str:
    try:
        return _fields(text, most)
    except Oversized:
        return "refused"


@pytest.mark.parametrize("query", QUERIES)
def test_the_query_is_read_as_parse_qsl_reads_it(query: str) -> None:
    for most in (0, 1, 2, 3, 100):
        assert _ours(query, most) == _parse_qsl(query, most), (query, most)


def test_random_queries_are_read_as_parse_qsl_reads_them() -> None:
    rng = random.Random(15)
    alphabet = "ab=&%+2F0x\xe9 ;"
    for _ in range(20_000):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        most = rng.randint(0, 6)
        assert _ours(query, most) == _parse_qsl(query, most), (query, most)


def _number_by_pattern(value: str | None, signed: bool) -> int | None:
    """`number` as it read values before its fast path."""
    if value is None:
        return None
    text = value.strip()
    if len(text) > NUMBER_DIGITS + 1 or not _NUMBER.fullmatch(text):
        return None
    if text.startswith("-") and not signed:
        return None
    return int(text)


def test_numbers_are_read_as_the_pattern_reads_them() -> None:
    rng = random.Random(15)
    alphabet = "0123456789- ²١１_+\t."
    values = ["9" * 18, "9" * 19, "0" * 18, "0" * 19, " 12 ", "-0", "-" + "9" * 18, "", None]
    for _ in range(20_000):
        values.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 21))))
    for value in values:
        for signed in (False, True):
            assert number(value, signed=signed) == _number_by_pattern(value, signed), value


# --- the response ------------------------------------------------------------------------------

ANSWERS = [
    answers.word(Word.STATUS_WAIT_CODE),
    answers.word(Word.STATUS_OK, "1234"),
    answers.word(Word.ACCESS_NUMBER, 2907707183, "79991234567"),
    answers.word(Word.FULL_SMS, "Ваш код: 1234"),
    answers.json_answer({"status": "success", "text": "код ✓", "n": 1.5}, "X"),
    answers.json_answer([], "HISTORY"),
]


@pytest.mark.parametrize("answer", ANSWERS, ids=[a.word for a in ANSWERS])
@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "close"])
def test_the_response_is_what_starlette_sent(answer: Answer, close: bool) -> None:
    """The body and headers starlette's Response made of the same answer, in the same order
    (`connection: close` set on it as the handler did)."""
    if answer.text is not None:
        expected = Response(answer.text, media_type="text/plain; charset=utf-8")
    else:
        text = json.dumps(answer.json, ensure_ascii=False, separators=(",", ":"))
        expected = Response(text, media_type="application/json")
    if close:
        MutableHeaders(raw=expected.raw_headers)["connection"] = "close"
    body, content_type = render(answer)
    assert body == expected.body
    assert response_headers(body, content_type, close=close) == expected.raw_headers
    assert content_type in (TEXT, JSON)


def test_words_are_the_same_text_as_before() -> None:
    """Bare words are made once; with arguments, `WORD:arg1:arg2` as always."""
    for w in Word:
        assert answers.word(w) == Answer(word=w.value, text=w.value)
        assert answers.word(w) is answers.word(w)
        assert answers.word(w, 1).text == f"{w.value}:1"
        assert answers.word(w, "a", 2, Decimal("1.50")).text == f"{w.value}:a:2:1.50"


def _activation(state: State, **changes: Any) -> Activation:
    return Activation(
        id=1, tenant="t", provider="smspva", order_id="9", phone="7999", service="tg",
        country=0, operator=None, cost=None, currency="USD", created=0.0, expires=900.0,
        updated=0.0, state=state, **changes,
    )  # fmt: skip


def test_status_answers_are_unchanged() -> None:
    message = Message(code="1234", text="code 1234", at=1.0)
    assert answers.status(_activation(State.WAIT_CODE)).text == "STATUS_WAIT_CODE"
    assert answers.status(_activation(State.CANCELLED)).text == "STATUS_CANCEL"
    retry = _activation(State.WAIT_RETRY, messages=(message,), retry_code="1234")
    assert answers.status(retry).text == "STATUS_WAIT_RETRY:1234"
    coded = _activation(State.CODE_RECEIVED, messages=(message,))
    assert answers.status(coded).text == "STATUS_OK:1234"
    assert answers.status(_activation(State.FINISHED, messages=(message,))).text == (
        "STATUS_OK:1234"
    )


# --- over HTTP -------------------------------------------------------------------------------


def test_other_methods_still_go_through_starlette(proxy: Proxy) -> None:
    """HEAD is served by the same handler through starlette's route; a method the endpoint
    does not take is starlette's 405, as before."""
    head = proxy.client.head(proxy.endpoint, params={"api_key": KEY, "action": "getBalance"})
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/plain; charset=utf-8"
    assert int(head.headers["content-length"]) == len("ACCESS_BALANCE:") + len(
        proxy.text(action="getBalance").removeprefix("ACCESS_BALANCE:")
    )
    put = proxy.client.put(proxy.endpoint, params={"api_key": KEY, "action": "getBalance"})
    assert (put.status_code, put.text) == (405, "Method Not Allowed")


def test_answers_over_http_are_plain_words(proxy: Proxy) -> None:
    response = proxy.call(action="getStatus", id="5")
    assert (response.status_code, response.text) == (200, "NO_ACTIVATION")
    assert list(response.headers.keys())[-2:] == ["content-length", "content-type"]
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    bad = proxy.client.get(proxy.endpoint, params={"api_key": "nobody", "action": "getStatus"})
    assert (bad.status_code, bad.text) == (200, "BAD_KEY")
    posted = proxy.client.post(
        proxy.endpoint, data={"api_key": KEY, "action": "getStatus", "id": "5"}
    )
    assert (posted.status_code, posted.text) == (200, "NO_ACTIVATION")


def _request_lines(
    logs: Sequence[MutableMapping[str, Any]],
) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry.get("event") == "request"]


def test_the_request_id_is_logged(proxy: Proxy) -> None:
    """As the client sent it (clipped), or 16 hex digits made up; one line per request."""
    long_id = "r" * 500
    with capture_logs() as logs:
        proxy.client.get(proxy.endpoint, params={"api_key": KEY, "action": "getBalance"},
                         headers={"x-request-id": "abc-123"})  # fmt: skip
        proxy.client.get(proxy.endpoint, params={"api_key": KEY, "action": "getBalance"},
                         headers={"x-request-id": long_id})  # fmt: skip
        proxy.call(action="getStatus", id="5")
    given, clipped, made = _request_lines(logs)
    assert given["request_id"] == "abc-123"
    assert clipped["request_id"] == clip(long_id)
    assert re.fullmatch(r"[0-9a-f]{16}", made["request_id"])
    assert (made["action"], made["tenant"]) == ("getStatus", "alice")
    assert made["answer"] == "NO_ACTIVATION"
    assert set(made) >= {"request_id", "action", "tenant", "activation_id", "provider", "answer",
                         "duration_ms"}  # fmt: skip


# --- an answer that cannot be sent -------------------------------------------------------------


class _Sent:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def test_an_answer_that_cannot_be_rendered_is_error_sql(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A JSON answer holding a lone surrogate (an upstream's "\\ud800") cannot be UTF-8: the
    client hears ERROR_SQL with HTTP 200 (it was starlette's 500 page before)."""

    async def perform(*args: Any) -> Answer:
        return answers.json_answer({"sms": "\ud800"}, "STATUS_V2_OK")

    monkeypatch.setattr(app_module, "perform", perform)
    tenant = _tenant("t", "k")
    metrics = Metrics()
    state = {"ctx": _Ctx(metrics), "tenants": Tenants([tenant])}
    scope = {"type": "http", "method": "GET", "path": HANDLER_PATH, "headers": [],
             "query_string": b"api_key=k&action=getStatusV2&id=1", "state": state}  # fmt: skip
    sent = _Sent()
    with capture_logs() as logs:
        await HandlerApi()(scope, _receive, sent)
    start, body = sent.messages
    assert (start["status"], body["body"]) == (200, b"ERROR_SQL")
    assert [e["event"] for e in logs] == ["answer_failed", "request"]
    assert logs[-1]["answer"] == "ERROR_SQL"


class _Ctx:
    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics


# --- keys ------------------------------------------------------------------------------------


def _tenants(count: int) -> tuple[Tenants, list[TenantSettings]]:
    settings = [_tenant(f"t{i}", f"key-{i}") for i in range(count)]
    return Tenants(settings), settings


def _tenant(name: str, key: str) -> TenantSettings:
    return TenantSettings(
        name, hash_key(key), ("smspva",), "USD", Decimal(0), "priority", {}, (), "", ""
    )


def test_only_proven_keys_are_remembered() -> None:
    tenants, settings = _tenants(3)
    for _ in range(2):
        assert tenants.authenticate("key-1") is settings[1]
        assert tenants.authenticate("key-2") is settings[2]
        assert tenants.authenticate("wrong") is None
        assert tenants.authenticate("") is None
        assert tenants.authenticate(None) is None
    assert set(tenants._known) == {"key-1", "key-2"}
    for i in range(1000):
        assert tenants.authenticate(f"guess-{i}") is None
    assert len(tenants._known) <= len(settings)


# --- metrics ---------------------------------------------------------------------------------

CREATED = re.compile(r"^(\S+_created(?:\{[^}]*\})?) \S+$", re.MULTILINE)


def _exposition(registry: CollectorRegistry) -> str:
    """The text exposition with the `_created` timestamps blanked (they differ by nature)."""
    return CREATED.sub(r"\1 T", generate_latest(registry).decode())


@pytest.fixture(name="observations")
def fixture_observations() -> Iterator[list[tuple[str, str, float]]]:
    rng = random.Random(15)
    actions = ["GetStatus", "GetNumber", "invalid"]
    words = ["STATUS_OK", "STATUS_WAIT_CODE", "ACCESS_NUMBER", "BAD_KEY"]
    values = [0.0, 0.0005, 0.001, 10.0, 11.0, *LATENCY_BUCKETS]
    values += [rng.expovariate(200) for _ in range(300)]
    yield [(rng.choice(actions), rng.choice(words), value) for value in values]


def test_request_metrics_are_exposed_as_prometheus_client_exposes_them(
    observations: list[tuple[str, str, float]],
) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter = Counter("smsproxy_requests", "Client requests by action and answer word",
                      ["action", "answer"], registry=theirs)  # fmt: skip
    histogram = Histogram("smsproxy_request_seconds", "Client request latency", ["action"],
                          buckets=LATENCY_BUCKETS, registry=theirs)  # fmt: skip
    polls = Counter("smsproxy_client_polls", "getStatus requests from clients", registry=theirs)
    series = Series("smsproxy_requests", "Client requests by action and answer word",
                    ["action", "answer"], ours)  # fmt: skip
    latency = LatencySeries("smsproxy_request_seconds", "Client request latency", ["action"],
                            LATENCY_BUCKETS, ours)  # fmt: skip
    our_polls = Series("smsproxy_client_polls", "getStatus requests from clients", [], ours)
    assert _exposition(ours) == _exposition(theirs)  # nothing observed yet
    for action, word, seconds in observations:
        counter.labels(action, word).inc()
        histogram.labels(action).observe(seconds)
        series.inc((action, word))
        latency.observe((action,), seconds)
        if action == "GetStatus":
            polls.inc()
            our_polls.inc()
    assert _exposition(ours) == _exposition(theirs)
    assert our_polls.total() == polls._value.get()


def test_metrics_names_cannot_be_registered_twice() -> None:
    registry = CollectorRegistry()
    Series("smsproxy_requests", "", ["action"], registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("smsproxy_requests", "", ["action"], registry=registry)


def test_trace_starts_empty() -> None:
    trace = Trace()
    assert (trace.activation_id, trace.provider) == (None, None)


def test_a_request_over_http_is_counted(proxy: Proxy) -> None:
    proxy.call(action="getStatus", id="5")
    proxy.call(action="getStatus", id="6")
    text = httpx.get(proxy.url + "/metrics").text
    assert 'smsproxy_requests_total{action="GetStatus",answer="NO_ACTIVATION"} 2.0' in text
    assert 'smsproxy_request_seconds_count{action="GetStatus"} 2.0' in text
