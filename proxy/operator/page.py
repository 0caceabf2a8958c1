"""The operator's page (/admin), rendered on the server from an `Overview`: one HTML document
with its style and a few lines of script inline, charts as inline SVG. No build step, no
framework and no external asset, so the proxy serves it alone and it works on a phone.

Every figure shown is an element carrying `data-figure` (its path into the Overview, see
`resolve`), `data-kind` and `data-value` (the raw value as JSON), and its text is
`format_value(kind, value)`: the one formatting rule, shared by the page and by the tests that
read it. Everything from the data is escaped.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import cast

from proxy.operator.charts import PALETTE, chart_svg
from proxy.operator.schema import Chart, Overview, Provider, Window

__all__ = ["KINDS", "format_value", "pointer", "render_fragment", "render_login", "render_page",
           "resolve"]  # fmt: skip

DASH = "–"
KINDS = ("int", "rate", "ms", "seconds", "money", "text", "time", "age", "number")
NUMERIC = frozenset(KINDS) - {"text"}


def _decimal_under_10(x: float, unit: str) -> str:
    if x == 0:
        return f"0{unit}"
    if abs(round(x, 1)) < 10:
        return f"{x:.1f}{unit}"
    return f"{x:.0f}{unit}"


def _duration(x: float) -> str:
    total = round(abs(x))
    sign = "-" if x < 0 and total else ""
    if total < 60:
        return f"{sign}{total} s"
    if total < 3600:
        minutes, seconds = divmod(total, 60)
        return f"{sign}{minutes} min" + (f" {seconds} s" if seconds else "")
    hours, minutes = divmod(total // 60, 60)
    return f"{sign}{hours} h" + (f" {minutes} min" if minutes else "")


def format_value(kind: str, value: object) -> str:
    """The text a figure shows: `int` 1234; `rate` a fraction as 97% (4.5% under 10%); `ms`
    12 ms (3.4 ms under 10); `seconds`/`age` 42 s, 3 min 5 s, 1 h 2 min (a zero remainder
    left out: 1 min, 1 h); `number` 2.5 (one decimal, none from 100); `money`/`text` as given;
    `time` Unix seconds as UTC HH:MM:SS. None (or a non-finite number) is "–"; never raises."""
    if value is None:
        return DASH
    if kind in ("money", "text") or kind not in KINDS or isinstance(value, str | bool):
        return str(value)
    try:
        x = float(cast(float, value))
        if not math.isfinite(x):
            return DASH
        if kind == "int":
            return str(round(x))
        if kind == "rate":
            return _decimal_under_10(x * 100, "%")
        if kind == "ms":
            return _decimal_under_10(x, " ms")
        if kind == "number":
            return f"{x:.1f}" if abs(round(x, 1)) < 100 else f"{x:.0f}"
        if kind == "time":
            return datetime.fromtimestamp(x, tz=UTC).strftime("%H:%M:%S")
        return _duration(x)
    except (TypeError, ValueError, OverflowError, OSError):
        return str(value)


def pointer(*segments: str | int) -> str:
    """A figure's path: segments joined by "/", list items by index (JSON Pointer escapes,
    without the leading slash: "~" as "~0", "/" as "~1")."""
    return "/".join(str(s).replace("~", "~0").replace("/", "~1") for s in segments)


def resolve(overview: Overview | Mapping[str, object], path: str) -> object:
    """The value at `path` (as `pointer` writes it); LookupError when there is none."""
    node: object = overview
    for raw in path.split("/") if path else []:
        segment = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping):
            node = node[segment]
        elif isinstance(node, list | tuple):
            node = node[int(segment)]
        else:
            raise LookupError(f"{path}: {segment!r} goes into a {type(node).__name__}")
    return node


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _cls(word: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", word.lower())


def fig(path: str, kind: str, value: object, *, tag: str = "span", cls: str = "") -> str:
    """One figure element (the DOM contract)."""
    css = f' class="{cls}"' if cls else ""
    raw = _e(json.dumps(value, default=str))
    return (
        f'<{tag}{css} data-figure="{_e(path)}" data-kind="{kind}" data-value="{raw}">'
        f"{_e(format_value(kind, value))}</{tag}>"
    )


Column = tuple[str, str, str]  # header, key, kind
Row = Mapping[str, object]


def _none(path: str, text: str) -> str:
    return f'<p class="none" data-empty="{_e(path)}">None — {text}.</p>'


def _head(columns: Sequence[Column], first: str = "") -> str:
    cells = first + "".join(
        f'<th scope="col"{" class=num" if kind in NUMERIC else ""}>{label}</th>'
        for label, _, kind in columns
    )
    return f"<thead><tr>{cells}</tr></thead>"


def _wrap(table: str) -> str:
    return f'<div class="table-wrap"><table>{table}</table></div>'


def _cells(base: str, row: Row, columns: Sequence[Column]) -> str:
    out = []
    for _, key, kind in columns:
        cls = "num" if kind in NUMERIC else "msg" if key in ("error", "message") else ""
        cls = "status" if key == "status" else cls
        out.append(fig(f"{base}/{pointer(key)}", kind, row[key], tag="td", cls=cls))
    return "".join(out)


def _table(
    base: str,
    rows: Sequence[Row],
    columns: Sequence[Column],
    empty: str,
    row_class: Callable[[Row], str] | None = None,
) -> str:
    """A table of records, one figure per cell; a "none" paragraph when there are none."""
    if not rows:
        return _none(base, empty)
    body = []
    for i, row in enumerate(rows):
        css = row_class(row) if row_class else ""
        attr = f' class="{css}"' if css else ""
        body.append(f"<tr{attr}>{_cells(f'{base}/{i}', row, columns)}</tr>")
    return _wrap(f"{_head(columns)}<tbody>{''.join(body)}</tbody>")


def _section(sid: str, title: str, body: str, *, extra: str = "", cls: str = "") -> str:
    css = f' class="{cls}"' if cls else ""
    return f'<section id="{sid}"{css}><h2>{title}{extra}</h2>{body}</section>'


def _pill(inner: str, cls: str = "pill") -> str:
    return f'<span class="{cls}">{inner}</span>'


def _attention(items: Sequence[str]) -> str:
    lis = "".join(fig(f"attention/{i}", "text", s, tag="li") for i, s in enumerate(items))
    return _section("attention", "Attention", f"<ul>{lis}</ul>", cls="attention")


_STOCK: tuple[Column, ...] = (
    ("Service", "service", "text"),
    ("Country", "country", "int"),
    ("Count", "count", "int"),
    ("Price", "price", "money"),
)


def _provider(i: int, p: Provider) -> str:
    """One provider's card: its breaker state as a word and a colour."""
    b = f"providers/{i}"
    state = _cls(p["state"])
    css = f"provider state-{state}" + (" resting" if p["resting"] else "")
    rest = ""
    if p["resting"]:
        reason = fig(f"{b}/rest_reason", "text", p["rest_reason"])
        rest = (
            f'<p class="rest"><strong>Resting</strong> {reason}'
            f" until {fig(f'{b}/rest_until', 'time', p['rest_until'])} UTC</p>"
        )
    lat = p["latency"]
    items = (
        ("Balance", f'{fig(f"{b}/balance", "money", p["balance"], cls="big")} '
                    f'{fig(f"{b}/currency", "text", p["currency"], cls="unit")}'
                    f'<br><small>as of {fig(f"{b}/balance_at", "time", p["balance_at"])}'
                    "</small>"),
        ("Latency p50 / p99", f'{fig(f"{b}/latency/p50_ms", "ms", lat["p50_ms"])} / '
                              f'{fig(f"{b}/latency/p99_ms", "ms", lat["p99_ms"])}'),
        ("Calls, 1 h", fig(f"{b}/latency/calls", "int", lat["calls"])),
        ("Error rate, 1 h", fig(f"{b}/error_rate", "rate", p["error_rate"])),
        ("Errors, 1 h", fig(f"{b}/errors", "int", p["errors"])),
        ("Failures", fig(f"{b}/failures", "int", p["failures"])),
    )  # fmt: skip
    facts = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in items)
    last = fig(f"{b}/last_error", "text", p["last_error"], cls="msg")
    stock = _table(f"{b}/stock", p["stock"], _STOCK, "no stock seen")
    return (
        f'<article id="provider-{_e(p["name"])}" class="{css}"><header>'
        f'<h3>{fig(f"{b}/name", "text", p["name"])}</h3>'
        f'{fig(f"{b}/kind", "text", p["kind"], cls="kind")}'
        f'{fig(f"{b}/state", "text", p["state"], cls=f"badge st-{state}")}</header>{rest}'
        f'<dl class="facts">{facts}<div class="wide"><dt>Last error</dt><dd>{last}</dd></div>'
        f'</dl><h4>Stock</h4>{stock}</article>'
    )  # fmt: skip


