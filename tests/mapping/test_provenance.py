"""Every pair in proxy/mapping/data names its source; nothing illustrative or guessed ships."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from proxy.mapping import PROVIDER_KINDS, build_data, load_code_map, load_operator_map
from proxy.mapping.report import unmapped_json, unmapped_report

DATA = resources.files("proxy.mapping").joinpath("data")
FILES = {
    p.name: json.loads(p.read_text("utf-8")) for p in DATA.iterdir() if p.name.endswith(".json")
}
SHARED = Path(__file__).resolve().parents[3] / "shared"
needs_shared = pytest.mark.skipif(
    not (SHARED / "reference").is_dir(), reason="shared/ is not beside the repository"
)
FORBIDDEN = ("illustrative", "made up", "made-up", "placeholder", "guess")
SOURCE_KEYS = {"source", "sources", "reason", "notes"}
NO_SOURCE = "no source for the pair with SMS-Activate"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _provenance(value: Any) -> Iterator[tuple[str, str]]:
    """(key, text) for every string under a source, sources, reason or notes key."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SOURCE_KEYS:
                yield from ((key, text) for text in _strings(item))
            else:
                yield from _provenance(item)
    elif isinstance(value, list):
        for item in value:
            yield from _provenance(item)


def _pair_rows(value: Any) -> Iterator[dict[str, Any]]:
    """Every object pairing something with a provider code (a provider kind key with a string)."""
    if isinstance(value, dict):
        if any(isinstance(value.get(kind), str) for kind in PROVIDER_KINDS):
            yield value
        for key, item in value.items():
            if key not in SOURCE_KEYS:  # a sources object is the provenance, not a pair
                yield from _pair_rows(item)
    elif isinstance(value, list):
        for item in value:
            yield from _pair_rows(item)


def _seed_lines(number: str) -> list[str]:
    path = next((SHARED / "seeds").glob(f"{number}_*.txt"))
    return [line.strip() for line in path.read_text("utf-8").splitlines()]


def test_data_files_are_the_known_ones() -> None:
    """A new data file (say a rental table) must come with its own provenance checks here."""
    assert sorted(FILES) == ["countries.json", "operators.json", "services.json", "unmapped.json"]


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_pair_row_names_its_source(name: str) -> None:
    """Any row carrying a provider code has a non-empty source for that provider."""
    for row in _pair_rows(FILES[name]):
        for kind in PROVIDER_KINDS:
            if isinstance(row.get(kind), str):
                source = row.get("sources", {}).get(kind)
                assert isinstance(source, str) and source.strip(), (name, row)


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_source_is_illustrative_or_guessed(name: str) -> None:
    for key, text in _provenance(FILES[name]):
        assert text.strip(), (name, key)
        assert not any(word in text.lower() for word in FORBIDDEN), (name, key, text)


def test_build_data_reasons_are_not_illustrative_or_guessed() -> None:
    reasons = [r for _, _, r in build_data.SMSPVA_PAIRS + build_data.VAKSMS_PAIRS]
    reasons += list(build_data.SMSPVA_UNMAPPED.values()) + list(build_data.VAKSMS_UNMAPPED.values())
    for text in reasons:
        assert not any(word in text.lower() for word in FORBIDDEN), text


def test_service_rows() -> None:
    """Each service row cites its SMS-Activate file and, per pair, both sides and why."""
    for row in FILES["services.json"]:
        sources = row["sources"]
        legacy = "_legacy" if row["legacy"] else ""
        assert sources["sms-activate"] == f"reference/smsactivate_services{legacy}.json"
        kinds = {kind for kind in PROVIDER_KINDS if row[kind] is not None}
        assert set(sources) == {"sms-activate"} | kinds, row
        sa_ref = (
            f"{sources['sms-activate']} {row['code']} {json.dumps(row['name'], ensure_ascii=False)}"
        )
        for kind in kinds:
            text = sources[kind]
            assert f" = {sa_ref}: " in text, text
            assert ": same name" in text or ": hand-checked, build_data.py " in text, text
            if kind == "smspva":
                assert text.startswith(f"reference/smspva_services.json {row['smspva']} "), text
            else:
                assert re.match(rf"seeds/003:\d+ {re.escape(row['vaksms'])} ", text), text


