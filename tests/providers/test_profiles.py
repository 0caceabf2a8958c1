"""Quirk profiles (proxy/providers/profiles): the shipped data, the strict loader, the lookups."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy.lifecycle import CANCEL_STATUSES
from proxy.protocol.answers import VERIFICATION_SMS
from proxy.protocol.requests import PARSERS
from proxy.protocol.words import Word
from proxy.providers.profiles import (
    CANONICAL,
    CANONICAL_ACTIONS,
    PROFILE_DIR,
    SITUATIONS,
    ProfileError,
    load_profile,
    parse_profile,
    profile_names,
)

SHIPPED = ("canonical", "grizzlysms", "herosms", "smsbower", "smspva_alternative")
PUBLIC_SERVICES = ("grizzlysms", "herosms", "smsbower")
# A citation: a file with a line (or a wheel's METADATA line), a seed line, or a web address.
CITATION = re.compile(r"[\w./-]+\.(py|rs|json|toml|md):\d+|METADATA:\d+|seeds/00\d:\d+|https://\S+")


class TestShipped:
    def test_the_profiles_that_ship(self) -> None:
        """Issue 16: canonical, SMSPVA's Alternative API and three public services."""
        assert profile_names() == SHIPPED
        assert sorted(p.stem for p in PROFILE_DIR.glob("*.toml")) == sorted(SHIPPED)

    @pytest.mark.parametrize("name", SHIPPED)
    def test_each_loads_under_its_own_name(self, name: str) -> None:
        profile = load_profile(name)
        assert profile.name == name
        assert profile.source
        assert profile.handler_path == "/stubs/handler_api.php"

    def test_loaded_once_and_usable_as_keys(self) -> None:
        """An adapter may key a cache by its profile."""
        by_profile = {load_profile(name): name for name in SHIPPED}
        assert [by_profile[load_profile(name)] for name in SHIPPED] == list(SHIPPED)

    def test_canonical_is_the_baseline(self) -> None:
        """canonical has no differences: everything else is measured from it."""
        assert load_profile(CANONICAL).differences == ()

    @pytest.mark.parametrize("name", SHIPPED[1:])
    def test_every_difference_cites_its_source(self, name: str) -> None:
        """A difference with no source is not shipped (the loader refuses it); each one cites a
        file and line, a seed line or a public page."""
        profile = load_profile(name)
        assert profile.differences, f"{name} names no difference at all"
        for difference in profile.differences:
            assert CITATION.search(difference.source), (difference.where, difference.source)

    @pytest.mark.parametrize("name", PUBLIC_SERVICES)
    def test_public_services_cite_a_published_witness(self, name: str) -> None:
        """Their differences come from the service's client on PyPI or its documentation."""
        for difference in load_profile(name).differences:
            assert re.search(r"herosms 0\.1\.1|smsbower 0\.1\.0|grizzly-sms-client 0\.1\.1|"
                             r"https://", difference.source), difference  # fmt: skip


class TestCanonicalIsSmsproxy:
    """The canonical profile says what smsproxy answers, so one smsproxy can use another."""

    def test_actions_are_the_ones_smsproxy_serves(self) -> None:
        assert {a.lower() for a in CANONICAL_ACTIONS} == set(PARSERS)
        canonical = load_profile(CANONICAL)
        assert canonical.actions.supported == frozenset(CANONICAL_ACTIONS)
        assert canonical.actions.case_insensitive  # proxy/protocol/requests.py parse_request

    def test_set_status_numbers_are_the_lifecycle_ones(self) -> None:
        rules = load_profile(CANONICAL).set_status
        assert (rules.ready, rules.retry, rules.finish) == (1, 3, 6)
        assert {rules.cancel, *rules.also_cancel} == CANCEL_STATUSES
        assert rules.answer == "word" and not rules.separate

    def test_answers_and_errors(self) -> None:
        canonical = load_profile(CANONICAL)
        assert canonical.errors.shape == "word"
        assert canonical.errors.http_status("NO_NUMBERS") == 200
        assert canonical.answers.verification_type_sms == VERIFICATION_SMS
        assert canonical.answers.active_activations == "wrapped"
        assert canonical.answers.sms_code == "list"
        assert canonical.numbering.phone == "international"
        assert canonical.currency == "USD"

    def test_situations_name_protocol_words(self) -> None:
        assert {str(word) for word in SITUATIONS.values()} <= {w.value for w in Word}
        canonical = load_profile(CANONICAL)
        for situation, word in SITUATIONS.items():
            assert canonical.word_for(situation) == word


