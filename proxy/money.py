"""Currency conversion and tenant markup, from the rates in config."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from proxy.config import ConfigError


class Money:
    """Converts amounts between currencies through `base` (`rates[X]` = value of one X in base)."""

    def __init__(self, base: str, rates: Mapping[str, Decimal]) -> None:
        self.base = base
        self._rates = {**rates, base: Decimal(1)}

    def check(self, currencies: Iterable[str]) -> None:
        """Fail at startup, not at the first purchase, when a currency has no rate."""
        missing = sorted({c for c in currencies if c not in self._rates})
        if missing:
            raise ConfigError(f"money.rates has no rate for {missing} (into {self.base})")

    def convert(self, amount: Decimal, currency: str, into: str | None = None) -> Decimal:
        target = into or self.base
        if currency == target:
            return amount
        return amount * self._rates[currency] / self._rates[target]

    def client_price(
        self, amount: Decimal, currency: str, into: str, markup: Decimal = Decimal(0)
    ) -> Decimal:
        """What a client sees for an upstream amount: converted, marked up, to the cent."""
        shown = self.convert(amount, currency, into) * (1 + markup)
        return shown.quantize(Decimal("0.01"))