def _providers(providers: Sequence[Provider]) -> str:
    if not providers:
        return _section("providers", "Providers", _none("providers", "no providers"))
    cards = "".join(_provider(i, p) for i, p in enumerate(providers))
    return _section("providers", "Providers", f'<div class="cards">{cards}</div>')


_GROUPS = {"all": 0, "provider": 1, "service": 2, "country": 3}


def _scopes(keys: Sequence[str]) -> list[str]:
    """Scopes in order: "all", providers, services, countries (each in the data's order)."""
    rank = {k: (_GROUPS.get(k.partition(":")[0], 4), i) for i, k in enumerate(keys)}
    return sorted(keys, key=rank.__getitem__)


def _scope_label(scope: str) -> str:
    group, sep, name = scope.partition(":")
    if not sep:
        return f'<span class="scope">{_e(scope)}</span>'
    return f'<span class="scope-kind">{_e(group)}</span> <span class="scope">{_e(name)}</span>'


_WINDOW: tuple[Column, ...] = (
    ("Bought", "bought", "int"),
    ("Coded", "coded", "int"),
    ("Success", "success_rate", "rate"),
    ("Cancelled", "cancelled", "int"),
    ("Refunded", "refunded", "int"),
    ("Code p50", "code_seconds_p50", "seconds"),
    ("Code p90", "code_seconds_p90", "seconds"),
    ("Polls", "polls", "int"),
    ("Polls / buy", "polls_per_activation", "number"),
)
_WINDOW_NAMES = (("hour", "Last hour"), ("day", "Last day"))


