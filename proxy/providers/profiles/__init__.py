"""Quirk profiles: how one SMS-Activate-compatible service differs from the protocol, as data.

A profile is a TOML file. `canonical.toml` is the protocol exactly as smsproxy answers it
(seeds 002 and 004); every other profile is read on top of it and names only what its service
does differently, each difference with the public source it comes from (a `source` next to it).
A difference without a source is refused at load time, so no guess can ship.

Sections (all optional in a non-canonical profile; unknown sections or keys are errors):

- ``[profile]``: ``name``, ``title``, ``base_url`` (the service's root, informational),
  ``handler_path``, ``currency`` (ISO 4217 of the account), ``source`` (required), ``note``.
- ``[errors]``: ``shape`` "word" (HTTP 200 and a bare word) or "json" (an HTTP status and a JSON
  object); for "json", ``word_field`` / ``text_field`` name the keys holding the word and a
  description, ``status`` maps canonical words to HTTP statuses, ``default_status`` the rest.
- ``[set_status]``: the numbers meaning ``ready`` / ``retry`` / ``finish`` / ``cancel``,
  ``lacks`` (the steps the service does not have), ``also_cancel`` (more numbers taken as a
  cancel), ``answer`` "word" (ACCESS_*) or "empty" (HTTP 204), ``separate`` (actions of their
  own for ``finish`` and ``cancel``, taking ``id``).
- ``[numbering]``: ``phone`` "international" (calling code first) or "national";
  ``countries`` / ``services``: SMS-Activate id or code -> the service's own (empty: SMS-Activate's
  numbering; given: the service sells only those).
- ``[actions]``: ``supported`` (SMS-Activate actions the service serves), ``names`` (its spelling
  where it differs), ``case_insensitive``, ``extra`` (actions of its own, for information).
- ``[answers]``: ``active_activations`` envelope ("wrapped" as SMS-Activate, "list" a bare array,
  "data" under a ``data`` key), ``sms_code`` ("list" or "string"), ``verification_type_sms``
  (getStatusV2's number for an SMS), ``number_v2_fields`` (extra getNumberV2 keys: JSON key ->
  "end_time" or "calling_code").
- ``[[aliases]]``: ``word`` (the service's), ``means`` (the SMS-Activate word clients expect),
  ``when`` (the situation it answers, see SITUATIONS), ``match`` ("exact", "prefix" or
  "contains"), ``source``.

``source`` in a section is a string (it covers every key the section sets) or a table of one
string per key set.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from proxy.protocol.words import Word

PROFILE_DIR = Path(__file__).resolve().parent
CANONICAL = "canonical"
SEPARATE = "setStatus:"  # prefix of a separate action's resolved name: "setStatus:cancel"

# Every action smsproxy serves (proxy/protocol/requests.py PARSERS), as SMS-Activate spells them.
CANONICAL_ACTIONS: tuple[str, ...] = (
    "getBalance", "getBalanceAndCashBack", "getNumber", "getNumberV2", "getStatus",
    "getStatusV2", "setStatus", "getFullSms", "getActiveActivations", "getHistory",
    "getIncomingCallStatus", "createTaskForCall", "getOutgoingCalls", "getNumbersStatus",
    "getPrices", "getTopCountriesByService", "getCountries", "getServicesList", "getOperators",
    "getListOfTopCountriesByService", "getPricesVerification", "getMultiServiceNumber",
    "getExtraActivation", "checkExtraActivation", "getAdditionalService",
    "getRentServicesAndCountries", "getRentNumber", "getRentStatus", "setRentStatus",
    "getRentList", "continueRentNumber", "getContinueRentPriceNumber",
)  # fmt: skip

# The situations an alias can answer, with the word smsproxy answers in each (its emulator
# answers the alias instead). Sources: proxy/app.py handler_api (BAD_KEY for a missing key too),
# proxy/dispatch.py candidates (BAD_SERVICE; an unknown country has NO_NUMBERS), seeds/004.
SITUATIONS: Mapping[str, str] = MappingProxyType(
    {
        "missing_key": Word.BAD_KEY,  # no api_key at all
        "bad_key": Word.BAD_KEY,  # an api_key nobody has
        "unknown_action": Word.BAD_ACTION,
        "unknown_service": Word.BAD_SERVICE,
        "unknown_country": Word.NO_NUMBERS,
        "region_unavailable": Word.NO_NUMBERS,  # the service is not sold in that country
        "service_prohibited": Word.NO_NUMBERS,  # the service is not sold at all
        "no_numbers": Word.NO_NUMBERS,
        "no_balance": Word.NO_BALANCE,
        "unknown_activation": Word.NO_ACTIVATION,
        "bad_status": Word.BAD_STATUS,
        "early_cancel": Word.EARLY_CANCEL_DENIED,  # seeds/004:215
        "server_error": Word.ERROR_SQL,
    }
)
MEANINGS = ("ready", "retry", "finish", "cancel")
NUMBER_V2_VALUES = frozenset({"end_time", "calling_code"})
SECTIONS = ("profile", "errors", "set_status", "numbering", "actions", "answers")
_WORDS = frozenset(w.value for w in Word)
_NAME = re.compile(r"[a-z0-9_]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SERVICE_CODE = re.compile(r"[a-z0-9]{1,16}")

ErrorStyle = Literal["word", "json"]
SetStatusAnswer = Literal["word", "empty"]
PhoneForm = Literal["international", "national"]
Envelope = Literal["wrapped", "list", "data"]
SmsCodeForm = Literal["list", "string"]
Match = Literal["exact", "prefix", "contains"]


class ProfileError(ValueError):
    """A profile file that cannot be used: its path and what is wrong, never a partial load."""


@dataclass(frozen=True, slots=True)
class Errors:
    """How the service answers an error: a bare word on HTTP 200, or a JSON object."""

    shape: ErrorStyle
    word_field: str
    text_field: str
    default_status: int
    status: Mapping[str, int]

    def http_status(self, word: str) -> int:
        """The HTTP status of an error `word` (a canonical one)."""
        if self.shape == "word":
            return 200
        return self.status.get(word, self.default_status)


@dataclass(frozen=True, slots=True)
class SetStatusRules:
    """Which setStatus numbers mean what, and how the service answers them."""

    ready: int | None
    retry: int | None
    finish: int | None
    cancel: int | None
    also_cancel: tuple[int, ...]
    answer: SetStatusAnswer
    separate: Mapping[str, str]  # "finish"/"cancel" -> the service's own action

    def number(self, meaning: str) -> int | None:
        """The number to send for `meaning` ("ready", "retry", "finish", "cancel"); None: lacked."""
        value: int | None = getattr(self, meaning)
        return value

    def meaning(self, status: int) -> str | None:
        """What a number means to the service; None for one it does not take."""
        for meaning in MEANINGS:
            if self.number(meaning) == status:
                return meaning
        return "cancel" if status in self.also_cancel else None


@dataclass(frozen=True, slots=True)
class Numbering:
    """The service's phone form and its own country ids and service codes, where it has them."""

    phone: PhoneForm
    countries: Mapping[str, str]  # SMS-Activate id -> the service's
    services: Mapping[str, str]  # SMS-Activate code -> the service's
    _country_back: Mapping[str, str]
    _service_back: Mapping[str, str]

    def service_country(self, country: int) -> str | None:
        """The service's id for an SMS-Activate country id; None where it sells none."""
        if not self.countries:
            return str(country)
        return self.countries.get(str(country))

    def canonical_country(self, theirs: str) -> int | None:
        """The SMS-Activate id for the service's country id (the first listed, if several)."""
        if not self.countries:
            return int(theirs) if theirs.isascii() and theirs.isdigit() else None
        found = self._country_back.get(theirs)
        return None if found is None else int(found)

    def service_code(self, service: str) -> str | None:
        """The service's code for an SMS-Activate service code; None where it sells none."""
        if not self.services:
            return service
        return self.services.get(service)

    def canonical_service(self, theirs: str) -> str | None:
        """The SMS-Activate code for the service's code (the first listed, if several)."""
        if not self.services:
            return theirs
        return self._service_back.get(theirs)


