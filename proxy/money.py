"""Currency conversion into the clients' currency, from the rates in config."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from proxy.config import ConfigError


class Money:
    """Converts provider amounts into `currency` with `rates[X]` = value of one X."""

    def __init__(self, currency: str, rates: Mapping[str, Decimal]) -> None:
        self.currency = currency
        self._rates = {**rates, currency: Decimal(1)}

    def check(self, currencies: Iterable[str]) -> None:
        """Fail at startup, not at the first purchase, when a provider's currency has no rate."""
        missing = sorted({c for c in currencies if c not in self._rates})
        if missing:
            raise ConfigError(f"money.rates has no rate for {missing} (into {self.currency})")

    def convert(self, amount: Decimal, currency: str) -> Decimal:
        return amount * self._rates[currency]