class TestLookups:
    def test_canonical_word_reads_aliases_and_arguments(self) -> None:
        grizzly = load_profile("grizzlysms")
        assert grizzly.canonical_word("NO_KEY") == "BAD_KEY"
        assert grizzly.canonical_word("SERVICE_UNAVAILABLE_REGION") == "NO_NUMBERS"
        assert grizzly.canonical_word("Telegram is Prohibited For Sale here") == "NO_NUMBERS"
        assert grizzly.canonical_word("WRONG_MAX_PRICE:0.50") == "WRONG_MAX_PRICE"
        assert grizzly.canonical_word(" NO_BALANCE ") == "NO_BALANCE"
        assert grizzly.canonical_word("STATUS_WAIT_CODE") == "STATUS_WAIT_CODE"
        assert grizzly.canonical_word("SOMETHING_ELSE") is None
        smsbower = load_profile("smsbower")
        assert smsbower.canonical_word("WRONG_ACTIVATION_ID") == "NO_ACTIVATION"
        assert smsbower.canonical_word("BAD_COUNTRY") == "NO_NUMBERS"
        assert load_profile(CANONICAL).canonical_word("BAD_COUNTRY") is None

    def test_word_for_a_situation(self) -> None:
        assert load_profile("grizzlysms").word_for("missing_key") == "NO_KEY"
        assert load_profile("grizzlysms").word_for("bad_key") == "BAD_KEY"
        assert load_profile("smsbower").word_for("unknown_activation") == "WRONG_ACTIVATION_ID"
        with pytest.raises(KeyError):
            load_profile(CANONICAL).word_for("no_such_situation")

    def test_actions_resolve_by_the_service_spelling(self) -> None:
        pva = load_profile("smspva_alternative")
        assert pva.resolve_action("getstatus") == "getStatus"
        assert pva.resolve_action("GETSTATUS") == "getStatus"  # canonical's case rule kept
        assert pva.actions.wire_name("setStatus") == "setstatus"
        assert pva.actions.wire_name("getNumber") == "getNumber"
        assert pva.resolve_action("getBalance") is None  # not documented: not served
        hero = load_profile("herosms")
        assert hero.resolve_action("finishActivation") == "setStatus:finish"
        assert hero.resolve_action("cancelActivation") == "setStatus:cancel"
        assert hero.supports("getActiveActivations")
        assert not load_profile("smsbower").supports("getActiveActivations")

    def test_set_status_meanings(self) -> None:
        assert load_profile(CANONICAL).set_status.meaning(-1) == "cancel"
        assert load_profile("grizzlysms").set_status.meaning(-1) == "cancel"
        assert load_profile("grizzlysms").set_status.meaning(8) == "cancel"
        pva = load_profile("smspva_alternative").set_status
        assert [pva.meaning(n) for n in (1, 3, 6, 8, -1)] == [None, None, None, None, "cancel"]
        assert pva.number("cancel") == -1 and pva.number("finish") is None

    def test_herosms_error_statuses(self) -> None:
        errors = load_profile("herosms").errors
        assert (errors.shape, errors.word_field, errors.text_field) == ("json", "title", "details")
        assert [errors.http_status(w) for w in ("BAD_KEY", "NO_BALANCE", "NO_NUMBERS")] == [
            401,
            402,
            404,
        ]
        assert errors.http_status("NO_ACTIVATION") == 404
        assert errors.http_status("BAD_STATUS") == 409
        assert errors.http_status("BAD_SERVICE") == 400  # the default: bad parameters

    def test_smspva_alternative_numbering(self) -> None:
        """reference/smspva_alternative_api_map.json rows, joined by ISO code and by optNN."""
        numbering = load_profile("smspva_alternative").numbering
        assert numbering.phone == "national"  # seeds/000:351
        pairs = {0: "0", 128: "5", 46: "33", 33: "86", 87: "14", 163: "18", 16: "16", 51: "51"}
        for ours, theirs in pairs.items():
            assert numbering.service_country(ours) == theirs
        assert numbering.service_country(187) == numbering.service_country(12) == "12"
        assert numbering.canonical_country("12") == 187  # reference/SOURCES.md: prefer 187
        assert numbering.canonical_country("7") is None  # BY again: 51 is the one sent
        assert numbering.service_country(7) is None  # Malaysia: not sold there
        assert numbering.service_code("lb") == "mg"  # opt4 Mail.ru Group
        assert numbering.service_code("lf") == "tiktok"  # opt104
        assert numbering.canonical_service("mi") == "jb"  # opt106, also listed as magnit
        assert numbering.canonical_service("magnit") is None
        assert numbering.service_code("tg") == "tg"

    def test_canonical_numbering_is_identity(self) -> None:
        numbering = load_profile("herosms").numbering
        assert numbering.service_country(187) == "187"
        assert numbering.canonical_country("187") == 187
        assert numbering.canonical_country("x1") is None
        assert numbering.service_code("tg") == numbering.canonical_service("tg") == "tg"


