"""Translates SMS-Activate codes to each provider's and back, from the reviewed JSON in data/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar

# The kinds whose pairs come from the data files (data/*.json, build_data.py).
PROVIDER_KINDS = ("smspva", "vaksms")
# Kinds that take SMS-Activate's own codes: each code, id and operator name maps to itself. A
# handler_api adapter translates with its quirk profile's numbering
# (proxy/providers/handler_api.py), so the kind-wide map must not narrow or rename anything.
IDENTITY_KINDS = ("handler_api",)
# Every kind a map answers for (config.PROVIDER_KINDS).
ALL_KINDS = PROVIDER_KINDS + IDENTITY_KINDS

# reference/SOURCES.md: 12 is USA (virtual), 187 USA (physical); both buy a provider's US, and a
# provider's US answers 187. Ids listed here share a provider code without making it ambiguous.
_REVERSE_SKIPPED_COUNTRY_IDS = frozenset({12})

K = TypeVar("K", str, int)


@dataclass(frozen=True)
class Country:
    """An SMS-Activate country id with its names, ISO code and ITU calling code."""

    id: int
    eng: str
    rus: str | None
    iso2: str
    calling_code: str


@dataclass(frozen=True)
class Service:
    """An SMS-Activate service code; legacy codes are gone from the 2025 catalogue."""

    code: str
    name: str
    legacy: bool


@dataclass(frozen=True)
class Overrides:
    """Operators' own additions and corrections: a provider code, or None to remove the pair."""

    services: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    countries: Mapping[str, Mapping[int, str | None]] = field(default_factory=dict)


class _Pairs(Generic[K]):
    """One provider's SMS-Activate -> provider map and its reverse, which must be unambiguous."""

    def __init__(self, kind: str, forward: Mapping[K, str], shared: frozenset[K]) -> None:
        self.forward: dict[K, str] = dict(forward)
        holders: dict[str, list[K]] = {}
        for key, code in self.forward.items():
            holders.setdefault(code, []).append(key)
        self.reverse: dict[str, K] = {}
        for code, keys in holders.items():
            chosen = [key for key in keys if key not in shared] or keys
            if len(chosen) > 1:
                raise ValueError(f"{kind} code {code!r} would map back from {sorted(chosen)}")
            self.reverse[code] = chosen[0]


def _apply(
    forward: Mapping[K, str], overrides: Mapping[K, str | None], shared: frozenset[K]
) -> dict[K, str]:
    """Overrides win: a provider code they assign is taken away from the data files' holder."""
    claimed = {code: key for key, code in overrides.items() if code is not None}
    result = {
        key: code
        for key, code in forward.items()
        if key not in overrides
        and (code not in claimed or key in shared or claimed[code] in shared)
    }
    result.update({key: code for key, code in overrides.items() if code is not None})
    return result


class CodeMap:
    """Lookups both ways between SMS-Activate codes and each provider's codes."""

    def __init__(
        self,
        countries: Iterable[Country],
        services: Iterable[Service],
        service_pairs: Mapping[str, Mapping[str, str]],
        country_pairs: Mapping[str, Mapping[int, str]],
        max_national_digits: Mapping[int, int],
    ) -> None:
        self._countries = {country.id: country for country in countries}
        self._services = {service.code: service for service in services}
        self._max_national = dict(max_national_digits)
        self._service_pairs = {
            kind: _Pairs(kind, service_pairs.get(kind, {}), frozenset[str]()) for kind in ALL_KINDS
        }
        self._country_pairs = {
            kind: _Pairs(kind, country_pairs.get(kind, {}), _REVERSE_SKIPPED_COUNTRY_IDS)
            for kind in ALL_KINDS
        }

    @property
    def services(self) -> tuple[Service, ...]:
        """Every known SMS-Activate service, current ones first."""
        return tuple(self._services.values())

    @property
    def countries(self) -> tuple[Country, ...]:
        """Every SMS-Activate country, by id."""
        return tuple(self._countries.values())

    def service(self, code: str) -> Service | None:
        """The SMS-Activate service with that code."""
        return self._services.get(code)

    def country(self, country_id: int) -> Country | None:
        """The SMS-Activate country with that id."""
        return self._countries.get(country_id)

    def provider_service(self, kind: str, code: str) -> str | None:
        """The provider's code for an SMS-Activate service code; KeyError for an unknown kind."""
        return self._service_pairs[kind].forward.get(code)

    def provider_country(self, kind: str, country_id: int) -> str | None:
        """The provider's code for an SMS-Activate country id; KeyError for an unknown kind."""
        return self._country_pairs[kind].forward.get(country_id)

    def service_from_provider(self, kind: str, provider_code: str) -> str | None:
        """The SMS-Activate service code for a provider's code."""
        return self._service_pairs[kind].reverse.get(provider_code)

    def country_from_provider(self, kind: str, provider_code: str) -> int | None:
        """The SMS-Activate country id for a provider's country code (a provider's US is 187)."""
        return self._country_pairs[kind].reverse.get(provider_code)

    def international_phone(self, country_id: int, national: str) -> str:
        """Digits of the phone with the country calling code in front, as SMS-Activate answers.

        Non-digits are dropped. A number that already starts with the calling code and is longer
        than the country's longest national mobile number is taken as international and returned
        as is; anything else gets the code prefixed (so a Kazakh national 70xxxxxxxx still gets
        its 7). Trunk prefixes (a leading 0 or 8) are not stripped: providers send none.
        """
        country = self._countries.get(country_id)
        if country is None:
            raise KeyError(f"unknown SMS-Activate country id {country_id}")
        digits = re.sub(r"\D", "", national)
        if not digits:
            raise ValueError(f"no digits in phone number {national!r}")
        code = country.calling_code
        if digits.startswith(code) and len(digits) > self._max_national[country_id]:
            return digits
        return code + digits