@dataclass(frozen=True, slots=True)
class Actions:
    """Which SMS-Activate actions the service serves, and how it spells them."""

    supported: frozenset[str]
    names: Mapping[str, str]
    case_insensitive: bool
    extra: tuple[str, ...]

    def wire_name(self, action: str) -> str:
        """The action's name as the service spells it."""
        return self.names.get(action, action)


@dataclass(frozen=True, slots=True)
class Answers:
    """Shapes of the JSON answers where the service differs."""

    active_activations: Envelope
    sms_code: SmsCodeForm
    verification_type_sms: int
    number_v2_fields: Mapping[str, str]  # extra JSON key -> "end_time" / "calling_code"


@dataclass(frozen=True, slots=True)
class Alias:
    """A word of the service's own for a meaning SMS-Activate has a word for."""

    word: str
    means: str
    when: str
    match: Match
    source: str
    note: str = ""

    def matches(self, text: str) -> bool:
        """Whether an answer text is this alias (its word, plus `:arguments` for "prefix")."""
        if self.match == "contains":
            return self.word.lower() in text.lower()
        if self.match == "prefix":
            return text == self.word or text.startswith(self.word + ":")
        return text == self.word


@dataclass(frozen=True, slots=True)
class Difference:
    """One thing a profile says differently from canonical, and where that is documented."""

    where: str  # "section.key", or "aliases.<word>"
    value: object
    source: str


