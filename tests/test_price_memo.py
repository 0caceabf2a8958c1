"""catalog.memo: a purchase's price list kept a few seconds, never past the catalog's ttl."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proxy.catalog import memo
from proxy.catalog.memo import PriceMemo

PRICES = {"smspva": Decimal("0.50"), "vaksms": Decimal("0.40")}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_kept_for_its_seconds_then_forgotten() -> None:
    clock = Clock()
    prices: PriceMemo[dict[str, Decimal]] = PriceMemo(5.0, clock)
    prices.put("k", PRICES)
    clock.now += 4.9
    assert prices.get("k") == PRICES
    clock.now += 0.1
    assert prices.get("k") is None


def test_copies_in_and_out() -> None:
    prices: PriceMemo[dict[str, Decimal]] = PriceMemo(5.0, Clock())
    mine = dict(PRICES)
    prices.put("k", mine)
    mine["smspva"] = Decimal(9)
    got = prices.get("k")
    assert got == PRICES
    assert got is not None
    got.clear()
    assert prices.get("k") == PRICES


def test_empty_lists_and_zero_seconds_are_not_kept() -> None:
    prices: PriceMemo[dict[str, Decimal]] = PriceMemo(5.0, Clock())
    prices.put("k", {})
    assert prices.get("k") is None
    off: PriceMemo[dict[str, Decimal]] = PriceMemo(0.0, Clock())
    off.put("k", PRICES)
    assert off.get("k") is None


def test_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memo, "MAX_ENTRIES", 3)
    clock = Clock()
    prices: PriceMemo[dict[str, Decimal]] = PriceMemo(5.0, clock)
    for key in ("a", "b", "c"):
        prices.put(key, PRICES)
    clock.now += 10  # all three expired: dropped to make room
    prices.put("d", PRICES)
    assert len(prices._entries) == 1
    assert prices.get("d") == PRICES
