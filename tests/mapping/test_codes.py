"""Tests for proxy.mapping.codes and the data files behind it."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from proxy.mapping import PROVIDER_KINDS, CodeMap, Overrides, build_data, load_code_map

CODES = load_code_map()
SHARED = Path(__file__).resolve().parents[3] / "shared"
needs_shared = pytest.mark.skipif(
    not (SHARED / "reference").is_dir(), reason="shared/ is not beside the repository"
)

# (SMS-Activate, SMSPVA, VAK-SMS): checked against the reference names and seeds 000 and 003.
ANCHORS = [
    ("go", "opt1", "gl"),
    ("tg", "opt29", "tg"),
    ("wa", "opt20", "wa"),
    ("ds", "opt45", "dc"),
    ("mm", "opt15", "ms"),
    ("lf", "opt104", "tk"),
    ("dr", "opt132", "dr"),
    ("wx", "opt131", "al"),
    ("mt", "opt58", "st"),
    ("ig", "opt16", "ig"),
    ("fb", "opt2", "fb"),
]

# VAK codes spelled like an SMS-Activate code of another service -> the SA code they map from.
VAK_FALSE_FRIENDS = {
    "dc": "ds",  # Discord; SA dc is YikYak
    "ms": "mm",  # Microsoft; SA ms is NovaPoshta
    "st": "mt",  # Steam; SA st is Auchan
    "tk": "lf",  # Tiktok; SA tk is МВидео
    "ym": "aoh",  # Юmoney; SA ym is youla.ru
    "wb": "uu",  # Wildberries; SA wb is WeChat
    "pp": "ts",  # PayPal; SA pp is Huya
    "us": "ahb",  # Ubisoft; SA us is IRCTC
    "kf": "fz",  # KFC; SA kf is Weibo
}

# Pairs where VAK uses the SMS-Activate string itself: SA name, VAK name (seed 003), reviewed.
SAME_CODE_VAK = {
    "tg": ("Telegram", "Telegram"),
    "wa": ("Whatsapp", "WhatsApp"),
    "dr": ("OpenAI", "OpenAI"),
    "qw": ("Qiwi", "QIWl Wallet"),
    "nf": ("Netflix", "Netflix"),
    "ig": ("Instagram+Threads", "Instagram"),
    "tw": ("Twitter", "Twitter"),
    "vi": ("Viber", "Viber"),
    "ub": ("Uber", "Uber"),
    "qq": ("Tencent QQ", "Tencent QQ"),
    "fb": ("facebook", "Facebook"),
    "ya": ("Yandex/Uber", "Yandex"),
    "am": ("Amazon", "Amazon"),
    "rl": ("inDriver", "inDriver"),
    "nv": ("Naver", "Naver"),
    "bz": ("Blizzard", "Blizzard"),
    "dl": ("Lazada", "Lazada"),
    "sb": ("Lamoda", "Lamoda"),
    "fk": ("BLIBLI", "Blibli"),
    "ae": ("myGLO", "MyGLO"),
    "fu": ("Snapchat", "Snapchat"),
    "zm": ("OfferUp", "OfferUp"),
    "kt": ("KakaoTalk", "KakaoTalk"),
    "hz": ("Drom", "Drom"),
    "qz": ("Faceit", "Faceit"),
    "av": ("avito", "Avito"),
    "fi": ("Dundle", "Dundle"),
    "mg": ("Magnit", "Магнит"),
    "im": ("Imo", "IMO messanger"),
    "kj": ("YAPPY", "Yappy"),
}

# Provider catalogue sizes: reference/smspva_*.json and seed 003's tables.
CATALOGUE_SIZES = {
    "smspva": {"services": 247, "countries": 75},
    "vaksms": {"services": 280, "countries": 33},
}


def _data_file(name: str) -> Any:
    text = resources.files("proxy.mapping").joinpath("data", name).read_text("utf-8")
    return json.loads(text)


UNMAPPED = _data_file("unmapped.json")


def _mapped_services(kind: str) -> list[tuple[str, str]]:
    return [
        (s.code, code)
        for s in CODES.services
        if (code := CODES.provider_service(kind, s.code)) is not None
    ]


def _mapped_countries(kind: str) -> list[tuple[int, str]]:
    return [
        (c.id, code)
        for c in CODES.countries
        if (code := CODES.provider_country(kind, c.id)) is not None
    ]


@pytest.fixture(name="sources", scope="module")
def fixture_sources() -> build_data.Sources:
    return build_data.read_sources(SHARED / "reference", SHARED / "seeds")


class TestCountries:
    def test_ids_are_0_to_204(self) -> None:
        """Every SMS-Activate country id from 0 to 204 is there, once."""
        assert [c.id for c in CODES.countries] == list(range(205))

    @pytest.mark.parametrize("country_id", range(205))
    def test_calling_code_present(self, country_id: int) -> None:
        """Every id has a calling code of one to three digits."""
        country = CODES.country(country_id)
        assert country is not None
        assert country.calling_code.isdigit()
        assert 1 <= len(country.calling_code) <= 3

    @pytest.mark.parametrize(
        ("country_id", "calling_code"),
        [
            (0, "7"),
            (1, "380"),
            (2, "7"),
            (12, "1"),
            (16, "44"),
            (18, "243"),
            (97, "1"),
            (146, "262"),
            (150, "242"),
            (187, "1"),
            (194, "44"),
            (203, "383"),
        ],
    )
    def test_calling_codes(self, country_id: int, calling_code: str) -> None:
        """Spot checks, including shared codes (7, 1, 44) and territories."""
        country = CODES.country(country_id)
        assert country is not None
        assert country.calling_code == calling_code

    @pytest.mark.parametrize(
        ("kind", "country_id"),
        [(kind, cid) for kind in PROVIDER_KINDS for cid, _ in _mapped_countries(kind)],
    )
    def test_round_trip(self, kind: str, country_id: int) -> None:
        """SA id -> provider code -> SA id gives the id back; USA 12 comes back as 187."""
        code = CODES.provider_country(kind, country_id)
        assert code is not None
        expected = 187 if country_id == 12 else country_id
        assert CODES.country_from_provider(kind, code) == expected

    @pytest.mark.parametrize(
        ("kind", "country_id"),
        [
            (kind, c.id)
            for kind in PROVIDER_KINDS
            for c in CODES.countries
            if CODES.provider_country(kind, c.id) is None
        ],
    )
    def test_unserved_ids_never_come_back(self, kind: str, country_id: int) -> None:
        """An id the provider does not carry is no provider code's reverse either."""
        reverse = {CODES.country_from_provider(kind, code) for _, code in _mapped_countries(kind)}
        assert country_id not in reverse

    @pytest.mark.parametrize(
        ("country_id", "smspva", "vaksms"),
        [(0, "RU", "ru"), (16, "UK", "gb"), (12, "US", "us"), (187, "US", "us"), (2, "KZ", "kz")],
    )
    def test_anchors(self, country_id: int, smspva: str, vaksms: str) -> None:
        """Russia, the United Kingdom (UK at SMSPVA) and both USA ids."""
        assert CODES.provider_country("smspva", country_id) == smspva
        assert CODES.provider_country("vaksms", country_id) == vaksms

    def test_counts(self) -> None:
        """All 75 SMSPVA and 33 VAK countries are served, plus USA's second id 12."""
        for kind, sizes in CATALOGUE_SIZES.items():
            pairs = _mapped_countries(kind)
            assert len(pairs) == sizes["countries"] + 1
            assert len({code for _, code in pairs}) == sizes["countries"]

    def test_only_usa_shares_a_provider_code(self) -> None:
        """The reverse lookup is unambiguous: only 12 and 187 share a code."""
        for kind in PROVIDER_KINDS:
            ids: dict[str, list[int]] = {}
            for country_id, code in _mapped_countries(kind):
                ids.setdefault(code, []).append(country_id)
            assert {code: v for code, v in ids.items() if len(v) > 1} == {
                "US" if kind == "smspva" else "us": [12, 187]
            }

    @pytest.mark.parametrize(
        ("kind", "code"), [("smspva", "EN"), ("smspva", "CN2"), ("smspva", "GB"), ("vaksms", "uk")]
    )
    def test_foreign_codes_are_unknown(self, kind: str, code: str) -> None:
        """SMSPVA's rental-only EN, its old CN2 and ISO GB are not countries; nor is VAK uk."""
        assert CODES.country_from_provider(kind, code) is None