@dataclass(frozen=True, slots=True, eq=False)
class Profile:
    """A service's quirks, merged onto the canonical protocol; hashed by identity (shipped
    profiles are loaded once), so that it can key a cache."""

    name: str
    title: str
    base_url: str
    handler_path: str
    currency: str
    source: str
    note: str
    errors: Errors
    set_status: SetStatusRules
    numbering: Numbering
    actions: Actions
    answers: Answers
    aliases: tuple[Alias, ...]
    differences: tuple[Difference, ...]

    def word_for(self, situation: str) -> str:
        """The word the service answers in `situation`: its alias, else SMS-Activate's."""
        if situation not in SITUATIONS:
            raise KeyError(f"unknown situation {situation!r}")
        for alias in self.aliases:
            if alias.when == situation:
                return alias.word
        return SITUATIONS[situation]

    def canonical_word(self, text: str) -> str | None:
        """The SMS-Activate word an answer text means (`WORD` or `WORD:args`); None: not an
        error word of the protocol or of this service."""
        text = text.strip()
        for alias in self.aliases:
            if alias.matches(text):
                return alias.means
        head = text.split(":", 1)[0]
        return head if head in _WORDS else None

    def resolve_action(self, wire: str) -> str | None:
        """The SMS-Activate action (or ``setStatus:<meaning>`` for a separate one) a request's
        `action` names; None for one the service does not serve."""
        key = wire.strip().lower() if self.actions.case_insensitive else wire.strip()
        return _resolver(self).get(key)

    def supports(self, action: str) -> bool:
        """Whether the service serves an SMS-Activate action."""
        return action in self.actions.supported


@cache
def _resolver_table(
    names: tuple[tuple[str, str], ...], case_insensitive: bool
) -> Mapping[str, str]:
    table: dict[str, str] = {}
    for wire, action in names:
        table.setdefault(wire.lower() if case_insensitive else wire, action)
    return MappingProxyType(table)


def _resolver(profile: Profile) -> Mapping[str, str]:
    """Wire action name -> what it resolves to; supported actions win a clash."""
    pairs = [(profile.actions.wire_name(a), a) for a in sorted(profile.actions.supported)]
    pairs += [(name, SEPARATE + meaning) for meaning, name in profile.set_status.separate.items()]
    return _resolver_table(tuple(pairs), profile.actions.case_insensitive)


# -- reading ----------------------------------------------------------------------------------