def _totals(windows: Mapping[str, Mapping[str, Window]]) -> str:
    parts = []
    for w, title in _WINDOW_NAMES:
        scopes = windows[w]
        parts.append(f"<h3>{title}</h3>")
        if not scopes:
            parts.append(_none(f"windows/{w}", "nothing counted"))
            continue
        rows = "".join(
            f'<tr class="g-{_cls(s.partition(":")[0])}"><th scope="row">{_scope_label(s)}</th>'
            f"{_cells(pointer('windows', w, s), cast(Row, scopes[s]), _WINDOW)}</tr>"
            for s in _scopes(list(scopes))
        )
        head = _head(_WINDOW, '<th scope="col">Scope</th>')
        parts.append(_wrap(f"{head}<tbody>{rows}</tbody>"))
    return _section("totals", "Totals", "".join(parts))


_CHARTS = (  # title, shape, series (the first one named by data-series), kind of the peak
    ("Purchases", "bars", ("bought", "coded"), "int"),
    ("Given back", "bars", ("cancelled", "refunded"), "int"),
    ("Code time p50", "line", ("code_seconds_p50",), "seconds"),
    ("Polls per buy", "line", ("polls_per_activation",), "number"),
)


def _chart_row(w: str, chart: Chart, scope: str, span: tuple[str, str], title: str) -> str:
    series = cast(Mapping[str, Sequence[float | None]], chart["series"][scope])
    figures = []
    for name, shape, names, kind in _CHARTS:
        keys = "".join(
            f'<span class="key"><i style="background:{PALETTE[n]}"></i>{n.split("_")[0]}</span>'
            for n in names
        ) if len(names) > 1 else ""  # fmt: skip
        svg = chart_svg(
            shape=shape,
            label=f"{name}, {scope}, {title.lower()}",
            series=[(pointer("charts", w, "series", scope, n), n, series[n]) for n in names],
            fmt=partial(format_value, kind),
            start_label=span[0],
            end_label=span[1],
        )
        figures.append(f'<figure class="chart-card"><figcaption>{name}{keys}</figcaption>'
                       f"{svg}</figure>")  # fmt: skip
    return (
        f'<div class="chart-row"><h4>{_scope_label(scope)}</h4>'
        f'<div class="multiples">{"".join(figures)}</div></div>'
    )