class TestServices:
    def test_catalogue(self) -> None:
        """926 current codes and 240 legacy ones, each once."""
        services = CODES.services
        assert len({s.code for s in services}) == len(services) == 1166
        assert sum(s.legacy for s in services) == 240

    @pytest.mark.parametrize(
        ("kind", "code"),
        [(kind, sa) for kind in PROVIDER_KINDS for sa, _ in _mapped_services(kind)],
    )
    def test_round_trip(self, kind: str, code: str) -> None:
        """SA code -> provider code -> SA code gives the code back."""
        provider_code = CODES.provider_service(kind, code)
        assert provider_code is not None
        assert CODES.service_from_provider(kind, provider_code) == code

    @pytest.mark.parametrize(("sa", "smspva", "vaksms"), ANCHORS)
    def test_anchors(self, sa: str, smspva: str, vaksms: str) -> None:
        """The pairs the seeds name, both ways."""
        assert CODES.provider_service("smspva", sa) == smspva
        assert CODES.provider_service("vaksms", sa) == vaksms
        assert CODES.service_from_provider("smspva", smspva) == sa
        assert CODES.service_from_provider("vaksms", vaksms) == sa

    def test_instagram(self) -> None:
        """SMSPVA opt16 "Instagram (+Threads)" is SA ig (seeds/000:264); VAK ig "Instagram"
        (seeds/003:39) is SA ig too, by the hand-check reason build_data.py records."""
        assert CODES.provider_service("smspva", "ig") == "opt16"
        assert CODES.service_from_provider("smspva", "opt16") == "ig"
        assert CODES.provider_service("vaksms", "ig") == "ig"
        assert CODES.service_from_provider("vaksms", "ig") == "ig"

    @pytest.mark.parametrize(("vak", "sa"), VAK_FALSE_FRIENDS.items())
    def test_vak_false_friends(self, vak: str, sa: str) -> None:
        """A VAK code spelled like another service's SA code maps to the right SA code only."""
        assert CODES.service_from_provider("vaksms", vak) == sa
        assert CODES.provider_service("vaksms", vak) != vak

    def test_same_string_pairs_were_reviewed(self) -> None:
        """Every SA code mapped to the same VAK string is a reviewed same-name pair."""
        same = {sa for sa, code in _mapped_services("vaksms") if sa == code}
        assert same == SAME_CODE_VAK.keys()
        for code, (sa_name, _) in SAME_CODE_VAK.items():
            service = CODES.service(code)
            assert service is not None
            assert service.name == sa_name

    def test_reverse_is_unique(self) -> None:
        """No provider code maps back from two SA codes."""
        for kind in PROVIDER_KINDS:
            codes = [code for _, code in _mapped_services(kind)]
            assert len(codes) == len(set(codes))

    @pytest.mark.parametrize("code", ["opt00019", "opt00020", "opt00029"])
    def test_voice_variants_stay_unmapped(self, code: str) -> None:
        """SMSPVA's voice-call codes have no SA counterpart."""
        assert CODES.service_from_provider("smspva", code) is None
        assert code in {e["code"] for e in UNMAPPED["smspva"]["services"]}

    def test_unknown_codes(self) -> None:
        """Unknown codes give None, not an error."""
        assert CODES.service("zzzz") is None
        assert CODES.country(205) is None
        assert CODES.provider_service("smspva", "zzzz") is None
        assert CODES.service_from_provider("vaksms", "zzzz") is None

    @pytest.mark.parametrize(
        "call",
        [
            lambda m: m.provider_service("sms-activate", "go"),
            lambda m: m.provider_country("5sim", 0),
            lambda m: m.service_from_provider("SMSPVA", "opt1"),
            lambda m: m.country_from_provider("vak", "ru"),
        ],
    )
    def test_unknown_kind(self, call: Callable[[CodeMap], object]) -> None:
        """A provider kind other than smspva or vaksms is a KeyError."""
        with pytest.raises(KeyError):
            call(CODES)


