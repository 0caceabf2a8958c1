"""Fuzzing handler_api.php: any action, any parameter, any value, over GET and POST.

The actions are the parser's own table (`PARSERS`) and the parameters every name the parser
reads (found in its source), so a new action or parameter is fuzzed without touching this file.
Values: random Unicode, huge and negative numbers, Unicode digits, empty and blank values,
long strings (past the body limit too), repeated parameters (past the parameter cap too), JSON
values of every type. Whatever comes, the proxy answers:

- HTTP 200, never a 5xx (nor a 4xx: clients take both for a network failure);
- a protocol word (`WORD` or `WORD:…`) or JSON, never a traceback or an HTML page;
- with no error-level log line (an error there means a request broke something);
- within bounded memory: tracemalloc's peak over each request of more than 16 KB (tracing
  every request would make the run 3-4 times slower), and no request raising the process's
  peak RSS by more than 64 MB.
"""

from __future__ import annotations

import ast
import json
import re
import resource
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from structlog.testing import capture_logs

import proxy.protocol.requests as requests_module
from proxy.app import create_app
from proxy.config import settings_from_dict
from proxy.protocol.requests import PARSERS
from proxy.redis_server import EmbeddedRedis
from proxy.serving import ThreadedServer
from tests.conftest import TENANT_KEYS, Proxy, Upstream, proxy_config

KEY = TENANT_KEYS["alice"]
READERS = {"get", "_optional", "_natural", "_bounded", "_activation_id", "number"}


def parameter_names() -> list[str]:
    """Every parameter name proxy/protocol/requests.py reads: the string constants passed to
    `params.get`, `_optional`, `_natural`, `_bounded`, `_activation_id` and `number`."""
    tree = ast.parse(Path(requests_module.__file__).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called not in READERS:
            continue
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                names.add(arg.value)
    return sorted(names - {"action"})


ACTIONS = sorted(PARSERS)
PARAMETERS = parameter_names()

# A large request: at most this much allocated at once while it is sent, served and read (the
# client, the proxy and the emulators run in this process). The largest body read is 64 KB; the
# old code held a 200 MB one whole. A first listing of every country's catalog alone takes up
# to 11 MB (the emulators' answers and the merged catalog).
TRACED_BYTES = 16 * 1024
PEAK_BYTES = 24 * 1024 * 1024
# No request may raise the process's peak RSS by more than this, whatever its size.
RSS_GROWTH_BYTES = 64 * 1024 * 1024
# httpx refuses a URL over 64 KB, and uvicorn (h11) answers its own 400 to a request head still
# incomplete past 16 KB: longer queries go as a form.
QUERY_BYTES = 8000
WORD = re.compile(r"[A-Z][A-Z_]*(:.*)?", re.DOTALL)

chars = st.characters(exclude_categories=["Cs"])  # lone surrogates cannot be sent at all
values = st.one_of(
    st.text(chars, max_size=30),
    st.from_regex(r"\A[0-9]{1,24}\Z"),
    st.integers(-(10**30), 10**30).map(str),
    st.integers(4290, 4400).map(lambda n: "9" * n),  # around int()'s 4,300-digit limit
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6),  # ١ ² １ ...
    st.sampled_from(["", " ", "\t", "-1", "-0", "0", "1", "4", "8", "+1", "1.5", "nan", "inf",
                     "1e999", "true", "any", "tg", "wa,vi", "0x1f", " 7 ", "1_000", "\x00",
                     "%", "&", "=", "١", "²", "１", "http://127.0.0.1:9/x", "mts,beeline"]),
)  # fmt: skip
# One long value in about a third of the requests (up to 120 KB encoded: past the body limit).
long_values = st.builds(lambda ch, n: ch * n, chars, st.integers(100, 30_000))
long_pairs = st.one_of(
    st.none(), st.none(), st.tuples(st.sampled_from([*PARAMETERS, "filler"]), long_values)
)
json_values = st.one_of(
    values,
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
api_keys = st.sampled_from([KEY, KEY, KEY, TENANT_KEYS["vak"], "", "nope"])
headers = st.fixed_dictionaries(
    {}, optional={"x-request-id": st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                                          max_size=300)},
)  # fmt: skip


def action_case(action: str) -> st.SearchStrategy[str]:
    """The action as clients spell it, in any case (actions are matched without case)."""
    return st.sampled_from([action, action.upper(), action.capitalize(), f" {action} "])


