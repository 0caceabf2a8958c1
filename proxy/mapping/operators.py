"""Translates SMS-Activate operator names to each provider's, from the built data/operators.json.

SMS-Activate clients pass `operator=` with SMS-Activate's names (seeds/002:33-42); the providers
spell some operators differently (SMS-Activate `life` is VAK-SMS `lifecell`, seeds/003:421). `any`
means no filter and is not an operator: callers drop it before asking this map.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from proxy.mapping.codes import ALL_KINDS, IDENTITY_KINDS, PROVIDER_KINDS


@dataclass(frozen=True)
class UnmappedOperator:
    """A provider's operator with no SMS-Activate name, so no client can ask for it."""

    country_id: int
    provider_country: str
    name: str
    reason: str


@dataclass(frozen=True)
class UnhonouredOperator:
    """An SMS-Activate operator name a provider cannot honour in a country it carries."""

    country_id: int
    name: str
    reason: str


@dataclass(frozen=True)
class OperatorOverrides:
    """Operators' own pairs: kind -> country id -> SMS-Activate name -> provider name or None."""

    pairs: Mapping[str, Mapping[int, Mapping[str, str | None]]] = field(default_factory=dict)


def _key(name: str) -> str:
    """Operator names compare case-insensitively and without surrounding blanks."""
    return name.strip().lower()


class OperatorMap:
    """Lookups between SMS-Activate operator names and each provider's, per country."""

    def __init__(
        self,
        names: Mapping[int, Sequence[str]],
        pairs: Mapping[str, Mapping[int, Mapping[str, str]]],
        unmapped: Mapping[str, Sequence[UnmappedOperator]] | None = None,
        unhonoured: Mapping[str, Sequence[UnhonouredOperator]] | None = None,
    ) -> None:
        self._pairs: dict[str, dict[int, dict[str, str]]] = {
            kind: {
                country_id: {_key(sa): code.strip() for sa, code in country_pairs.items()}
                for country_id, country_pairs in pairs.get(kind, {}).items()
            }
            for kind in ALL_KINDS
        }
        merged: dict[int, list[str]] = {cid: [_key(n) for n in ns] for cid, ns in names.items()}
        for by_country in self._pairs.values():
            for country_id, country_pairs in by_country.items():
                known = merged.setdefault(country_id, [])
                known.extend(sorted(sa for sa in country_pairs if sa not in known))
        self._names = {cid: tuple(ns) for cid, ns in sorted(merged.items()) if ns}
        self._reverse = {
            kind: {
                country_id: _reverse(self._names.get(country_id, ()), country_pairs)
                for country_id, country_pairs in by_country.items()
            }
            for kind, by_country in self._pairs.items()
        }
        self._unmapped = {kind: tuple((unmapped or {}).get(kind, ())) for kind in ALL_KINDS}
        self._unhonoured = {kind: tuple((unhonoured or {}).get(kind, ())) for kind in ALL_KINDS}

    def names(self, country_id: int) -> tuple[str, ...]:
        """SMS-Activate's operator names for a country, as getOperators lists them."""
        return self._names.get(country_id, ())

    def countries(self) -> tuple[int, ...]:
        """The SMS-Activate country ids that have operator names, ascending."""
        return tuple(self._names)

    def honoured(self, kind: str, country_id: int) -> tuple[str, ...]:
        """The SMS-Activate names that provider can honour in that country, in names() order."""
        country_pairs = self._pairs[kind].get(country_id, {})
        return tuple(name for name in self.names(country_id) if name in country_pairs)

    def provider_operator(self, kind: str, country_id: int, name: str) -> str | None:
        """The provider's name for an SMS-Activate operator; None when it cannot honour it."""
        return self._pairs[kind].get(country_id, {}).get(_key(name))

    def operator_from_provider(self, kind: str, country_id: int, provider_name: str) -> str | None:
        """The SMS-Activate name for a provider's operator in that country, if there is one."""
        return self._reverse[kind].get(country_id, {}).get(_key(provider_name))

    def unmapped(self, kind: str) -> tuple[UnmappedOperator, ...]:
        """The provider's operators the data could not pair that this map still cannot reach."""
        return tuple(
            entry
            for entry in self._unmapped[kind]
            if self.operator_from_provider(kind, entry.country_id, entry.name) is None
        )

    def unhonoured(self, kind: str) -> tuple[UnhonouredOperator, ...]:
        """SMS-Activate names the data says that provider lacks, unless a pair was added since."""
        return tuple(
            entry
            for entry in self._unhonoured[kind]
            if self.provider_operator(kind, entry.country_id, entry.name) is None
        )