class TestInternationalPhone:
    @pytest.mark.parametrize(
        ("country_id", "phone", "expected"),
        [
            (0, "9584123456", "79584123456"),
            (0, "79584123456", "79584123456"),
            (0, "+7 (958) 412-34-56", "79584123456"),
            (2, "7012345678", "77012345678"),
            (2, "77012345678", "77012345678"),
            (187, "9876544321", "19876544321"),
            (12, "12025550123", "12025550123"),
            (16, "7911123456", "447911123456"),
            (16, "447911123456", "447911123456"),
            (1, "501234567", "380501234567"),
            (1, "380501234567", "380501234567"),
            (43, "15123456789", "4915123456789"),
        ],
    )
    def test_prefix(self, country_id: int, phone: str, expected: str) -> None:
        """National numbers get the calling code; international ones are left alone."""
        assert CODES.international_phone(country_id, phone) == expected

    def test_no_digits(self) -> None:
        """A phone without digits is an error, not a bare calling code."""
        with pytest.raises(ValueError, match="no digits"):
            CODES.international_phone(0, "+-")

    def test_unknown_country(self) -> None:
        """An unknown country id is a KeyError."""
        with pytest.raises(KeyError):
            CODES.international_phone(999, "123")


class TestOverrides:
    def test_no_overrides_is_the_cached_map(self) -> None:
        """Without overrides the data files are read once."""
        assert load_code_map() is CODES
        assert load_code_map(Overrides()) is CODES

    def test_add(self) -> None:
        """A new pair works both ways."""
        codes = load_code_map(Overrides(services={"vaksms": {"bye": "wab"}}))
        assert codes.provider_service("vaksms", "bye") == "wab"
        assert codes.service_from_provider("vaksms", "wab") == "bye"
        assert CODES.provider_service("vaksms", "bye") is None

    def test_replace(self) -> None:
        """A replaced pair frees the old provider code."""
        codes = load_code_map(Overrides(services={"smspva": {"go": "opt999"}}))
        assert codes.provider_service("smspva", "go") == "opt999"
        assert codes.service_from_provider("smspva", "opt999") == "go"
        assert codes.service_from_provider("smspva", "opt1") is None
        assert codes.provider_service("vaksms", "go") == "gl"

    def test_remove(self) -> None:
        """None removes the pair both ways."""
        codes = load_code_map(Overrides(services={"smspva": {"go": None}}))
        assert codes.provider_service("smspva", "go") is None
        assert codes.service_from_provider("smspva", "opt1") is None

    def test_take_over(self) -> None:
        """A provider code given to another SA code leaves its old holder."""
        codes = load_code_map(Overrides(services={"smspva": {"bye": "opt20"}}))
        assert codes.service_from_provider("smspva", "opt20") == "bye"
        assert codes.provider_service("smspva", "wa") is None

    def test_countries(self) -> None:
        """Country overrides add, replace and remove, keeping the reverse consistent."""
        codes = load_code_map(
            Overrides(countries={"smspva": {5: "MM", 0: None}, "vaksms": {16: "uk"}})
        )
        assert codes.provider_country("smspva", 5) == "MM"
        assert codes.country_from_provider("smspva", "MM") == 5
        assert codes.provider_country("smspva", 0) is None
        assert codes.country_from_provider("smspva", "RU") is None
        assert codes.country_from_provider("vaksms", "uk") == 16
        assert codes.country_from_provider("vaksms", "gb") is None

    def test_usa_ids(self) -> None:
        """Without 187, a provider's US comes back as 12; without 12, still as 187."""
        no_187 = load_code_map(Overrides(countries={"smspva": {187: None}}))
        assert no_187.country_from_provider("smspva", "US") == 12
        no_12 = load_code_map(Overrides(countries={"smspva": {12: None}}))
        assert no_12.country_from_provider("smspva", "US") == 187
        assert no_12.provider_country("smspva", 12) is None

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            (Overrides(services={"smspva": {"nope": "opt1"}}), "unknown SMS-Activate service"),
            (Overrides(countries={"vaksms": {205: "xx"}}), "unknown SMS-Activate country"),
            (Overrides(services={"5sim": {"go": "google"}}), "unknown provider kind"),
            (Overrides(services={"smspva": {"go": " "}}), "not a provider code"),
            (Overrides(services={"smspva": {"go": "opt7", "bye": "opt7"}}), "map back from"),
        ],
    )
    def test_rejected(self, overrides: Overrides, message: str) -> None:
        """Unknown codes, ids and kinds, blank codes and ambiguous reverses are ValueErrors."""
        with pytest.raises(ValueError, match=message):
            load_code_map(overrides)


