"""Tests for proxy.mapping.operators and data/operators.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from proxy.mapping import (
    PROVIDER_KINDS,
    OperatorMap,
    OperatorOverrides,
    load_code_map,
    load_operator_map,
)

CODES = load_code_map()
OPERATORS = load_operator_map()
REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO.parent / "shared" / "seeds"
needs_seeds = pytest.mark.skipif(
    not (SEEDS / "003_a228251e6facfcfc.txt").is_file(), reason="shared/seeds is not beside the repo"
)

# SMS-Activate's documented lists (seeds/002:36-40) and getOperators example (seeds/004:68-69).
SA_SEED_NAMES = {
    0: ["megafon", "mts", "beeline", "tele2", "rostelecom"],
    1: ["kyivstar", "life", "utel", "mts", "vodafone"],
    2: ["tele2", "beeline", "activ", "altel"],
}


def vak_table_from_repo() -> dict[str, list[str]]:
    """VAK-SMS code -> operators, as the emulator's data file has them."""
    path = REPO / "proxy" / "emulators" / "data" / "vaksms_countries.json"
    return {c["code"]: list(c["operators"]) for c in json.loads(path.read_text("utf-8"))}


def vak_table_from_seed() -> dict[str, list[str]]:
    """VAK-SMS code -> operators, read from seed 003's country table (seeds/003:312-433)."""
    lines = [line.strip() for line in (SEEDS / "003_a228251e6facfcfc.txt").read_text().splitlines()]
    table: dict[str, list[str]] = {}
    code = ""
    for line in lines[lines.index("Название страны Код {country} Имя {operator}") + 1 :]:
        if line.startswith("GET "):
            break
        # "United Kingdom gb ee": name, code, first operator; the others follow one per line.
        match = re.fullmatch(r"([A-Z][A-Za-z ]*?) ([a-z]{2}) (.+)", line)
        if match:
            code = match[2]
            table[code] = [match[3]]
        else:
            table[code].append(line)
    return table


@needs_seeds
def test_emulator_operator_table_is_seed_003() -> None:
    assert vak_table_from_seed() == vak_table_from_repo()


def test_every_vak_operator_is_reachable_or_listed_unmapped_with_a_reason() -> None:
    unmapped = {(op.provider_country, op.name): op for op in OPERATORS.unmapped("vaksms")}
    table = vak_table_from_repo()
    for code, names in table.items():
        country_id = CODES.country_from_provider("vaksms", code)
        assert country_id is not None, code
        for name in names:
            reachable = OPERATORS.operator_from_provider("vaksms", country_id, name) is not None
            listed = (code, name) in unmapped
            assert reachable != listed, (code, name, reachable, listed)
            if listed:
                assert unmapped[code, name].country_id == country_id
                assert unmapped[code, name].reason.strip()
    assert all(name in table[code] for code, name in unmapped), "unmapped lists unknown operators"
    assert sum(map(len, table.values())) == 121


def test_vak_pairs_use_only_names_from_vak_table() -> None:
    table = vak_table_from_repo()
    for country_id in OPERATORS.countries():
        code = CODES.provider_country("vaksms", country_id)
        for name in OPERATORS.honoured("vaksms", country_id):
            assert code is not None
            assert OPERATORS.provider_operator("vaksms", country_id, name) in table[code]


@pytest.mark.parametrize("kind", PROVIDER_KINDS)
def test_every_sa_name_in_a_carried_country_is_honoured_or_explained(kind: str) -> None:
    unhonoured = {(op.country_id, op.name) for op in OPERATORS.unhonoured(kind)}
    for country_id in OPERATORS.countries():
        honoured = set(OPERATORS.honoured(kind, country_id))
        if CODES.provider_country(kind, country_id) is None:
            assert not honoured, f"{kind} pairs operators for uncarried country {country_id}"
            continue
        for name in OPERATORS.names(country_id):
            assert (name in honoured) != ((country_id, name) in unhonoured), (kind, name)


def test_life_is_lifecell_on_vak_in_ukraine() -> None:
    # seeds/002:38 life vs seeds/003:421 lifecell; SPEC-NOTES "operators" row.
    assert OPERATORS.provider_operator("vaksms", 1, "life") == "lifecell"
    assert OPERATORS.operator_from_provider("vaksms", 1, "lifecell") == "life"


def test_mts_ukraine_buys_vodafone_but_vodafone_maps_back_to_itself() -> None:
    assert OPERATORS.provider_operator("vaksms", 1, "mts") == "vodafone"
    assert OPERATORS.provider_operator("vaksms", 1, "vodafone") == "vodafone"
    assert OPERATORS.operator_from_provider("vaksms", 1, "vodafone") == "vodafone"


@pytest.mark.parametrize("country_id", sorted(SA_SEED_NAMES))
def test_seed_names_map_on_vak(country_id: int) -> None:
    for name in SA_SEED_NAMES[country_id]:
        if (country_id, name) in {(1, "utel")}:
            continue  # VAK-SMS has no Utel (seeds/003:420-423); checked below
        assert OPERATORS.provider_operator("vaksms", country_id, name) is not None, name
    assert OPERATORS.provider_operator("vaksms", 0, "tele2") == "tele2"
    assert OPERATORS.provider_operator("vaksms", 2, "activ") == "activ"


