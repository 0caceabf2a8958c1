"""SMSPVA rentals use the activation service numbering (SPEC-NOTES "Turn 2"), so the rent path
reads the same code map as activations (proxy/rent/actions.py `_codes`)."""

from __future__ import annotations

import pytest

from proxy.mapping import load_code_map

CODES = load_code_map()


@pytest.mark.parametrize(
    ("service", "rent_code"),
    [
        ("tg", "opt29"),  # seeds/000:262
        ("ig", "opt16"),  # seeds/001:138-139, seeds/000:264
        ("wx", "opt131"),  # seeds/000:172, 259
        ("uk", "opt46"),  # seeds/001:93-94
    ],
)
def test_rent_codes_from_the_seeds(service: str, rent_code: str) -> None:
    assert CODES.provider_service("smspva", service) == rent_code
    assert CODES.service_from_provider("smspva", rent_code) == service


def test_telegram_is_not_viber() -> None:
    """opt11 is Viber in SMSPVA's list; renting tg once sent it."""
    assert CODES.provider_service("smspva", "tg") != "opt11"
    assert CODES.service_from_provider("smspva", "opt11") == "vi"
