"""The README's configuration table against the settings model: the same keys, the same defaults."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from proxy.config import PROVIDER_KINDS, setting_defaults, setting_keys

README = Path(__file__).resolve().parent.parent / "README.md"
UNPARSED = object()  # a default told in words ("required", "the name", "all"): not compared


def normal(key: str) -> str:
    """`providers.<name>.api_key` and `providers.<>.api_key` are one key."""
    return re.sub(r"<[^>]*>", "<>", key)


def table_rows() -> list[tuple[list[str], str]]:
    """(keys, default cell) for each row of the table under "## Configuration"."""
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return rows


def parse_default(text: str) -> Any:
    """A default as the table writes it: 5 s, 1 day, `USD`, true, none, empty."""
    text = text.strip()
    if re.fullmatch(r"`[^`]*`", text):
        return text.strip("`")
    words = {"true": True, "false": False, "none": None, "empty": "", "1 day": 86400.0}
    if text in words:
        return words[text]
    number = re.fullmatch(r"(-?\d+(?:\.\d+)?)(?: s| per s)?", text)
    return float(number.group(1)) if number else UNPARSED


def same(stated: Any, actual: Any) -> bool:
    if stated is None:  # "none": nothing by default
        return actual in ("", (), {}, None)
    if isinstance(stated, bool) or isinstance(actual, bool):
        return stated is actual
    if isinstance(stated, float):
        return isinstance(actual, int | float | Decimal) and float(actual) == stated
    return bool(str(actual) == stated)


def test_every_key_in_the_readme_exists_and_every_key_is_there() -> None:
    documented = [normal(key) for keys, _ in table_rows() for key in keys]
    model = [normal(key) for key in setting_keys()]
    assert len(documented) == len(set(documented)), "a key is in the table twice"
    assert sorted(set(documented) - set(model)) == [], "in the README, not in the settings"
    assert sorted(set(model) - set(documented)) == [], "in the settings, not in the README"


def stated_defaults() -> list[tuple[str, str]]:
    """(key, default as stated) where a row gives one default per key."""
    found: list[tuple[str, str]] = []
    for keys, cell in table_rows():
        items = [item.strip() for item in cell.split(", ")]
        if len(items) == len(keys):
            found.extend(zip((normal(k) for k in keys), items, strict=True))
    return found


@pytest.mark.parametrize(("key", "stated"), stated_defaults())
def test_the_readme_states_the_code_defaults(key: str, stated: str) -> None:
    defaults = {normal(k): v for k, v in setting_defaults().items()}
    if key not in defaults or parse_default(stated.split(" / ")[0]) is UNPARSED:
        return  # required, derived from other settings, or told in words
    actual = defaults[key]
    if isinstance(actual, dict) and set(actual) == set(PROVIDER_KINDS):
        per_kind = stated.split(" / ")
        if len(per_kind) == 1:  # one default stated: the kinds' (SMSPVA's where only it has one)
            assert any(same(parse_default(stated), v) for v in actual.values()), (key, actual)
            return
        assert len(per_kind) == len(PROVIDER_KINDS), key
        for kind, text in zip(PROVIDER_KINDS, per_kind, strict=True):
            assert same(parse_default(text), actual[kind]), (key, kind, actual[kind])
        return
    assert same(parse_default(stated), actual), (key, actual)


def test_the_table_defaults_are_checked() -> None:
    """The comparison above covers most of the table, not a handful of rows."""
    defaults = {normal(k) for k in setting_defaults()}
    checked = [
        key
        for key, text in stated_defaults()
        if key in defaults and parse_default(text.split(" / ")[0]) is not UNPARSED
    ]
    assert len(checked) >= 40