@dataclass(frozen=True)
class _Data:
    """The parsed data files, shared by every CodeMap built from them."""

    countries: tuple[Country, ...]
    services: tuple[Service, ...]
    service_pairs: dict[str, dict[str, str]]
    country_pairs: dict[str, dict[int, str]]
    max_national_digits: dict[int, int]


def _read(name: str) -> Any:
    return json.loads(resources.files("proxy.mapping").joinpath("data", name).read_text("utf-8"))


@cache
def _data() -> _Data:
    countries = _read("countries.json")
    services = _read("services.json")
    return _Data(
        countries=tuple(
            Country(
                id=int(c["id"]),
                eng=str(c["eng"]),
                rus=None if c["rus"] is None else str(c["rus"]),
                iso2=str(c["iso2"]),
                calling_code=str(c["calling_code"]),
            )
            for c in countries
        ),
        services=tuple(
            Service(code=str(s["code"]), name=str(s["name"]), legacy=bool(s["legacy"]))
            for s in services
        ),
        service_pairs={
            kind: {
                str(s["code"]): str(s["code"] if kind in IDENTITY_KINDS else s[kind])
                for s in services
                if kind in IDENTITY_KINDS or s[kind] is not None
            }
            for kind in ALL_KINDS
        },
        country_pairs={
            kind: {
                int(c["id"]): str(c["id"] if kind in IDENTITY_KINDS else c[kind])
                for c in countries
                if kind in IDENTITY_KINDS or c[kind] is not None
            }
            for kind in ALL_KINDS
        },
        max_national_digits={int(c["id"]): int(c["max_national_digits"]) for c in countries},
    )


def _validate(
    what: str, overrides: Mapping[str, Mapping[K, str | None]], known: Mapping[K, object]
) -> None:
    """Rejects overrides that name an unknown kind, SMS-Activate code or provider code."""
    for kind, pairs in overrides.items():
        if kind not in ALL_KINDS:
            raise ValueError(f"override for unknown provider kind {kind!r}")
        for key, code in pairs.items():
            if key not in known:
                raise ValueError(f"{kind} override: unknown SMS-Activate {what} {key!r}")
            if code is not None and (not isinstance(code, str) or not code.strip()):
                raise ValueError(f"{kind} override for {key!r}: {code!r} is not a provider code")


@cache
def _default_map() -> CodeMap:
    data = _data()
    return CodeMap(
        data.countries,
        data.services,
        data.service_pairs,
        data.country_pairs,
        data.max_national_digits,
    )


def load_code_map(overrides: Overrides | None = None) -> CodeMap:
    """The code map from the data files, with the operators' overrides applied on top."""
    if overrides is None or not (overrides.services or overrides.countries):
        return _default_map()
    data = _data()
    _validate("service code", overrides.services, {s.code: s for s in data.services})
    _validate("country id", overrides.countries, {c.id: c for c in data.countries})
    services = {
        kind: _apply(pairs, overrides.services.get(kind, {}), frozenset[str]())
        for kind, pairs in data.service_pairs.items()
    }
    countries = {
        kind: _apply(pairs, overrides.countries.get(kind, {}), _REVERSE_SKIPPED_COUNTRY_IDS)
        for kind, pairs in data.country_pairs.items()
    }
    return CodeMap(data.countries, data.services, services, countries, data.max_national_digits)
