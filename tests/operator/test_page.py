"""The operator page as HTML: it parses, every figure carries its path, kind and raw value
and shows `format_value` of it, data is escaped, phones stay masked, the urgent comes first."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser

import pytest

from proxy.operator.page import (
    format_value,
    pointer,
    render_fragment,
    render_login,
    render_page,
    resolve,
)
from proxy.operator.schema import (
    ActiveActivation,
    ActiveRental,
    Chart,
    ErrorGroup,
    Intents,
    Overview,
    Provider,
    Series,
    Tenant,
    Window,
    mask_phone,
)

NOW = 1_718_000_000.0
RAW_PHONES = ("79123456789", "79991234567", "380501234567", "77011234455", "79035551122")
SCOPES = ("all", "provider:smspva", "provider:vaksms", "service:tg", "service:wa", "country:0",
          "country:6")  # fmt: skip
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
XSS = "<script>alert(1)</script>"


def window(bought: int, coded: int) -> Window:
    return Window(
        bought=bought,
        coded=coded,
        success_rate=coded / bought if bought else None,
        cancelled=bought // 10,
        refunded=bought - coded,
        code_seconds_p50=41.5 if bought else None,
        code_seconds_p90=187.0 if bought else None,
        polls=bought * 6,
        polls_per_activation=6.0 if bought else None,
    )


def series(points: int, scale: int) -> Series:
    bought = [(i * 7 + scale) % 9 * scale // 3 for i in range(points)]
    coded = [b * 3 // 4 for b in bought]
    return Series(
        bought=bought,
        coded=coded,
        cancelled=[b // 5 for b in bought],
        refunded=[b - c for b, c in zip(bought, coded, strict=True)],
        code_seconds_p50=[None if b == 0 else 20.0 + (i % 11) * 4.5 for i, b in enumerate(bought)],
        polls_per_activation=[None if b == 0 else 4.0 + i % 5 for i, b in enumerate(bought)],
    )


def chart(points: int, step: int) -> Chart:
    return Chart(
        start=NOW - points * step,
        step_seconds=step,
        points=points,
        series={s: series(points, 3 + i) for i, s in enumerate(SCOPES)},
    )


def activation(i: int, phone: str) -> ActiveActivation:
    return ActiveActivation(
        id=1040 + i,
        tenant=("alice", "bob", "carol")[i % 3],
        provider=("smspva", "vaksms")[i % 2],
        service=("tg", "wa")[i % 2],
        country=(0, 6)[i % 2],
        phone=mask_phone(phone),
        state=("WAIT_CODE", "WAIT_RETRY")[i % 2],
        age_seconds=35.0 + i * 400,
        codes=i % 2,
    )


def provider_pva() -> Provider:
    return Provider(
        name="smspva",
        kind="smspva",
        state="closed",
        resting=False,
        rest_reason="",
        rest_until=None,
        failures=0,
        last_error=None,
        balance="1523.40",
        balance_at=1_718_000_100.0,
        currency="RUB",
        latency={"p50_ms": 180.0, "p99_ms": 950.0, "calls": 1240},
        error_rate=0.012,
        errors=15,
        stock=[
            {"service": "tg", "country": 0, "count": 5120, "price": "14.50", "seen_at": NOW - 40},
            {"service": "wa", "country": 6, "count": 88, "price": "9.75", "seen_at": NOW - 40},
            {"service": "vk", "country": 0, "count": None, "price": None, "seen_at": None},
        ],
    )


def provider_vak() -> Provider:
    return Provider(
        name="vaksms",
        kind="vaksms",
        state="open",
        resting=True,
        rest_reason="balance below 50 RUB",
        rest_until=NOW + 600,
        failures=7,
        last_error="http_5xx: 502 Bad Gateway",
        balance="12.10",
        balance_at=None,
        currency="RUB",
        latency={"p50_ms": 3.4, "p99_ms": None, "calls": 93},
        error_rate=0.43,
        errors=40,
        stock=[],
    )


INTENTS: Intents = {
    "unknown": 2,
    "shown": [
        {"id": 501, "kind": "activation", "tenant": "alice", "provider": "vaksms",
         "service": "tg", "country": "0", "status": "unknown", "age_seconds": 540.0,
         "error": "timeout after 10 s"},
        {"id": 502, "kind": "rental", "tenant": "bob", "provider": "vaksms",
         "service": "wa", "country": "6", "status": "not_listed", "age_seconds": 75.0,
         "error": "number not in the provider's list"},
        {"id": 503, "kind": "activation", "tenant": "carol", "provider": "smspva",
         "service": "tg", "country": "0", "status": "sending", "age_seconds": 2.0,
         "error": ""},
    ],
}  # fmt: skip
ERRORS: list[ErrorGroup] = [
    {"provider": "vaksms", "endpoint": "getNumber", "kind": "http_5xx", "count": 31,
     "last_at": NOW - 20, "message": "502 Bad Gateway"},
    {"provider": "vaksms", "endpoint": "getBalance", "kind": "timeout", "count": 9,
     "last_at": NOW - 75, "message": "no answer in 10 s"},
    {"provider": "smspva", "endpoint": "getStatus", "kind": "unreadable", "count": 15,
     "last_at": None, "message": "unexpected answer 'ERROR_SQL'"},
]  # fmt: skip
TENANTS: list[Tenant] = [
    {"name": "alice", "currency": "RUB", "active": 21, "bought_hour": 40, "bought_day": 900,
     "spend_day": "13050.00", "refunded_day": "1210.50", "success_rate_day": 0.81,
     "rented_day": 3},
    {"name": "bob", "currency": "USD", "active": 16, "bought_hour": 20, "bought_day": 500,
     "spend_day": "71.20", "refunded_day": "4.05", "success_rate_day": 0.064,
     "rented_day": 0},
    {"name": "carol", "currency": "RUB", "active": 0, "bought_hour": 0, "bought_day": 0,
     "spend_day": "0.00", "refunded_day": "0.00", "success_rate_day": None,
     "rented_day": 0},
]  # fmt: skip


def sample() -> Overview:
    """A busy afternoon: one provider fine, one open and resting, purchases in doubt."""
    rental = ActiveRental(
        id=77, tenant="bob", provider="smspva", service="tg", country=0,
        phone=mask_phone(RAW_PHONES[4]), state="RENTED", age_seconds=4000.0,
        left_seconds=10400.0, messages=2,
    )  # fmt: skip
    day = {s: window(1400 // (i + 1), 1100 // (i + 1)) for i, s in enumerate(SCOPES)}
    day["country:6"] = window(0, 0)
    return copy.deepcopy(
        Overview(
            generated_at=NOW,
            refresh_seconds=10,
            attention=[
                "2 purchases await reconciliation (the oldest 9 min)",
                "vaksms is resting: balance below 50 RUB",
                "vaksms breaker open after 7 failures",
            ],
            providers=[provider_pva(), provider_vak()],
            windows={
                "hour": {s: window(60 // (i + 1), 45 // (i + 1)) for i, s in enumerate(SCOPES)},
                "day": day,
            },
            charts={"hour": chart(60, 60), "day": chart(24, 3600)},
            activations={
                "active": 37,
                "shown": [activation(i, p) for i, p in enumerate(RAW_PHONES[:4])],
            },
            rentals={"active": 1, "shown": [rental]},
            intents=INTENTS,
            errors=ERRORS,
            tenants=TENANTS,
        )
    )


class Balance(HTMLParser):
    """Checks that every non-void element closes, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.problems.append(f"</{tag}> closes a void element")
        elif not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>")
        else:
            self.stack.pop()