class _Table:
    """One TOML table read strictly: each key once, with its type; leftovers are errors."""

    def __init__(self, raw: object, where: str, origin: str) -> None:
        if not isinstance(raw, dict):
            raise ProfileError(f"{origin}: {where} must be a table")
        self.raw: dict[str, Any] = raw
        self.where = where
        self.origin = origin
        self.used: set[str] = set()

    def _fail(self, key: str, why: str) -> ProfileError:
        return ProfileError(f"{self.origin}: {self.where}.{key} {why}")

    def get(self, key: str, kind: type | tuple[type, ...], what: str) -> Any:
        self.used.add(key)
        if key not in self.raw:
            raise self._fail(key, "is missing")
        value = self.raw[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self._fail(key, f"must be {what}, not {value!r}")
        if not isinstance(value, kind):
            raise self._fail(key, f"must be {what}, not {value!r}")
        return value

    def text(self, key: str) -> str:
        return cast(str, self.get(key, str, "a string"))

    def integer(self, key: str) -> int:
        return cast(int, self.get(key, int, "an integer"))

    def optional_int(self, key: str) -> int | None:
        self.used.add(key)
        return None if key not in self.raw else self.integer(key)

    def flag(self, key: str) -> bool:
        return cast(bool, self.get(key, bool, "true or false"))

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in choices:
            raise self._fail(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, "a list of strings")
        if not all(isinstance(v, str) and v for v in values):
            raise self._fail(key, "must be a list of non-empty strings")
        return tuple(values)

    def integers(self, key: str) -> tuple[int, ...]:
        values = self.get(key, list, "a list of integers")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise self._fail(key, "must be a list of integers")
        return tuple(values)

    def mapping(self, key: str, kind: type) -> dict[str, Any]:
        value = self.get(key, dict, "a table")
        for k, v in value.items():
            if not isinstance(v, kind) or isinstance(v, bool) or (isinstance(v, str) and not v):
                raise self._fail(f"{key}.{k}", f"must be a non-empty {kind.__name__}")
        return dict(value)

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise ProfileError(
                f"{self.origin}: {self.where} has unknown keys: {', '.join(unknown)}"
            )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from exc


def _sources(section: str, raw: Mapping[str, Any], keys: set[str], origin: str) -> dict[str, str]:
    """`source` of a section as one string per key set there; every key set must have one."""
    source = raw.get("source")
    if isinstance(source, str) and source.strip():
        return dict.fromkeys(keys, source.strip())
    if isinstance(source, dict):
        unknown = sorted(set(source) - keys)
        if unknown:
            raise ProfileError(f"{origin}: {section}.source names keys not set: {unknown}")
        found = {k: v.strip() for k, v in source.items() if isinstance(v, str) and v.strip()}
        missing = sorted(keys - set(found))
        if missing:
            raise ProfileError(f"{origin}: {section} sets {missing} with no source")
        return found
    if keys:
        raise ProfileError(f"{origin}: {section} sets {sorted(keys)} with no source")
    return {}


def _merge(
    base: Mapping[str, Any], own: Mapping[str, Any], origin: str, canonical: bool
) -> tuple[dict[str, Any], list[Difference]]:
    """Each section of `own` over `base`'s, key by key; the keys `own` sets are differences."""
    unknown = sorted(set(own) - {*SECTIONS, "aliases"})
    if unknown:
        raise ProfileError(f"{origin}: unknown sections: {', '.join(unknown)}")
    merged: dict[str, Any] = {}
    differences: list[Difference] = []
    for section in SECTIONS:
        raw = own.get(section, {})
        if not isinstance(raw, dict):
            raise ProfileError(f"{origin}: {section} must be a table")
        keys = set(raw) - {"source", "note"}
        if section == "profile":
            keys -= {"name", "title"}
            for needed in ("name", "title", "source"):
                if not canonical and not raw.get(needed):
                    raise ProfileError(f"{origin}: profile.{needed} is missing")
        sources = _sources(section, raw, keys, origin)
        merged[section] = {**base.get(section, {}), **raw}
        if section == "profile":  # a profile's own words about itself are never inherited
            merged[section]["note"] = raw.get("note", "")
        if not canonical:
            differences += [Difference(f"{section}.{k}", raw[k], sources[k]) for k in sorted(keys)]
    merged["aliases"] = own.get("aliases", [])
    return merged, differences


def _errors(t: _Table) -> Errors:
    shape = cast(ErrorStyle, t.choice("shape", ("word", "json")))
    status = t.mapping("status", int)
    for word, code in status.items():
        if word not in _WORDS:
            raise ProfileError(f"{t.origin}: errors.status.{word} is not an SMS-Activate word")
        if not 200 <= code <= 599:
            raise ProfileError(f"{t.origin}: errors.status.{word} is not an HTTP status: {code}")
    errors = Errors(
        shape=shape,
        word_field=t.text("word_field"),
        text_field=t.text("text_field"),
        default_status=t.integer("default_status"),
        status=MappingProxyType(status),
    )
    if shape == "json" and not (errors.word_field and errors.text_field):
        raise ProfileError(f"{t.origin}: errors.shape json needs word_field and text_field")
    if not 200 <= errors.default_status <= 599:
        raise ProfileError(f"{t.origin}: errors.default_status is not an HTTP status")
    t.used |= {"source", "note"}
    t.done()
    return errors


def _set_status(t: _Table) -> SetStatusRules:
    numbers = {meaning: t.optional_int(meaning) for meaning in MEANINGS}
    lacks = t.strings("lacks")
    wrong_lacks = sorted(set(lacks) - set(MEANINGS))
    if wrong_lacks:
        raise ProfileError(f"{t.origin}: set_status.lacks knows {MEANINGS}, not {wrong_lacks}")
    for meaning in lacks:
        numbers[meaning] = None
    separate = t.mapping("separate", str)
    rules = SetStatusRules(
        ready=numbers["ready"],
        retry=numbers["retry"],
        finish=numbers["finish"],
        cancel=numbers["cancel"],
        also_cancel=t.integers("also_cancel"),
        answer=cast(SetStatusAnswer, t.choice("answer", ("word", "empty"))),
        separate=MappingProxyType(separate),
    )
    taken = [n for n in (*numbers.values(), *rules.also_cancel) if n is not None]
    if len(taken) != len(set(taken)):
        raise ProfileError(f"{t.origin}: set_status gives one number two meanings: {taken}")
    wrong = sorted(set(separate) - {"finish", "cancel"})
    if wrong:
        raise ProfileError(f"{t.origin}: set_status.separate knows finish and cancel, not {wrong}")
    t.used |= {"source", "note"}
    t.done()
    return rules


def _numbering(t: _Table) -> Numbering:
    from proxy.mapping import load_code_map  # the SMS-Activate catalogue, to check the keys

    codes = load_code_map()
    countries = t.mapping("countries", str)
    services = t.mapping("services", str)
    for key in countries:
        if not (key.isascii() and key.isdigit() and codes.country(int(key))):
            raise ProfileError(f"{t.origin}: numbering.countries.{key} is no SMS-Activate id")
    for key in services:
        if codes.service(key) is None:
            raise ProfileError(f"{t.origin}: numbering.services.{key} is no SMS-Activate code")
    back_c: dict[str, str] = {}
    back_s: dict[str, str] = {}
    for ours, theirs in countries.items():
        back_c.setdefault(theirs, ours)
    for ours, theirs in services.items():
        back_s.setdefault(theirs, ours)
    numbering = Numbering(
        phone=cast(PhoneForm, t.choice("phone", ("international", "national"))),
        countries=MappingProxyType(countries),
        services=MappingProxyType(services),
        _country_back=MappingProxyType(back_c),
        _service_back=MappingProxyType(back_s),
    )
    t.used |= {"source", "note"}
    t.done()
    return numbering


def _actions(t: _Table) -> Actions:
    supported = t.strings("supported")
    names = t.mapping("names", str)
    unknown = sorted({*supported, *names} - set(CANONICAL_ACTIONS))
    if unknown:
        raise ProfileError(f"{t.origin}: actions name no SMS-Activate action: {unknown}")
    actions = Actions(
        supported=frozenset(supported),
        names=MappingProxyType(names),
        case_insensitive=t.flag("case_insensitive"),
        extra=t.strings("extra"),
    )
    t.used |= {"source", "note"}
    t.done()
    return actions


def _answers(t: _Table) -> Answers:
    fields = t.mapping("number_v2_fields", str)
    wrong = sorted(v for v in fields.values() if v not in NUMBER_V2_VALUES)
    if wrong:
        raise ProfileError(f"{t.origin}: answers.number_v2_fields values unknown: {wrong}")
    answers = Answers(
        active_activations=cast(
            Envelope, t.choice("active_activations", ("wrapped", "list", "data"))
        ),
        sms_code=cast(SmsCodeForm, t.choice("sms_code", ("list", "string"))),
        verification_type_sms=t.integer("verification_type_sms"),
        number_v2_fields=MappingProxyType(fields),
    )
    t.used |= {"source", "note"}
    t.done()
    return answers


def _aliases(raw: object, origin: str) -> tuple[Alias, ...]:
    if not isinstance(raw, list):
        raise ProfileError(f"{origin}: aliases must be an array of tables")
    aliases = []
    for i, item in enumerate(raw):
        t = _Table(item, f"aliases[{i}]", origin)
        alias = Alias(
            word=t.text("word"),
            means=t.text("means"),
            when=t.text("when"),
            match=cast(Match, t.choice("match", ("exact", "prefix", "contains")))
            if "match" in t.raw
            else "exact",
            source=t.text("source").strip(),
            note=t.text("note") if "note" in t.raw else "",
        )
        t.used.add("match")
        t.done()
        if not alias.word.strip() or not alias.source:
            raise ProfileError(f"{origin}: aliases[{i}] needs a word and a source")
        if alias.means not in _WORDS:
            raise ProfileError(
                f"{origin}: aliases[{i}].means {alias.means!r} is no SMS-Activate word"
            )
        if alias.when not in SITUATIONS:
            raise ProfileError(f"{origin}: aliases[{i}].when {alias.when!r} is no known situation")
        if SITUATIONS[alias.when] != alias.means:
            raise ProfileError(
                f"{origin}: aliases[{i}] answers {alias.when} (where SMS-Activate says "
                f"{SITUATIONS[alias.when]}) but means {alias.means}"
            )
        aliases.append(alias)
    whens = [a.when for a in aliases]
    if len(whens) != len(set(whens)):
        raise ProfileError(f"{origin}: two aliases answer the same situation: {whens}")
    return tuple(aliases)


def _build(merged: Mapping[str, Any], differences: list[Difference], origin: str) -> Profile:
    head = _Table(merged["profile"], "profile", origin)
    name = head.text("name")
    if not _NAME.fullmatch(name):
        raise ProfileError(f"{origin}: profile.name must be lower-case letters, digits and _")
    currency = head.text("currency")
    if not _CURRENCY.fullmatch(currency):
        raise ProfileError(f"{origin}: profile.currency must be an ISO 4217 code: {currency!r}")
    handler_path = head.text("handler_path")
    if not handler_path.startswith("/"):
        raise ProfileError(f"{origin}: profile.handler_path must start with /")
    source = merged["profile"].get("source")
    source_text = source if isinstance(source, str) else "; ".join(dict(source or {}).values())
    head.used |= {"source"}
    aliases = _aliases(merged["aliases"], origin)
    differences += [Difference(f"aliases.{a.word}", a.means, a.source) for a in aliases]
    profile = Profile(
        name=name,
        title=head.text("title"),
        base_url=head.text("base_url"),
        handler_path=handler_path,
        currency=currency,
        source=source_text.strip(),
        note=head.text("note") if "note" in head.raw else "",
        errors=_errors(_Table(merged["errors"], "errors", origin)),
        set_status=_set_status(_Table(merged["set_status"], "set_status", origin)),
        numbering=_numbering(_Table(merged["numbering"], "numbering", origin)),
        actions=_actions(_Table(merged["actions"], "actions", origin)),
        answers=_answers(_Table(merged["answers"], "answers", origin)),
        aliases=aliases,
        differences=tuple(differences),
    )
    head.used.add("note")
    head.done()
    if not profile.source:
        raise ProfileError(f"{origin}: profile.source is missing")
    for meaning, action in profile.set_status.separate.items():
        if profile.resolve_action(action) != SEPARATE + meaning:
            raise ProfileError(f"{origin}: set_status.separate.{meaning} clashes with an action")
    return profile


@cache
def _canonical_raw() -> dict[str, Any]:
    return _read_toml(PROFILE_DIR / f"{CANONICAL}.toml")


def profile_names() -> tuple[str, ...]:
    """The shipped profiles, canonical first."""
    names = sorted(p.stem for p in PROFILE_DIR.glob("*.toml") if p.stem != CANONICAL)
    return (CANONICAL, *names)


def parse_profile(text: str, origin: str = "<profile>") -> Profile:
    """A profile from TOML text, merged onto canonical."""
    try:
        own = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: not valid TOML: {exc}") from exc
    return _from_raw(own, origin)


def _from_raw(own: Mapping[str, Any], origin: str) -> Profile:
    canonical = _canonical_raw()
    is_canonical = own is canonical
    merged, differences = _merge({} if is_canonical else canonical, own, origin, is_canonical)
    if is_canonical:
        for section in SECTIONS:  # the baseline documents every section it sets
            raw = own.get(section)
            if not isinstance(raw, dict) or not raw.get("source"):
                raise ProfileError(f"{origin}: {section} needs a source")
    return _build(merged, differences, origin)


@cache
def _shipped(name: str) -> Profile:
    path = PROFILE_DIR / f"{name}.toml"
    if not path.is_file():
        raise ProfileError(f"no shipped profile {name!r} (shipped: {', '.join(profile_names())})")
    raw = _canonical_raw() if name == CANONICAL else _read_toml(path)
    profile = _from_raw(raw, str(path))
    if profile.name != name:
        raise ProfileError(f"{path}: profile.name {profile.name!r} differs from the file name")
    return profile


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (``herosms``), or a profile file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith(".toml"):
        path = Path(text)
        return _from_raw(_read_toml(path), str(path))
    if not _NAME.fullmatch(text):
        raise ProfileError(f"not a profile name or a path: {text!r}")
    return _shipped(text)


__all__ = [
    "CANONICAL",
    "CANONICAL_ACTIONS",
    "PROFILE_DIR",
    "SEPARATE",
    "SITUATIONS",
    "Actions",
    "Alias",
    "Answers",
    "Difference",
    "Errors",
    "Numbering",
    "Profile",
    "ProfileError",
    "SetStatusRules",
    "load_profile",
    "parse_profile",
    "profile_names",
]