def test_names_a_provider_does_not_carry_are_none() -> None:
    assert OPERATORS.provider_operator("vaksms", 1, "utel") is None
    assert OPERATORS.provider_operator("vaksms", 0, "aiva") is None
    assert OPERATORS.provider_operator("vaksms", 0, "patriot") is None  # VAK's, not an SA name
    assert OPERATORS.provider_operator("vaksms", 0, "any") is None  # no filter, not an operator
    assert OPERATORS.provider_operator("vaksms", 16, "ee") is None  # no SA names for the UK
    assert OPERATORS.provider_operator("smspva", 3, "chinamobile") is None  # China not carried
    assert OPERATORS.provider_operator("smspva", 0, "nosuch") is None


def test_lookup_ignores_case_and_blanks() -> None:
    assert OPERATORS.provider_operator("vaksms", 1, " LIFE ") == "lifecell"
    assert OPERATORS.operator_from_provider("vaksms", 1, "LifeCell") == "life"


def test_smspva_takes_the_sms_activate_name_as_is() -> None:
    # seeds/000:43: SMSPVA's operator is a free string with no published list.
    for country_id in (0, 1, 2):
        for name in OPERATORS.names(country_id):
            assert OPERATORS.provider_operator("smspva", country_id, name) == name
    assert OPERATORS.unmapped("smspva") == ()


@pytest.mark.parametrize("country_id", sorted(SA_SEED_NAMES))
def test_names_include_the_seed_lists(country_id: int) -> None:
    names = OPERATORS.names(country_id)
    assert set(SA_SEED_NAMES[country_id]) <= set(names)
    assert "any" not in names
    assert all(name == name.lower() for name in names)


def test_names_and_countries() -> None:
    assert {"mtt", "yota"} <= set(OPERATORS.names(0))  # seeds/004:148, seeds/004:599
    assert OPERATORS.names(3) == ("chinamobile",)  # seeds/004:560
    assert OPERATORS.names(999) == ()
    assert OPERATORS.countries() == (0, 1, 2, 3)
    assert "aiva" not in OPERATORS.honoured("vaksms", 0)


def test_unknown_kind_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        OPERATORS.provider_operator("fivesim", 0, "mts")
    with pytest.raises(KeyError):
        OPERATORS.unmapped("fivesim")


def test_load_operator_map_is_cached() -> None:
    assert load_operator_map() is OPERATORS
    assert load_operator_map(OperatorOverrides()) is OPERATORS


def test_override_adds_a_pair_and_a_name() -> None:
    ops = load_operator_map(OperatorOverrides(pairs={"vaksms": {16: {"EE": "ee"}}}))
    assert ops.provider_operator("vaksms", 16, "ee") == "ee"
    assert ops.names(16) == ("ee",)
    assert 16 in ops.countries()
    left = {(op.provider_country, op.name) for op in ops.unmapped("vaksms")}
    assert ("gb", "ee") not in left and ("gb", "o2") in left
    assert OPERATORS.provider_operator("vaksms", 16, "ee") is None  # the default map is untouched


def test_override_removes_and_replaces_pairs() -> None:
    ops = load_operator_map(
        OperatorOverrides(pairs={"vaksms": {0: {"mts": None, "tinkoff": "tinkoff"}}})
    )
    assert ops.provider_operator("vaksms", 0, "mts") is None
    assert "mts" in ops.names(0)  # still an SMS-Activate name
    assert "mts" not in ops.honoured("vaksms", 0)
    assert ops.provider_operator("vaksms", 0, "tinkoff") == "tinkoff"
    assert ("ru", "tinkoff") not in {
        (op.provider_country, op.name) for op in ops.unmapped("vaksms")
    }


def test_override_may_alias_two_names_to_one_provider_operator() -> None:
    ops = load_operator_map(OperatorOverrides(pairs={"vaksms": {1: {"utel": "lifecell"}}}))
    assert ops.provider_operator("vaksms", 1, "utel") == "lifecell"
    assert ops.operator_from_provider("vaksms", 1, "lifecell") == "life"  # first in names()
    assert (1, "utel") not in {(op.country_id, op.name) for op in ops.unhonoured("vaksms")}


@pytest.mark.parametrize(
    "pairs",
    [
        {"fivesim": {0: {"mts": "mts"}}},
        {"vaksms": {"0": {"mts": "mts"}}},
        {"vaksms": {0: {" ": "mts"}}},
        {"vaksms": {0: {"any": "mts"}}},
        {"vaksms": {0: {"mts": ""}}},
    ],
)
def test_bad_overrides_are_rejected(pairs: dict[str, dict[object, dict[str, str | None]]]) -> None:
    with pytest.raises(ValueError):
        load_operator_map(OperatorOverrides(pairs=pairs))  # type: ignore[arg-type]


def test_operator_map_can_be_built_directly() -> None:
    ops = OperatorMap({5: ["Alpha"]}, {"vaksms": {5: {"alpha": "A1"}}})
    assert ops.names(5) == ("alpha",)
    assert ops.provider_operator("vaksms", 5, "ALPHA") == "A1"  # provider spelling is kept
    assert ops.operator_from_provider("vaksms", 5, "a1") == "alpha"
    assert ops.provider_operator("smspva", 5, "alpha") is None
    assert ops.unmapped("vaksms") == () and ops.unhonoured("smspva") == ()