def requests_for(actions: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "shape": st.sampled_from(["get", "form", "query_post", "json", "form_and_query"]),
            "api_key": api_keys,
            "action": actions,
            "params": st.fixed_dictionaries({}, optional={n: values for n in PARAMETERS}),
            "repeated": st.lists(st.tuples(st.sampled_from(PARAMETERS), values), max_size=70),
            "long": long_pairs,
            "json_extra": st.dictionaries(st.sampled_from(PARAMETERS), json_values, max_size=4),
            "headers": headers,
        }
    )


@pytest.fixture(name="fuzzed", scope="module")
def fixture_fuzzed(
    redis_server: EmbeddedRedis, _smspva_server: Upstream, _vaksms_server: Upstream
) -> Iterator[Proxy]:
    """One proxy for every case, built like the others and served over real HTTP."""
    config = proxy_config(redis_server.url, _smspva_server.url, _vaksms_server.url)
    settings = settings_from_dict(config)
    with ThreadedServer(create_app(settings)) as server, httpx.Client(timeout=30) as client:
        yield Proxy(server.url, settings, client)


def parameters(case: dict[str, Any]) -> list[tuple[str, str]]:
    """Everything but the key and the action, in order, repeated names repeated."""
    return [*case["params"].items(), *case["repeated"], *([case["long"]] if case["long"] else [])]


def send(proxy: Proxy, case: dict[str, Any]) -> httpx.Response:
    pairs = [("api_key", case["api_key"]), ("action", case["action"]), *parameters(case)]
    shape = case["shape"]
    if shape in ("get", "query_post") and len(urlencode(pairs)) > QUERY_BYTES:
        shape = "form"
    headers = case["headers"]
    if shape == "get":
        return proxy.client.get(proxy.endpoint, params=pairs, headers=headers)
    if shape == "query_post":
        return proxy.client.post(proxy.endpoint, params=pairs, headers=headers)
    if shape == "json":
        body = {**dict(pairs), **case["json_extra"]}
        return proxy.client.post(
            proxy.endpoint, content=json.dumps(body),
            headers={**headers, "content-type": "application/json"},
        )  # fmt: skip
    if shape == "form_and_query":
        query, form = pairs[:2], pairs[2:]
        if len(urlencode(query)) > QUERY_BYTES:
            query, form = [], pairs
        return proxy.client.post(proxy.endpoint, params=query, data=dict(form), headers=headers)
    return proxy.client.post(
        proxy.endpoint, content=urlencode(pairs).encode(),
        headers={**headers, "content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip


def size(case: dict[str, Any]) -> int:
    return sum(len(name) + len(value) for name, value in parameters(case))


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def check(proxy: Proxy, case: dict[str, Any]) -> None:
    rss_before = peak_rss()
    traced = size(case) > TRACED_BYTES
    if traced:
        tracemalloc.start()
    try:
        with capture_logs() as logs:
            response = send(proxy, case)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text[:200]
    text = response.text
    event(f"answer {text.split(':')[0][:24]}" if not text.startswith(("{", "[")) else "JSON")
    event("large (traced)" if traced else "small")
    assert "Traceback" not in text and "<html" not in text.lower()
    if response.headers["content-type"].startswith("application/json"):
        json.loads(text)
    else:
        assert response.headers["content-type"].startswith("text/plain")
        assert WORD.fullmatch(text), text[:200]
    failures = [e for e in logs if e.get("log_level") in ("error", "critical", "exception")]
    assert failures == []
    assert peak < PEAK_BYTES, f"{peak} bytes at peak"
    assert peak_rss() - rss_before < RSS_GROWTH_BYTES


FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the working tree; a failure prints its example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_every_action_and_parameter_is_fuzzed() -> None:
    """The lists come from the parser: a regression in finding them would fuzz nothing."""
    assert {"getnumberv2", "getstatus", "setstatus", "getrentnumber", "gethistory"} <= set(ACTIONS)
    assert {"id", "activationId", "status", "service", "country", "operator", "orderId", "url",
            "rent_time", "time", "limit", "offset", "page", "size", "maxPrice", "start", "end",
            "phoneException", "multiService", "lang"} <= set(PARAMETERS)  # fmt: skip


@pytest.mark.parametrize("action", ACTIONS)
@settings(FUZZ, max_examples=12)
@given(data=st.data())
def test_any_input_to_each_action(fuzzed: Proxy, action: str, data: Any) -> None:
    check(fuzzed, data.draw(requests_for(action_case(action))))


@settings(FUZZ, max_examples=60)
@given(case=requests_for(st.one_of(st.sampled_from(ACTIONS), st.text(chars, max_size=20))))
def test_any_input(fuzzed: Proxy, case: dict[str, Any]) -> None:
    """Unknown actions and random case too, across the whole table at once."""
    check(fuzzed, case)