def _folded(scope: str) -> str:
    """The fold a scope's charts go in: "service", "country", or none ("")."""
    kind = scope.partition(":")[0]
    return kind if kind in ("service", "country") else ""


def _charts(charts: Mapping[str, Chart]) -> str:
    parts = []
    for w, title in _WINDOW_NAMES:
        chart = charts[w]
        start, end = chart["start"], chart["start"] + chart["points"] * chart["step_seconds"]
        span = (format_value("time", start)[:5], format_value("time", end)[:5])
        parts.append(
            f'<h3>{title} <span class="sub">from {fig(f"charts/{w}/start", "time", start)} UTC'
            f" · {fig(f'charts/{w}/points', 'int', chart['points'])} steps of "
            f"{fig(f'charts/{w}/step_seconds', 'seconds', chart['step_seconds'])}</span></h3>"
        )
        scopes = _scopes(list(chart["series"]))
        if not scopes:
            parts.append(_none(f"charts/{w}/series", "nothing counted"))

        for folded in ("", "service", "country"):  # services and countries folded away
            rows = "".join(_chart_row(w, chart, s, span, title) for s in scopes
                           if _folded(s) == folded)  # fmt: skip
            if rows and folded:
                rows = (f'<details id="charts-{w}-{folded}" class="fold"><summary>Per {folded}'
                        f"</summary>{rows}</details>")  # fmt: skip
            parts.append(rows)
    return _section("charts", "Charts", "".join(parts))


_ACTIVATIONS: tuple[Column, ...] = (
    ("Id", "id", "int"), ("Tenant", "tenant", "text"), ("Provider", "provider", "text"),
    ("Service", "service", "text"), ("Country", "country", "int"), ("Phone", "phone", "text"),
    ("State", "state", "text"), ("Age", "age_seconds", "age"), ("Codes", "codes", "int"),
)  # fmt: skip
_RENTALS: tuple[Column, ...] = (
    *_ACTIVATIONS[:7], ("Age", "age_seconds", "age"), ("Left", "left_seconds", "seconds"),
    ("Messages", "messages", "int"),
)  # fmt: skip
_INTENTS: tuple[Column, ...] = (
    ("Id", "id", "int"), ("Kind", "kind", "text"), ("Tenant", "tenant", "text"),
    ("Provider", "provider", "text"), ("Service", "service", "text"),
    ("Country", "country", "text"), ("Status", "status", "text"), ("Age", "age_seconds", "age"),
    ("Error", "error", "text"),
)  # fmt: skip
_ERRORS: tuple[Column, ...] = (
    ("Provider", "provider", "text"), ("Endpoint", "endpoint", "text"), ("Kind", "kind", "text"),
    ("Count", "count", "int"), ("Last at", "last_at", "time"), ("Message", "message", "text"),
)  # fmt: skip
_TENANTS: tuple[Column, ...] = (
    ("Tenant", "name", "text"), ("Currency", "currency", "text"), ("Active", "active", "int"),
    ("Bought 1 h", "bought_hour", "int"), ("Bought 1 d", "bought_day", "int"),
    ("Spend 1 d", "spend_day", "money"), ("Refunded 1 d", "refunded_day", "money"),
    ("Rentals 1 d", "rented_day", "int"),
    ("Success 1 d", "success_rate_day", "rate"),
)  # fmt: skip