class TestCompleteness:
    @pytest.mark.parametrize("kind", PROVIDER_KINDS)
    def test_unmapped_are_not_mapped(self, kind: str) -> None:
        """A provider code listed as unmapped has no SA counterpart, and says why."""
        for entry in UNMAPPED[kind]["services"]:
            assert CODES.service_from_provider(kind, entry["code"]) is None
            assert entry["reason"]
        for entry in UNMAPPED[kind]["countries"]:
            assert CODES.country_from_provider(kind, entry["code"]) is None
            assert entry["reason"]

    @pytest.mark.parametrize("kind", PROVIDER_KINDS)
    def test_every_provider_code_accounted_for(self, kind: str) -> None:
        """Mapped and unmapped provider codes together make the whole catalogue."""
        services = {code for _, code in _mapped_services(kind)}
        unmapped = {e["code"] for e in UNMAPPED[kind]["services"]}
        assert not services & unmapped
        assert len(services | unmapped) == CATALOGUE_SIZES[kind]["services"]
        countries = {code for _, code in _mapped_countries(kind)}
        unmapped = {e["code"] for e in UNMAPPED[kind]["countries"]}
        assert len(countries | unmapped) == CATALOGUE_SIZES[kind]["countries"]

    @needs_shared
    def test_catalogues_match_the_sources(self, sources: build_data.Sources) -> None:
        """The provider codes are exactly those of reference/ and seed 003."""
        for kind, services, countries in [
            ("smspva", sources.smspva_services, sources.smspva_countries),
            ("vaksms", sources.vaksms_services, sources.vaksms_countries),
        ]:
            mapped = {code for _, code in _mapped_services(kind)}
            assert mapped | {e["code"] for e in UNMAPPED[kind]["services"]} == services.keys()
            mapped = {code for _, code in _mapped_countries(kind)}
            assert mapped | {e["code"] for e in UNMAPPED[kind]["countries"]} == countries.keys()
        for code, (_, vak_name) in SAME_CODE_VAK.items():
            assert sources.vaksms_services[code] == vak_name

    @needs_shared
    def test_data_files_are_built_from_the_sources(self, tmp_path: Path) -> None:
        """The committed JSON is byte for byte what build_data.py makes of the sources, and data/
        holds no file the builder does not make (operators.json included)."""
        build_data.main([str(SHARED / "reference"), "--out", str(tmp_path)])
        data = resources.files("proxy.mapping").joinpath("data")
        built = sorted(path.name for path in tmp_path.iterdir())
        assert built == ["countries.json", "operators.json", "services.json", "unmapped.json"]
        assert sorted(p.name for p in data.iterdir() if p.name.endswith(".json")) == built
        for name in built:
            assert (tmp_path / name).read_bytes() == data.joinpath(name).read_bytes(), name