def test_country_rows() -> None:
    for row in FILES["countries.json"]:
        sources = row["sources"]
        assert sources["sms-activate"].startswith(
            f"reference/smsactivate_countries.json id {row['id']} "
        )
        assert sources["calling_code"].startswith(f"{row['iso2']} +{row['calling_code']}, ")
        assert "CALLING_CODES" in sources["calling_code"]
        if row["smspva"]:
            assert sources["smspva"].startswith(f"reference/smspva_countries.json {row['smspva']} ")
        if row["vaksms"]:
            assert re.match(rf"seeds/003:\d+ {row['vaksms']} ", sources["vaksms"])


def test_operator_rows() -> None:
    """One pair_sources row per operator pair, and seed lines on every other row."""
    data = FILES["operators.json"]
    for entry in data["countries"].values():
        assert "seeds/" in entry["source"]
    for kind in PROVIDER_KINDS:
        provider = data["providers"][kind]
        pairs = {
            (int(cid), sa): code
            for cid, by_name in provider["pairs"].items()
            for sa, code in by_name.items()
        }
        rows = {(r["country_id"], r["name"]): r for r in provider["pair_sources"]}
        assert len(rows) == len(provider["pair_sources"])
        assert rows.keys() == pairs.keys(), kind
        for key, row in rows.items():
            assert row["operator"] == pairs[key]
            assert row["source"].startswith("seeds/"), row
        for entry in provider["unmapped"] + provider["no_counterpart"]:
            assert entry["reason"].strip() and entry["source"].startswith("seeds/"), entry


@needs_shared
def test_cited_seed_003_lines_hold_the_rows() -> None:
    """The seed 003 line numbers point at the service, country and operator rows they name."""
    seed = _seed_lines("003")
    for row in FILES["services.json"]:
        if row["vaksms"]:
            match = re.match(r"seeds/003:(\d+) (\S+) ", row["sources"]["vaksms"])
            assert match is not None
            assert seed[int(match[1]) - 1].endswith(f" {row['vaksms']}"), row
    for row in FILES["countries.json"]:
        if row["vaksms"]:
            match = re.match(r"seeds/003:(\d+) ", row["sources"]["vaksms"])
            assert match is not None
            assert f" {row['vaksms']} " in seed[int(match[1]) - 1], row
    for pair in FILES["operators.json"]["providers"]["vaksms"]["pair_sources"]:
        match = re.match(r"seeds/003:(\d+) ", pair["source"])
        assert match is not None
        line = seed[int(match[1]) - 1]
        assert line == pair["operator"] or line.endswith(f" {pair['operator']}"), pair
    for entry in FILES["operators.json"]["providers"]["vaksms"]["unmapped"]:
        cited = re.findall(r"(\d+)(?:-(\d+))?", entry["source"].removeprefix("seeds/003:"))
        numbers = [n for a, b in cited for n in range(int(a), int(b or a) + 1)]
        lines = [seed[n - 1] for n in numbers]
        assert len(lines) == len(entry["names"])
        for line, name in zip(lines, entry["names"], strict=True):
            assert line == name or line.endswith(f" {entry['country']} {name}"), (line, name)


@needs_shared
def test_cited_seed_000_lines_hold_the_codes() -> None:
    seed = _seed_lines("000")
    cited = 0
    for row in FILES["services.json"] + FILES["countries.json"]:
        text = row["sources"].get("smspva", "")
        for line, code in re.findall(
            r"seeds/000:(\d+) lists (?:\S+ as \"[^\"]*\"|\"[^\"]*\" as (\S+))", text
        ):
            cited += 1
            assert (code or row["smspva"]) in seed[int(line) - 1], (row, line)
    assert cited >= 14 + 19  # the seed's key services (000:257-270) and countries (000:282-300)


def test_pairs_without_a_source_are_left_out_and_reported() -> None:
    """A pair with no statable source is in unmapped.json and in `smsproxy catalog --unmapped`."""
    codes, operators = load_code_map(), load_operator_map()
    report = unmapped_json(codes, operators)
    text = unmapped_report(codes, operators)
    removed = [
        (kind, entry)
        for kind in PROVIDER_KINDS
        for entry in FILES["unmapped.json"][kind]["services"]
        if entry["reason"].startswith(NO_SOURCE)
    ]
    for kind, entry in removed:
        assert codes.service_from_provider(kind, entry["code"]) is None
        assert entry in report["providers"][kind]["services"]
        line = rf"\n    {re.escape(entry['code'])} +{re.escape(entry['name'])} - {NO_SOURCE} "
        assert re.search(line, text), entry
