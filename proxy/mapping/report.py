"""The unmapped report: what no SMS-Activate client can reach, so nothing is dropped silently.

Behind `smsproxy catalog --unmapped`. Per provider kind it lists the provider's services, countries
and operators with no SMS-Activate counterpart (reasons from data/unmapped.json and
data/operators.json), the SMS-Activate operator names the provider cannot honour, and the
SMS-Activate countries it does not carry. It reads the maps it is given, so a pair added by a
configuration override leaves the report and a pair removed by one joins it.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

from proxy.mapping.codes import PROVIDER_KINDS, CodeMap, load_code_map
from proxy.mapping.operators import OperatorMap, load_operator_map

_WIDTH = 100
_SECTIONS = (
    ("services", "services with no SMS-Activate code"),
    ("countries", "countries with no SMS-Activate id"),
    ("operators", "operators with no SMS-Activate name"),
    ("unhonoured_operators", "SMS-Activate operator names it cannot honour"),
)


@cache
def _unmapped_data() -> dict[str, Any]:
    path = resources.files("proxy.mapping").joinpath("data", "unmapped.json")
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def _services(codes: CodeMap, kind: str) -> list[dict[str, str]]:
    """The data file's unpaired codes still unpaired, then data pairs an override removed."""
    entries = [
        {"code": str(e["code"]), "name": str(e["name"]), "reason": str(e["reason"])}
        for e in _unmapped_data()[kind]["services"]
        if codes.service_from_provider(kind, str(e["code"])) is None
    ]
    default = load_code_map()
    for service in default.services:
        code = default.provider_service(kind, service.code)
        if code is not None and codes.service_from_provider(kind, code) is None:
            reason = f"its pair with SMS-Activate {service.code!r} was removed by configuration"
            entries.append({"code": code, "name": service.name, "reason": reason})
    return entries


def _countries(codes: CodeMap, kind: str) -> list[dict[str, str]]:
    """Like _services, for provider country codes."""
    entries = [
        {"code": str(e["code"]), "name": str(e["name"]), "reason": str(e["reason"])}
        for e in _unmapped_data()[kind]["countries"]
        if codes.country_from_provider(kind, str(e["code"])) is None
    ]
    default = load_code_map()
    for country in default.countries:
        code = default.provider_country(kind, country.id)
        if code is not None and codes.country_from_provider(kind, code) is None:
            reason = f"its pair with SMS-Activate country {country.id} was removed by configuration"
            entries.append({"code": code, "name": country.eng, "reason": reason})
    return entries


def _operators(
    codes: CodeMap, operators: OperatorMap, kind: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Provider operators with no SMS-Activate name, and SMS-Activate names it cannot honour.

    Both start from the data file's entries the map still lacks; a data pair an override removed
    adds its provider operator to the first list and its SMS-Activate name to the second.
    """
    unreachable: list[dict[str, Any]] = [
        {
            "country_id": op.country_id,
            "country": op.provider_country,
            "name": op.name,
            "reason": op.reason,
        }
        for op in operators.unmapped(kind)
    ]
    unhonoured: list[dict[str, Any]] = [
        {"country_id": op.country_id, "name": op.name, "reason": op.reason}
        for op in operators.unhonoured(kind)
    ]
    default = load_operator_map()
    seen: set[tuple[int, str]] = set()
    for country_id in default.countries():
        for name in default.honoured(kind, country_id):
            code = default.provider_operator(kind, country_id, name) or ""
            if operators.provider_operator(kind, country_id, name) is None:
                reason = f"its pair with {kind} {code!r} was removed by configuration"
                unhonoured.append({"country_id": country_id, "name": name, "reason": reason})
            lost = operators.operator_from_provider(kind, country_id, code) is None
            if lost and (country_id, code) not in seen:
                seen.add((country_id, code))
                country = codes.provider_country(kind, country_id) or ""
                reason = f"its pair with SMS-Activate {name!r} was removed by configuration"
                unreachable.append(
                    {"country_id": country_id, "country": country, "name": code, "reason": reason}
                )
    return unreachable, unhonoured


def _provider(codes: CodeMap, operators: OperatorMap, kind: str) -> dict[str, Any]:
    not_carried = [c.id for c in codes.countries if codes.provider_country(kind, c.id) is None]
    unreachable, unhonoured = _operators(codes, operators, kind)
    section: dict[str, Any] = {
        "services": _services(codes, kind),
        "countries": _countries(codes, kind),
        "operators": unreachable,
        "unhonoured_operators": unhonoured,
        "countries_not_carried": not_carried,
    }
    section["counts"] = {key: len(value) for key, value in section.items()}
    return section


def unmapped_json(codes: CodeMap, operators: OperatorMap) -> dict[str, Any]:
    """The report as data, for `--json`: per provider kind the entries and their counts.

    Shape: {"sa_countries": n, "providers": {kind: {"services", "countries", "operators",
    "unhonoured_operators": [entries], "countries_not_carried": [ids], "counts": {key: n}}},
    "totals": {section: n summed over providers}}.
    """
    providers = {kind: _provider(codes, operators, kind) for kind in PROVIDER_KINDS}
    totals = {key: sum(p["counts"][key] for p in providers.values()) for key, _ in _SECTIONS}
    return {"sa_countries": len(codes.countries), "providers": providers, "totals": totals}


def compact_ids(ids: Iterable[int]) -> str:
    """Ascending ids with runs folded: 3, 5, 9-11."""
    runs: list[list[int]] = []
    for value in sorted(set(ids)):
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _entry_lines(codes: CodeMap, key: str, entries: Sequence[dict[str, Any]]) -> list[str]:
    if key in ("services", "countries"):
        width = max((len(e["code"]) for e in entries), default=0)
        return [f"{e['code']:<{width}}  {e['name']} - {e['reason']}" for e in entries]
    # Operators share a reason per country, so one line per country and reason keeps it short.
    groups: dict[tuple[int, str], list[str]] = {}
    for e in entries:
        groups.setdefault((e["country_id"], e["reason"]), []).append(e["name"])
    lines = []
    for (country_id, reason), names in sorted(groups.items()):
        country = codes.country(country_id)
        place = f"{country.eng if country else 'unknown country'} ({country_id})"
        lines.append(f"{place}: {', '.join(names)} - {reason}")
    return lines


def _wrap(line: str, indent: str) -> list[str]:
    return textwrap.wrap(
        line,
        _WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "    ",
        break_on_hyphens=False,
    )


def unmapped_report(codes: CodeMap, operators: OperatorMap) -> str:
    """The report as plain text for operators reading a terminal."""
    data = unmapped_json(codes, operators)
    lines = [
        "Unmapped catalogue entries: what SMS-Activate clients cannot reach through each provider,",
        "and what of SMS-Activate's each provider lacks.",
    ]
    for kind, section in data["providers"].items():
        lines += ["", kind]
        for key, title in _SECTIONS:
            lines.append(f"  {title}: {section['counts'][key]}")
            for line in _entry_lines(codes, key, section[key]):
                lines += _wrap(line, "    ")
        not_carried = section["countries_not_carried"]
        lines.append(
            f"  SMS-Activate countries it does not carry: {len(not_carried)}"
            f" of {data['sa_countries']}"
        )
        if not_carried:
            lines += _wrap(compact_ids(not_carried), "    ")
    counts = data["totals"]
    total = ", ".join(f"{counts[key]} {title}" for key, title in _SECTIONS)
    lines.append("")
    lines += _wrap(f"Total over providers: {total}", "")
    return "\n".join(lines) + "\n"