def _intents(o: Overview) -> str:
    unknown = o["intents"]["unknown"]
    extra = _pill(f'{fig("intents/unknown", "int", unknown)} awaiting reconciliation',
                  "pill bad" if unknown else "pill")  # fmt: skip
    table = _table("intents/shown", o["intents"]["shown"], _INTENTS, "no purchase in doubt",
                   lambda r: f"status-{_cls(str(r['status']))}")  # fmt: skip
    return _section("intents", "Purchase intents", table, extra=extra,
                    cls="urgent" if unknown else "")  # fmt: skip


def render_fragment(overview: Overview) -> str:
    """The figures alone: the `<main id="figures">` element the page swaps in on refresh."""
    o = overview
    intents_first = o["intents"]["unknown"] > 0
    meta = (
        f"Generated {fig('generated_at', 'time', o['generated_at'], tag='time')} UTC"
        f" · refresh every {fig('refresh_seconds', 'seconds', o['refresh_seconds'])}"
    )
    links = "".join(f'<a href="#{s}">{s.capitalize()}</a>'
                    for s in ("providers", "totals", "charts", "activations", "rentals",
                              "intents", "errors", "tenants"))  # fmt: skip
    act, ren = o["activations"], o["rentals"]
    parts = [
        f'<header class="top"><h1>smsproxy <span>operator</span></h1><p class="meta">{meta}</p>'
        f'<nav class="jump">{links}</nav></header>',
        _attention(o["attention"]) if o["attention"] else "",
        _intents(o) if intents_first else "",
        _providers(o["providers"]),
        _totals(cast(Mapping[str, Mapping[str, Window]], o["windows"])),
        _charts(cast(Mapping[str, Chart], o["charts"])),
        _section("activations", "Active activations",
                 _table("activations/shown", act["shown"], _ACTIVATIONS, "no active activation"),
                 extra=_pill(f'{fig("activations/active", "int", act["active"])} active')),
        _section("rentals", "Active rentals",
                 _table("rentals/shown", ren["shown"], _RENTALS, "no active rental"),
                 extra=_pill(f'{fig("rentals/active", "int", ren["active"])} active')),
        "" if intents_first else _intents(o),
        _section("errors", "Upstream errors, last hour",
                 _table("errors", o["errors"], _ERRORS, "no upstream error")),
        _section("tenants", "Tenants", _table("tenants", o["tenants"], _TENANTS, "no tenants")),
    ]  # fmt: skip
    return f'<main id="figures">{"".join(parts)}</main>'