class Figures(HTMLParser):
    """Every `data-figure` element: its attributes and its text content."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.found: list[tuple[dict[str, str | None], str]] = []
        self.svgs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.svgs.append(dict(attrs))
        if tag not in VOID:
            self.open.append((tag, dict(attrs), []))

    def handle_endtag(self, tag: str) -> None:
        _, attrs, text = self.open.pop()
        if "data-figure" in attrs:
            self.found.append((attrs, "".join(text)))

    def handle_data(self, data: str) -> None:
        for _, _, text in self.open:
            text.append(data)


def figures(page: str) -> dict[str, tuple[str, str, str]]:
    """path -> (kind, data-value, text)."""
    parser = Figures()
    parser.feed(page)
    out: dict[str, tuple[str, str, str]] = {}
    for attrs, text in parser.found:
        path = attrs["data-figure"]
        assert path is not None and path not in out, path
        out[path] = (attrs["data-kind"] or "", attrs["data-value"] or "", text)
    return out


def svgs(page: str) -> list[dict[str, str | None]]:
    parser = Figures()
    parser.feed(page)
    return parser.svgs


def test_document_is_complete_and_balanced() -> None:
    page = render_page(sample(), fragment_url="/admin/fragment?x=1&y=2")
    assert page.startswith("<!doctype html>")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<title>smsproxy — operator</title>" in page
    assert '<body data-refresh="10"' in page
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in page
    assert 'data-fragment-url="/admin/fragment?x=1&amp;y=2"' in page
    assert 'fetch(url, {credentials: "same-origin", cache: "no-store", signal: ' in page
    assert "abort.abort()" in page  # a refresh that hangs is given up: the page says stale
    assert "http://" not in page and "https://" not in page and " src=" not in page
    for html in (page, render_fragment(sample()), render_login("no")):
        parser = Balance()
        parser.feed(html)
        parser.close()
        assert parser.problems == [] and parser.stack == []


def test_fragment_is_the_main_element_of_the_page() -> None:
    fragment = render_fragment(sample())
    assert fragment.startswith('<main id="figures">') and fragment.endswith("</main>")
    assert fragment.count("<main") == 1
    assert fragment in render_page(sample())
    assert "<script" not in fragment


def test_every_figure_resolves_and_shows_its_format() -> None:
    overview = sample()
    found = figures(render_page(overview))
    assert len(found) > 250
    for path, (kind, raw, text) in found.items():
        value = resolve(overview, path)
        assert json.dumps(value) == raw, path
        assert text == format_value(kind, value), path


def expected_figures(o: Overview) -> dict[str, str]:
    """path -> kind of every leaf the page means to show."""
    out = {"generated_at": "time", "refresh_seconds": "seconds", "activations/active": "int",
           "rentals/active": "int", "intents/unknown": "int"}  # fmt: skip
    out |= {f"attention/{i}": "text" for i in range(len(o["attention"]))}
    for i, p in enumerate(o["providers"]):
        b = f"providers/{i}"
        out |= {f"{b}/name": "text", f"{b}/kind": "text", f"{b}/state": "text",
                f"{b}/balance": "money", f"{b}/currency": "text", f"{b}/failures": "int",
                f"{b}/latency/p50_ms": "ms", f"{b}/latency/p99_ms": "ms",
                f"{b}/latency/calls": "int", f"{b}/error_rate": "rate", f"{b}/errors": "int",
                f"{b}/last_error": "text"}  # fmt: skip
        if p["resting"]:
            out |= {f"{b}/rest_reason": "text", f"{b}/rest_until": "time"}
        for j in range(len(p["stock"])):
            out |= {f"{b}/stock/{j}/service": "text", f"{b}/stock/{j}/country": "int",
                    f"{b}/stock/{j}/count": "int", f"{b}/stock/{j}/price": "money"}  # fmt: skip
    kinds = {"bought": "int", "coded": "int", "success_rate": "rate", "cancelled": "int",
             "refunded": "int", "code_seconds_p50": "seconds", "code_seconds_p90": "seconds",
             "polls": "int", "polls_per_activation": "number"}  # fmt: skip
    for w in ("hour", "day"):
        for scope in o["windows"][w]:
            out |= {pointer("windows", w, scope, k): kind for k, kind in kinds.items()}
        out |= {f"charts/{w}/start": "time", f"charts/{w}/points": "int",
                f"charts/{w}/step_seconds": "seconds"}  # fmt: skip
    tables = {
        "activations/shown": ("id", "tenant", "provider", "service", "country", "phone",
                              "state", "age_seconds", "codes"),
        "rentals/shown": ("id", "tenant", "provider", "service", "country", "phone", "state",
                          "age_seconds", "left_seconds", "messages"),
        "intents/shown": ("id", "kind", "tenant", "provider", "service", "country", "status",
                          "age_seconds", "error"),
        "errors": ("provider", "endpoint", "kind", "count", "last_at", "message"),
        "tenants": ("name", "currency", "active", "bought_hour", "bought_day", "spend_day",
                    "refunded_day", "success_rate_day", "rented_day"),
    }  # fmt: skip
    for base, keys in tables.items():
        rows = resolve(o, base)
        assert isinstance(rows, list)
        out |= {f"{base}/{i}/{k}": "" for i in range(len(rows)) for k in keys}
    return out


def test_every_intended_figure_is_there_with_its_kind() -> None:
    overview = sample()
    found = figures(render_page(overview))
    for path, kind in expected_figures(overview).items():
        assert path in found, path
        assert not kind or found[path][0] == kind, path
    assert found["providers/1/state"][2] == "open"
    assert found["windows/day/provider:smspva/success_rate"][2] == "79%"
    assert found["tenants/1/success_rate_day"][2] == "6.4%"
    assert found["tenants/2/success_rate_day"][2] == "–"
    assert found["tenants/1/spend_day"][2] == "71.20"
    assert found["providers/1/rest_until"][2] == "06:23:20"
    assert found["activations/shown/2/age_seconds"][2] == "13 min 55 s"


def test_providers_show_state_as_word_and_class() -> None:
    page = render_page(sample())
    assert 'id="provider-smspva" class="provider state-closed"' in page
    assert 'id="provider-vaksms" class="provider state-open resting"' in page
    assert "balance below 50 RUB" in page


def test_data_is_escaped() -> None:
    overview = sample()
    overview["providers"][0]["name"] = XSS
    overview["providers"][1]["last_error"] = "<img src=x onerror=alert(1)>"
    overview["tenants"][0]["name"] = 'O\'Brien "&" <b>'
    overview["errors"][0]["message"] = XSS
    overview["attention"].append(XSS)
    overview["windows"]["hour"]["service:<x>"] = window(1, 1)
    overview["charts"]["hour"]["series"]["service:<x>"] = series(60, 1)
    page = render_page(overview)
    assert XSS not in page and "<img" not in page and "<b>" not in page
    assert page.count("<script") == 1  # the page's own
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "O&#x27;Brien &quot;&amp;&quot; &lt;b&gt;" in page
    assert 'data-series="charts/hour/series/service:&lt;x&gt;/bought"' in page
    found = figures(page)
    assert found["providers/0/name"][2] == XSS
    assert found["tenants/0/name"][2] == 'O\'Brien "&" <b>'
    for path, (_, raw, _) in found.items():
        assert json.dumps(resolve(overview, path)) == raw


def test_phones_stay_masked() -> None:
    overview = sample()
    page = render_page(overview)
    for raw in RAW_PHONES:
        assert raw not in page
    for row in overview["activations"]["shown"]:
        assert f">{row['phone']}</td>" in page
    for run in re.findall(r"(?<![\d.])\d{7,}", page):  # only timestamps are that long
        assert abs(int(run) - NOW) < 3 * 86400, run


def test_attention_first_and_only_when_there_is_some() -> None:
    overview = sample()
    page = render_page(overview)
    assert (
        page.index('class="attention"') < page.index('id="intents"') < page.index('id="providers"')
    )
    quiet = copy.deepcopy(overview)
    quiet["attention"] = []
    quiet["intents"]["unknown"] = 0
    page = render_page(quiet)
    assert 'class="attention"' not in page and 'id="attention"' not in page
    assert page.index('id="providers"') < page.index('id="rentals"') < page.index('id="intents"')


def test_empty_lists_say_none() -> None:
    overview = sample()
    overview["providers"] = []
    overview["activations"] = {"active": 0, "shown": []}
    overview["rentals"] = {"active": 0, "shown": []}
    overview["intents"] = {"unknown": 0, "shown": []}
    overview["errors"] = []
    overview["tenants"] = []
    overview["attention"] = []
    page = render_page(overview)
    for path in ("providers", "activations/shown", "rentals/shown", "intents/shown", "errors",
                 "tenants"):  # fmt: skip
        assert f'<p class="none" data-empty="{path}">' in page, path
    assert "<tbody></tbody>" not in page
    for path, (kind, raw, text) in figures(page).items():
        assert json.dumps(resolve(overview, path)) == raw
        assert text == format_value(kind, resolve(overview, path))


def test_charts_count_their_points() -> None:
    overview = sample()
    charts = svgs(render_page(overview))
    assert len(charts) == 2 * len(SCOPES) * 4
    names = set()
    for svg in charts:
        assert svg["class"] == "chart" and svg["role"] == "img" and svg["aria-label"]
        assert svg["viewbox"] and svg["data-points"] and svg["data-series"]
        values = resolve(overview, svg["data-series"])
        assert isinstance(values, list) and len(values) == int(svg["data-points"])
        for also in (svg.get("data-series-also") or "").split():
            extra = resolve(overview, also)
            assert isinstance(extra, list) and len(extra) == len(values)
        names.add(svg["data-series"].split("/")[-1])
        window = svg["data-series"].split("/")[1]
        assert int(svg["data-points"]) == {"hour": 60, "day": 24}[window]
    assert names == {"bought", "cancelled", "code_seconds_p50", "polls_per_activation"}
    page = render_page(overview)
    assert page.count("<title>") == 1 + len(charts)
    assert ">05:13</text>" in page and ">06:13</text>" in page  # start and end, UTC


def test_login_page() -> None:
    page = render_login()
    assert page.startswith("<!doctype html>")
    assert '<form method="post" action="/admin/login">' in page
    assert ('<input type="password" name="token" id="token" autocomplete="current-password"'
            in page)  # fmt: skip
    assert 'id="login"' in page and 'type="submit"' in page
    assert "data-figure" not in page and "login-error" not in page and "<svg" not in page
    wrong = render_login(f"Wrong token {XSS}")
    assert '<p class="error" id="login-error">Wrong token &lt;script&gt;' in wrong
    assert XSS not in wrong


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        ("int", 1234, "1234"),
        ("int", 0, "0"),
        ("int", None, "–"),
        ("rate", 0.97, "97%"),
        ("rate", 0.045, "4.5%"),
        ("rate", 1.0, "100%"),
        ("rate", 0.0, "0%"),
        ("rate", 0.1, "10%"),
        ("rate", None, "–"),
        ("ms", 12.0, "12 ms"),
        ("ms", 3.44, "3.4 ms"),
        ("ms", 950, "950 ms"),
        ("ms", None, "–"),
        ("seconds", 42, "42 s"),
        ("seconds", 41.5, "42 s"),
        ("seconds", 185, "3 min 5 s"),
        ("seconds", 60, "1 min"),
        ("seconds", 3720, "1 h 2 min"),
        ("seconds", 3600, "1 h"),
        ("seconds", None, "–"),
        ("age", 0.4, "0 s"),
        ("age", 835, "13 min 55 s"),
        ("age", None, "–"),
        ("money", "1523.40", "1523.40"),
        ("money", None, "–"),
        ("text", "WAIT_CODE", "WAIT_CODE"),
        ("text", 7, "7"),
        ("text", "", ""),
        ("text", None, "–"),
        ("time", 1_718_000_000, "06:13:20"),
        ("time", 0, "00:00:00"),
        ("time", None, "–"),
        ("number", 6.0, "6.0"),
        ("number", 2.345, "2.3"),
        ("number", 123.4, "123"),
        ("number", None, "–"),
        ("rate", float("nan"), "–"),
        ("time", "soon", "soon"),
        ("int", [1], "[1]"),
        ("nonsense", 5, "5"),
    ],
)
def test_format_value(kind: str, value: object, text: str) -> None:
    assert format_value(kind, value) == text


def test_resolve_follows_paths() -> None:
    overview = sample()
    assert resolve(overview, "providers/1/latency/p50_ms") == 3.4
    assert resolve(overview, "windows/hour/provider:smspva/bought") == 30
    assert resolve(overview, "") is overview
    odd: dict[str, object] = {"a/b": {"~x": [5, 6]}}
    assert resolve(odd, pointer("a/b", "~x", 1)) == 6
    with pytest.raises(LookupError):
        resolve(overview, "providers/9/name")
    with pytest.raises(LookupError):
        resolve(overview, "generated_at/x")