def _reverse(names: Sequence[str], country_pairs: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased provider name -> SMS-Activate name; of several, the one spelled alike wins.

    VAK-SMS `vodafone` answers both SMS-Activate `mts` (MTS Ukraine's old name) and `vodafone`
    (seeds/002:38, seeds/003:420-423), so it maps back to `vodafone`. Failing that, the first of
    the country's names wins, so an override may alias two names to one provider operator.
    """
    reverse: dict[str, str] = {}
    for sa in sorted(country_pairs, key=lambda n: (n != _key(country_pairs[n]), names.index(n))):
        reverse.setdefault(_key(country_pairs[sa]), sa)
    return reverse


@dataclass(frozen=True)
class _Data:
    """The parsed operators.json, shared by every OperatorMap built from it."""

    names: dict[int, tuple[str, ...]]
    pairs: dict[str, dict[int, dict[str, str]]]
    unmapped: dict[str, tuple[UnmappedOperator, ...]]
    unhonoured: dict[str, tuple[UnhonouredOperator, ...]]


def _unmapped(entries: Iterable[Mapping[str, Any]]) -> tuple[UnmappedOperator, ...]:
    return tuple(
        UnmappedOperator(
            country_id=int(entry["country_id"]),
            provider_country=str(entry["country"]),
            name=str(name),
            reason=str(entry["reason"]),
        )
        for entry in entries
        for name in entry["names"]
    )


def _unhonoured(entries: Iterable[Mapping[str, Any]]) -> tuple[UnhonouredOperator, ...]:
    return tuple(
        UnhonouredOperator(
            country_id=int(entry["country_id"]), name=str(name), reason=str(entry["reason"])
        )
        for entry in entries
        for name in entry["names"]
    )


@cache
def _data() -> _Data:
    text = resources.files("proxy.mapping").joinpath("data", "operators.json").read_text("utf-8")
    raw = json.loads(text)
    providers = raw["providers"]
    return _Data(
        names={int(cid): tuple(map(str, c["names"])) for cid, c in raw["countries"].items()},
        pairs={
            kind: {
                int(cid): {str(sa): str(code) for sa, code in pairs.items()}
                for cid, pairs in providers[kind]["pairs"].items()
            }
            if kind not in IDENTITY_KINDS
            else {  # SMS-Activate's own names (codes.py IDENTITY_KINDS)
                int(cid): {str(name): str(name) for name in c["names"]}
                for cid, c in raw["countries"].items()
            }
            for kind in ALL_KINDS
        },
        unmapped={kind: _unmapped(providers[kind]["unmapped"]) for kind in PROVIDER_KINDS},
        unhonoured={
            kind: _unhonoured(providers[kind]["no_counterpart"]) for kind in PROVIDER_KINDS
        },
    )


def _apply(
    pairs: Mapping[int, Mapping[str, str]], overrides: Mapping[int, Mapping[str, str | None]]
) -> dict[int, dict[str, str]]:
    """Overrides win per SMS-Activate name; None removes the data file's pair."""
    result = {cid: dict(country_pairs) for cid, country_pairs in pairs.items()}
    for country_id, country_overrides in overrides.items():
        country_pairs = result.setdefault(country_id, {})
        for sa, code in country_overrides.items():
            if code is None:
                country_pairs.pop(_key(sa), None)
            else:
                country_pairs[_key(sa)] = code
    return result


def _validate(overrides: OperatorOverrides) -> None:
    """Rejects overrides that name an unknown kind or carry a blank or non-string name."""
    for kind, by_country in overrides.pairs.items():
        if kind not in ALL_KINDS:
            raise ValueError(f"operator override for unknown provider kind {kind!r}")
        for country_id, pairs in by_country.items():
            if not isinstance(country_id, int) or isinstance(country_id, bool):
                raise ValueError(f"{kind} operator override: country {country_id!r} is not an id")
            for sa, code in pairs.items():
                if not isinstance(sa, str) or not sa.strip() or _key(sa) == "any":
                    raise ValueError(f"{kind} operator override: {sa!r} is not an operator name")
                if code is not None and (not isinstance(code, str) or not code.strip()):
                    raise ValueError(f"{kind} operator override for {sa!r}: {code!r} is not a name")


@cache
def _default_map() -> OperatorMap:
    data = _data()
    return OperatorMap(data.names, data.pairs, data.unmapped, data.unhonoured)


def load_operator_map(overrides: OperatorOverrides | None = None) -> OperatorMap:
    """The operator map from the data file, with the operators' overrides applied on top."""
    if overrides is None or not overrides.pairs:
        return _default_map()
    _validate(overrides)
    data = _data()
    pairs = {
        kind: _apply(by_country, overrides.pairs.get(kind, {}))
        for kind, by_country in data.pairs.items()
    }
    return OperatorMap(data.names, pairs, data.unmapped, data.unhonoured)
