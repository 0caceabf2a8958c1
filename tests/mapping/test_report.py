"""Tests for proxy.mapping.report, the `smsproxy catalog --unmapped` report."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from proxy.mapping import (
    PROVIDER_KINDS,
    OperatorOverrides,
    Overrides,
    load_code_map,
    load_operator_map,
    unmapped_json,
    unmapped_report,
)
from proxy.mapping.report import compact_ids

CODES = load_code_map()
OPERATORS = load_operator_map()
UNMAPPED: dict[str, Any] = json.loads(
    resources.files("proxy.mapping").joinpath("data", "unmapped.json").read_text("utf-8")
)


def codes_in(section: list[dict[str, Any]]) -> set[str]:
    return {entry["code"] for entry in section}


@pytest.mark.parametrize("kind", PROVIDER_KINDS)
def test_default_report_lists_every_data_entry(kind: str) -> None:
    section = unmapped_json(CODES, OPERATORS)["providers"][kind]
    assert section["services"] == UNMAPPED[kind]["services"]
    assert section["countries"] == UNMAPPED[kind]["countries"]
    assert len(section["operators"]) == len(OPERATORS.unmapped(kind))
    assert len(section["unhonoured_operators"]) == len(OPERATORS.unhonoured(kind))
    expected = [c.id for c in CODES.countries if CODES.provider_country(kind, c.id) is None]
    assert section["countries_not_carried"] == expected
    assert section["counts"] == {
        key: len(section[key])
        for key in (
            "services",
            "countries",
            "operators",
            "unhonoured_operators",
            "countries_not_carried",
        )
    }


def test_default_counts() -> None:
    data = unmapped_json(CODES, OPERATORS)
    vak = data["providers"]["vaksms"]["counts"]
    assert vak["operators"] == 107  # 121 VAK operators (seeds/003:312-433), 14 paired
    assert vak["unhonoured_operators"] == 2  # aiva in Russia, utel in Ukraine
    assert data["providers"]["smspva"]["counts"]["operators"] == 0
    assert data["totals"]["services"] == len(UNMAPPED["smspva"]["services"]) + len(
        UNMAPPED["vaksms"]["services"]
    )
    assert data["sa_countries"] == len(CODES.countries)
    json.dumps(data)  # plain data, ready for --json


def test_text_report_is_readable() -> None:
    text = unmapped_report(CODES, OPERATORS)
    counts = unmapped_json(CODES, OPERATORS)["providers"]
    assert "\nsmspva\n" in text and "\nvaksms\n" in text
    assert f"  services with no SMS-Activate code: {counts['smspva']['counts']['services']}" in text
    assert "opt0  " in text and "myopinions & erewards - no SMS-Activate service" in text
    assert "    United Kingdom (16): ee, giffgaff, lycamobile, o2, orange, three, tmobile" in text
    assert "    Ukraine (1): utel - VAK-SMS lists no such operator for ua" in text
    assert "  SMS-Activate countries it does not carry: " in text
    assert text.startswith("Unmapped catalogue entries") and text.endswith("\n")
    assert max(len(line) for line in text.splitlines()) <= 100


def test_not_carried_countries_are_listed_compactly() -> None:
    text = unmapped_report(CODES, OPERATORS)
    not_carried = unmapped_json(CODES, OPERATORS)["providers"]["vaksms"]["countries_not_carried"]
    assert f"does not carry: {len(not_carried)} of {len(CODES.countries)}\n    3, 5, 9, 11," in text


def test_compact_ids_folds_runs() -> None:
    assert compact_ids([13, 3, 9, 10, 11, 5, 10]) == "3, 5, 9-11, 13"
    assert compact_ids([]) == ""


def first_service_vak_lacks() -> str:
    return next(s.code for s in CODES.services if CODES.provider_service("vaksms", s.code) is None)


def test_a_service_paired_by_an_override_leaves_the_report() -> None:
    codes = load_code_map(Overrides(services={"vaksms": {first_service_vak_lacks(): "tf"}}))
    section = unmapped_json(codes, OPERATORS)["providers"]["vaksms"]
    assert "tf" in codes_in(UNMAPPED["vaksms"]["services"])
    assert "tf" not in codes_in(section["services"])
    assert section["counts"]["services"] == len(UNMAPPED["vaksms"]["services"]) - 1


def test_a_pair_removed_by_an_override_joins_the_report() -> None:
    codes = load_code_map(
        Overrides(services={"vaksms": {"tg": None}}, countries={"smspva": {2: None}})
    )
    data = unmapped_json(codes, OPERATORS)["providers"]
    removed = [e for e in data["vaksms"]["services"] if e["code"] == "tg"]
    assert removed == [
        {
            "code": "tg",
            "name": "Telegram",
            "reason": "its pair with SMS-Activate 'tg' was removed by configuration",
        }
    ]
    assert {"code": "KZ", "name": "Kazakhstan"}.items() <= data["smspva"]["countries"][0].items()
    assert 2 in data["smspva"]["countries_not_carried"]
    text = unmapped_report(codes, OPERATORS)
    assert (
        "countries with no SMS-Activate id: 1\n    KZ  Kazakhstan - its pair with SMS-Activate"
        in text
    )


def test_an_operator_paired_by_an_override_leaves_the_report() -> None:
    ops = load_operator_map(OperatorOverrides(pairs={"vaksms": {16: {"ee": "ee"}}}))
    text = unmapped_report(CODES, ops)
    assert "United Kingdom (16): giffgaff, lycamobile, o2, orange, three, tmobile" in text
    assert unmapped_json(CODES, ops)["providers"]["vaksms"]["counts"]["operators"] == 106


def test_an_operator_pair_removed_by_an_override_joins_the_report() -> None:
    ops = load_operator_map(OperatorOverrides(pairs={"vaksms": {0: {"mts": None}}}))
    section = unmapped_json(CODES, ops)["providers"]["vaksms"]
    assert {
        "country_id": 0,
        "country": "ru",
        "name": "mts",
        "reason": "its pair with SMS-Activate 'mts' was removed by configuration",
    } in section["operators"]
    assert {
        "country_id": 0,
        "name": "mts",
        "reason": "its pair with vaksms 'mts' was removed by configuration",
    } in section["unhonoured_operators"]


def test_removing_one_alias_keeps_the_shared_provider_operator_reachable() -> None:
    # VAK vodafone answers SA mts and vodafone in Ukraine (seeds/002:38, seeds/003:420-423).
    ops = load_operator_map(OperatorOverrides(pairs={"vaksms": {1: {"mts": None}}}))
    section = unmapped_json(CODES, ops)["providers"]["vaksms"]
    assert [e["name"] for e in section["operators"] if e["country_id"] == 1] == ["lycamobile"]
    assert [e["name"] for e in section["unhonoured_operators"] if e["country_id"] == 1] == [
        "utel",
        "mts",
    ]