def profile(text: str) -> None:
    """Parse a profile that must be refused."""
    parse_profile(text, "test.toml")


HEAD = '[profile]\nname = "t"\ntitle = "T"\nsource = "x.py:1"\n'


class TestStrictLoading:
    def test_a_minimal_profile_is_canonical(self) -> None:
        loaded = parse_profile(HEAD, "t.toml")
        assert loaded.differences == ()
        assert loaded.errors == load_profile(CANONICAL).errors

    def test_a_profile_by_path(self, tmp_path: Path) -> None:
        path = tmp_path / "mine.toml"
        path.write_text(
            HEAD + '[set_status]\nanswer = "empty"\nsource = "docs.md:3"\n', encoding="utf-8"
        )
        for spelling in (path, str(path)):
            loaded = load_profile(spelling)
            assert loaded.set_status.answer == "empty"
            assert loaded.set_status.cancel == 8  # the rest is canonical's
            assert [d.where for d in loaded.differences] == ["set_status.answer"]

    @pytest.mark.parametrize(
        ("text", "why"),
        [
            ('[profile]\nname = "t"\ntitle = "T"\n', "profile.source is missing"),
            ('[profile]\nname = "t"\nsource = "a.py:1"\n', "profile.title is missing"),
            ('[profile]\ntitle = "T"\nsource = "a.py:1"\n', "profile.name is missing"),
            (HEAD + "[weird]\n", "unknown sections"),
            (HEAD + '[errors]\nshape = "word"\nsourc = "x"\nsource = "a.py:1"\n', "unknown keys"),
            (HEAD + '[errors]\nshape = "json"\n', "with no source"),
            (HEAD + '[errors]\nshape = "xml"\nsource = "a.py:1"\n', "must be one of"),
            (HEAD + '[errors]\ndefault_status = "4"\nsource = "a.py:1"\n', "an integer"),
            (HEAD + '[errors]\ndefault_status = true\nsource = "a.py:1"\n', "an integer"),
            (HEAD + '[errors]\nshape = "json"\nsource = "a.py:1"\n', "needs word_field"),
            (HEAD + '[errors]\nstatus = { NOPE = 400 }\nsource = "a.py:1"\n', "not an SMS-Act"),
            (HEAD + '[errors]\nstatus = { BAD_KEY = 99 }\nsource = "a.py:1"\n', "HTTP status"),
            (
                HEAD + '[set_status]\ncancel = 6\nsource = "a.py:1"\n',
                "one number two meanings",
            ),
            (HEAD + '[set_status]\nlacks = ["jump"]\nsource = "a.py:1"\n', "set_status.lacks"),
            (
                HEAD + '[set_status]\nseparate = { undo = "x" }\nsource = "a.py:1"\n',
                "knows finish and cancel",
            ),
            (
                HEAD + '[set_status]\nseparate = { cancel = "getStatus" }\nsource = "a.py:1"\n',
                "clashes with an action",
            ),
            (
                HEAD + '[set_status]\ncancel = 9\nretry = 4\nsource = { cancel = "a.py:1" }\n',
                "['retry'] with no source",
            ),
            (
                HEAD + '[set_status]\ncancel = 9\nsource = { retry = "a.py:1" }\n',
                "names keys not set",
            ),
            (
                HEAD + '[numbering.countries]\n"9999" = "1"\n[numbering.source]\n'
                'countries = "a.py:1"\n',
                "no SMS-Activate id",
            ),
            (
                HEAD + '[numbering.services]\n"no-such" = "x"\n[numbering.source]\n'
                'services = "a.py:1"\n',
                "no SMS-Activate code",
            ),
            (HEAD + '[actions]\nsupported = ["fly"]\nsource = "a.py:1"\n', "no SMS-Activate ac"),
            (HEAD + '[answers]\nsms_code = "set"\nsource = "a.py:1"\n', "must be one of"),
            (
                HEAD + '[answers]\nnumber_v2_fields = { x = "age" }\nsource = "a.py:1"\n',
                "values unknown",
            ),
            (
                '[profile]\nname = "t"\ntitle = "T"\ncurrency = "usd"\nsource = "a.py:1"\n',
                "ISO 4217",
            ),
            ('[profile]\nname = "T!"\ntitle = "T"\nsource = "a.py:1"\n', "lower-case"),
            (
                HEAD + '[[aliases]]\nword = "X"\nmeans = "NOPE"\nwhen = "bad_key"\n'
                'source = "a.py:1"\n',
                "no SMS-Activate word",
            ),
            (
                HEAD + '[[aliases]]\nword = "X"\nmeans = "BAD_KEY"\nwhen = "sunny"\n'
                'source = "a.py:1"\n',
                "no known situation",
            ),
            (
                HEAD + '[[aliases]]\nword = "X"\nmeans = "NO_NUMBERS"\nwhen = "bad_key"\n'
                'source = "a.py:1"\n',
                "but means",
            ),
            (
                HEAD + '[[aliases]]\nword = "X"\nmeans = "BAD_KEY"\nwhen = "bad_key"\n',
                "source is missing",
            ),
            (
                HEAD + '[[aliases]]\nword = "X"\nmeans = "BAD_KEY"\nwhen = "bad_key"\n'
                'source = "a.py:1"\n[[aliases]]\nword = "Y"\nmeans = "BAD_KEY"\n'
                'when = "bad_key"\nsource = "a.py:2"\n',
                "the same situation",
            ),
            (HEAD + "[errors\n", "not valid TOML"),
        ],
    )
    def test_refused(self, text: str, why: str) -> None:
        with pytest.raises(ProfileError, match=re.escape(why)):
            profile(text)

    def test_unknown_or_malformed_names(self, tmp_path: Path) -> None:
        with pytest.raises(ProfileError, match="no shipped profile"):
            load_profile("nosuch")
        with pytest.raises(ProfileError, match="not a profile name"):
            load_profile("Hero SMS")
        with pytest.raises(ProfileError, match="cannot read"):
            load_profile(tmp_path / "absent.toml")