STYLE = """
:root{--bg:#f4f6f8;--card:#fff;--ink:#101828;--muted:#667085;--line:#e4e7ec;--soft:#f9fafb;
--ok:#067647;--ok-bg:#ecfdf3;--warn:#b54708;--warn-bg:#fffaeb;--bad:#b42318;--bad-bg:#fef3f2}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1280px;margin:0 auto;padding:20px 20px 40px}
h1{font-size:20px;margin:0;letter-spacing:-.01em}h1 span{color:var(--muted);font-weight:500}
h2{font-size:16px;margin:0 0 12px;display:flex;flex-wrap:wrap;gap:8px;align-items:center}
h3{font-size:14px;margin:16px 0 8px}h3:first-of-type{margin-top:0}
h4{font-size:12px;margin:12px 0 6px;color:var(--muted);text-transform:uppercase;
letter-spacing:.04em}
.sub{font-weight:400;color:var(--muted);font-size:13px}
.top{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 20px;margin-bottom:16px}
.meta{margin:0;color:var(--muted)}.meta>*{color:var(--ink);font-weight:600}
.jump{display:flex;flex-wrap:wrap;gap:4px 14px;width:100%}
.jump a{color:#1d4ed8;text-decoration:none;font-size:13px}.jump a:hover{text-decoration:underline}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:16px 18px;margin:0 0 16px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
section.attention,section.urgent{border-color:#fda29b;box-shadow:0 0 0 3px var(--bad-bg)}
.attention{background:var(--bad-bg)}.attention h2{color:var(--bad)}
.attention ul{margin:0;padding-left:20px}.attention li{margin:3px 0;font-weight:500}
.pill{font-size:12px;font-weight:500;color:var(--muted);background:var(--soft);
border:1px solid var(--line);border-radius:999px;padding:1px 9px}
.pill>*{color:var(--ink);font-weight:700}.pill.bad{color:var(--bad);background:var(--bad-bg);
border-color:#fda29b}.pill.bad>*{color:var(--bad)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,360px),1fr));gap:14px}
.provider{border:1px solid var(--line);border-left:5px solid var(--ok);border-radius:10px;
padding:12px 14px;min-width:0}
.provider.resting,.provider.state-half_open{border-left-color:var(--warn)}
.provider.state-open{border-left-color:var(--bad);
background:linear-gradient(var(--bad-bg),#fff 90px)}
.provider header{display:flex;align-items:center;gap:8px;flex-wrap:wrap}
.provider h3{margin:0;font-size:16px}.kind{color:var(--muted);font-size:12px}
.badge{margin-left:auto;font-size:12px;font-weight:700;border-radius:999px;padding:2px 10px;
text-transform:uppercase;letter-spacing:.03em;background:var(--ok-bg);color:var(--ok)}
.badge.st-open{background:var(--bad-bg);color:var(--bad)}
.badge.st-half_open{background:var(--warn-bg);color:var(--warn)}
.rest{margin:10px 0 0;padding:6px 10px;border-radius:8px;background:var(--warn-bg);
color:var(--warn)}.rest strong{margin-right:4px}
.facts{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:10px 12px;margin:12px 0 0}
.facts dt{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.facts dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}
.facts .wide{grid-column:1/-1}.facts .wide dd{font-weight:400}
.big{font-size:16px}.unit{color:var(--muted);font-weight:500}
.msg{overflow-wrap:anywhere;white-space:normal}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid var(--line);
border-radius:8px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
tbody tr:last-child>*{border-bottom:0}
thead th{background:var(--soft);font-size:11px;font-weight:600;color:var(--muted);
text-transform:uppercase;letter-spacing:.04em}
tbody th{font-weight:600}
.num{text-align:right}td.msg{min-width:240px;color:#344054}
tr.g-all>*{background:#f5f8ff}tr.g-all th{font-weight:700}
.scope-kind{font-size:11px;font-weight:500;color:var(--muted);text-transform:uppercase}
tr.status-unknown td,tr.status-not_listed td{color:var(--bad)}
tr.status-unknown td.status,tr.status-not_listed td.status{font-weight:700}
.none{margin:0;color:var(--muted);font-style:italic}
.chart-row{margin:0 0 12px}.chart-row h4{margin:8px 0 6px}
.multiples{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:10px}
.chart-card{margin:0;border:1px solid var(--line);border-radius:8px;padding:6px 8px 4px;
min-width:0}
.chart-card figcaption{font-size:12px;font-weight:600;display:flex;gap:8px;flex-wrap:wrap;
align-items:center}
.key{font-weight:400;white-space:nowrap;color:var(--muted);font-size:11px}
.key i{display:inline-block;width:8px;height:8px;border-radius:2px;margin-right:3px}
svg.chart{display:block;width:100%;height:auto}
.fold{margin:4px 0 12px}.fold summary{cursor:pointer;font-weight:600;color:#1d4ed8;
padding:4px 0}
.stale{position:fixed;right:12px;bottom:12px;z-index:9;background:var(--warn-bg);
color:var(--warn);border:1px solid #fec84b;border-radius:999px;padding:4px 12px;
font-size:13px;font-weight:600;box-shadow:0 2px 6px rgba(16,24,40,.12)}
.stale[hidden]{display:none}
@media (max-width:700px){main{padding:12px 10px 32px}section{padding:12px;border-radius:10px}
.multiples{grid-template-columns:repeat(2,minmax(0,1fr))}
.facts{grid-template-columns:repeat(2,minmax(0,1fr))}}
@media (max-width:480px){.multiples{grid-template-columns:1fr}}
.login{max-width:360px;margin:12vh auto;padding:24px}
.login label{display:block;font-weight:600;margin:0 0 6px}
.login input{width:100%;font:inherit;padding:9px 10px;border:1px solid #d0d5dd;border-radius:8px}
.login button{margin-top:12px;width:100%;font:inherit;font-weight:600;padding:9px;
border:0;border-radius:8px;background:#1d4ed8;color:#fff;cursor:pointer}
.error{color:var(--bad);background:var(--bad-bg);border-radius:8px;padding:8px 10px}
"""

