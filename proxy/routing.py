"""Routing strategies: in which order a getNumber tries the providers that can sell.

    priority      the tenant's configured order
    cheapest      by the catalog's current client price, unknown prices last
    success_rate  by codes received / numbers issued for this service and country, over the
                  sliding window kept in Redis (providers without history count as 50 %)
    weighted      random order drawn by the tenant's weights (default 1 each)

Ties keep the tenant's order. Chosen per tenant, overridable per service and country.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TypeVar

T = TypeVar("T")

NO_HISTORY_RATE = 0.5


def by_price(names: Sequence[str], prices: Mapping[str, Decimal]) -> list[str]:
    return sorted(names, key=lambda n: (n not in prices, prices.get(n, Decimal(0))))


def by_success(
    names: Sequence[str], issued: Mapping[str, int], coded: Mapping[str, int]
) -> list[str]:
    def rate(name: str) -> float:
        return coded.get(name, 0) / issued[name] if issued.get(name) else NO_HISTORY_RATE

    return sorted(names, key=lambda n: -rate(n))


def by_weight(names: Sequence[str], weights: Mapping[str, float], rng: random.Random) -> list[str]:
    """Weighted random order without replacement (Efraimidis-Spirakis keys)."""

    def key(name: str) -> float:
        weight = weights.get(name, 1.0)
        return rng.random() ** (1.0 / weight) if weight > 0 else 0.0

    return sorted(names, key=key, reverse=True)


def narrowed(names: Sequence[str], only: Sequence[str], excluded: Sequence[str]) -> list[str]:
    """providerIds / exceptProviderIds (a smsproxy extension, as several SMS-Activate clones
    accept): names of configured providers to keep, or to leave out."""
    return [n for n in names if (not only or n in only) and n not in excluded]