SCRIPT = """
(function () {
  var body = document.body, secs = parseInt(body.getAttribute("data-refresh"), 10);
  var url = body.getAttribute("data-fragment-url"), stale = document.getElementById("stale");
  var since = null;
  if (!(secs > 0) || !window.fetch) return;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function markStale() {
    if (since === null) {
      since = new Date();
      stale.textContent = "stale since " + pad(since.getUTCHours()) + ":" +
        pad(since.getUTCMinutes()) + ":" + pad(since.getUTCSeconds());
    }
    stale.hidden = false;
  }
  function swap(text) {
    var main = document.getElementById("figures"), open = {};
    if (!main) return;
    main.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
    main.outerHTML = text;
    Object.keys(open).forEach(function (id) {
      var d = document.getElementById(id);
      if (d) d.open = open[id];
    });
    since = null;
    stale.hidden = true;
  }
  function tick() {
    // A server that never answers must show as stale too, not keep the last figures quietly.
    var abort = window.AbortController ? new AbortController() : null;
    var limit = abort && setTimeout(function () { abort.abort(); }, Math.max(5, 2 * secs) * 1000);
    fetch(url, {credentials: "same-origin", cache: "no-store", signal: abort && abort.signal})
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return; }
        if (r.status !== 200) { markStale(); return; }
        return r.text().then(swap);
      }).catch(markStale).then(function () {
        if (limit) clearTimeout(limit);
        setTimeout(tick, secs * 1000);
      });
  }
  setTimeout(tick, secs * 1000);
})();
"""


def _document(title: str, head: str, body_attrs: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{title}</title>{head}<style>{STYLE}</style></head>"
        f"<body{body_attrs}>{body}</body></html>\n"
    )


def render_page(overview: Overview, *, fragment_url: str = "/admin/fragment") -> str:
    """The whole page: the figures, the style, and the script that refetches them every
    `refresh_seconds` (a meta refresh without script)."""
    refresh = int(overview["refresh_seconds"])
    return _document(
        "smsproxy — operator",
        f'<noscript><meta http-equiv="refresh" content="{refresh}"></noscript>',
        f' data-refresh="{refresh}" data-fragment-url="{_e(fragment_url)}"',
        f'{render_fragment(overview)}<div id="stale" class="stale" role="status" hidden '
        f'title="the figures could not be refreshed; retrying (UTC)"></div>'
        f"<script>{SCRIPT}</script>",
    )


def render_login(message: str = "", *, action: str = "/admin/login") -> str:
    """The sign-in form the page shows instead of the figures without a valid token; it posts
    to `action` (the login route under the app's root path)."""
    error = f'<p class="error" id="login-error">{_e(message)}</p>' if message else ""
    form = (
        f'<form method="post" action="{_e(action)}">'
        '<label for="token">Operator token</label>'
        '<input type="password" name="token" id="token" autocomplete="current-password" '
        'required autofocus><button type="submit" id="login">Sign in</button></form>'
    )
    body = f'<main><section class="login"><h1>smsproxy <span>operator</span></h1>{error}{form}'
    return _document("smsproxy — operator", "", "", body + "</section></main>")
