"""protocol_fixtures/: well formed, complete, and answered alike by the emulators over real HTTP.

Each fixture records one documented exchange. Here every fixture's request is replayed against
the matching emulator, served by uvicorn on a loopback port, after a setup puts the emulator in
the state the fixture describes; the answer must have the fixture's HTTP status and the same
JSON shape (keys and value types, recursively), with values free to differ where they are random.

SMSPVA answers in two sets of shapes (proxy/emulators/smspva.py): a fixture whose source is
smspva-sdk is replayed against ``shapes="sdk"``, every other one (seeds, docs.smspva.com, our
own choices) against ``shapes="seed"``, the shapes those fixtures were recorded from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.emulators import EmulatorBase, SmspvaEmulator, VaksmsEmulator
from proxy.emulators.smspva_rent import Shapes
from proxy.providers.base import Refusal
from proxy.serving import ThreadedServer

from .support import FakeClock

ROOT = Path(__file__).resolve().parents[2] / "protocol_fixtures"
PROTOCOLS = ("smspva", "vaksms")  # the upstreams; protocol_fixtures/ holds the proxy's own too
FIXTURES = sorted(path for protocol in PROTOCOLS for path in ROOT.glob(f"{protocol}/*.json"))

# The placeholders the fixtures use for ids the emulator makes up (the seeds' own examples).
PVA_ORDER, VAK_ID_NUM, VAK_TEL = "123456", "3adb61376b8f4adb90d6e758cf8084fd", "79991112233"
PVA_KEY = {"apikey": "test-key"}
VAK_KEY = {"apiKey": "test-key"}

MEANING_KEYS: dict[str, set[str]] = {
    "balance": {"kind", "amount"},
    "counts": {"kind", "counts", "operator", "operator_counts"},
    "operators": {"kind", "operators"},
    "prices": {"kind", "prices", "operator", "operator_prices"},
    "price": {"kind", "price", "operator", "operator_price"},
    "orders": {"kind", "orders"},
    "number": {"kind", "order_id", "phone", "expires_in"},
    "numbers": {"kind", "items"},
    "sms": {"kind", "state", "codes", "text"},
    "ok": {"kind"},
    "refused": {"kind", "refusal"},
    "unavailable": {"kind"},
    "catalog": {"kind"},
}
SMSPVA_STATUSES = {200, 202, 404, 405, 406, 407, 410, 411, 500, 501, 502, 503}  # seeds/000:231-244
VAK_WORDS = {  # seeds/003:1183-1190, 1211-1220
    *("ready", "update", "smsReceived", "waitSMS"),
    *("apiKeyNotFound", "noService", "noNumber", "noMoney", "noCountry", "noOperator"),
    *("badStatus", "idNumNotFound", "badService", "badData"),
}
SOURCE = re.compile(
    r"seeds/00\d:\d+(-\d+)?(, \d+(-\d+)?)*|emulator: .+|smspva-sdk 0\.1\.0a2: .+|issue \d+: .+"
)
# Meanings that are computed from the answer rather than copied from it: sums over operators.
DERIVED_MEANINGS = {"counts"}
# Listings: the emulator prices its whole catalog where a fixture shows a few items, so each
# item of the answer must look like one of the fixture's items.
LISTING_KINDS = {"prices"}
# Fixtures of shapes the emulator does not produce: they test the adapters' tolerance only.
NOT_REPLAYED = {
    "smspva/orders_bare_list": "data as a bare list: no source documents it, so not emulated",
}


@dataclass
class Ctx:
    """What a setup may use: the emulator, its clock, and an HTTP client to its server."""

    emulator: Any
    clock: FakeClock
    http: httpx.Client


Setup = Callable[[Ctx], dict[str, str]]


# -- SMSPVA states ----------------------------------------------------------------------------


def shapes_for(fixture: dict[str, Any]) -> Shapes:
    """The SMSPVA shapes a fixture was recorded from: the SDK's, or the seeds' and docs'."""
    return "sdk" if fixture["source"].startswith("smspva-sdk") else "seed"


def pva_buy(ctx: Ctx, deliver: bool = False) -> str:
    data = ctx.http.get("/activation/number/US/opt131", headers=PVA_KEY).json()["data"]
    order_id = str(data["orderId"])
    if deliver:
        ctx.emulator.deliver_sms(order_id, code="1234", text="Your activation code is 1234")
    return order_id


def pva_order(deliver: bool = False, age: float = 0.0) -> Setup:
    def setup(ctx: Ctx) -> dict[str, str]:
        order_id = pva_buy(ctx, deliver)
        ctx.clock.advance(age)
        return {PVA_ORDER: order_id}

    return setup


def pva_fault(endpoint: str, status: int) -> Setup:
    def setup(ctx: Ctx) -> dict[str, str]:
        ctx.emulator.inject_error(endpoint, status=status)
        return {}

    return setup


def pva_out_of_stock(ctx: Ctx) -> dict[str, str]:
    ctx.emulator.set_stock("opt131", "US", 0)
    return {}


def pva_broke(ctx: Ctx) -> dict[str, str]:
    ctx.emulator.set_balance("test-key", 0)
    return {}


def pva_flooded(ctx: Ctx) -> dict[str, str]:
    # seeds/000:16: 50 requests per second; the clock is frozen, so these are "at once".
    for _ in range(50):
        assert ctx.http.get("/activation/balance", headers=PVA_KEY).status_code == 200
    return {}


def pva_balance(ctx: Ctx) -> dict[str, str]:
    ctx.emulator.set_balance("test-key", "10.5")
    return {}


def pva_operator_stock(with_opt20: bool) -> Setup:
    """Only what a counts or prices fixture shows is in stock: US opt131 at both operators, and
    opt20 at tmobile if asked (the prices fixture shows opt20 with no operator)."""

    def setup(ctx: Ctx) -> dict[str, str]:
        ctx.emulator.set_all_stock(0)
        ctx.emulator.set_stock("opt131", "US", 12, operator="tmobile")
        ctx.emulator.set_stock("opt131", "US", 5, operator="verizon")
        if with_opt20:
            ctx.emulator.set_stock("opt20", "US", 3, operator="tmobile")
        return {}

    return setup


def pva_one_operator(ctx: Ctx) -> dict[str, str]:
    """US opt131 only at tmobile, so priceByOperators names that one operator."""
    ctx.emulator.set_stock("opt131", "US", 0)
    ctx.emulator.set_stock("opt131", "US", 5, operator="tmobile")
    return {}


def nothing(ctx: Ctx) -> dict[str, str]:
    return {}


SMSPVA_SETUPS: dict[str, Setup] = {
    "number_success": nothing,
    "number_by_operator": nothing,
    "number_bad_request": nothing,
    "number_bad_key": nothing,
    "number_no_numbers": pva_out_of_stock,
    "number_service_unavailable": pva_fault("number", 411),
    "number_internal_error": pva_fault("number", 500),
    "number_no_balance": pva_broke,
    "number_rate_limited": pva_flooded,
    "number_temporarily_unavailable": pva_fault("number", 503),
    "sms_waiting": pva_order(age=20),
    "sms_waiting_sdk": pva_order(age=20),
    "sms_received": pva_order(deliver=True),
    "sms_order_not_found": nothing,
    "sms_expired": pva_order(age=600),
    "balance_success": pva_balance,
    "balance_sdk": pva_balance,
    "balance_bad_key": nothing,
    "userinfo_success": pva_balance,
    "serviceprice_success": nothing,
    "serviceprice_operators": pva_one_operator,
    "serviceprice_country_success": pva_operator_stock(with_opt20=False),
    "countnumbers_success": pva_operator_stock(with_opt20=True),
    "operators_success": nothing,
    "serviceprice_bad_request": nothing,
    "clearsms_success": pva_order(deliver=True, age=1),
    "clearsms_no_sms": pva_order(),
    "clearsms_order_not_found": nothing,
    "cancelorder_success": pva_order(),
    "cancelorder_sms_received": pva_order(deliver=True),
    "cancelorder_expired": pva_order(age=600),
    "cancelorder_order_not_found": nothing,
    "blocknumber_success": pva_order(),
    "blocknumber_order_not_found": nothing,
    "orders_success": pva_order(deliver=True, age=40),
    "orders_sdk": pva_order(deliver=True, age=40),
    "orders_bare_list": nothing,
    "orders_unavailable": pva_fault("orders", 503),
}


# -- VAK-SMS states ---------------------------------------------------------------------------


def vak_buy(ctx: Ctx, codes: tuple[str, ...] = ()) -> str:
    answer = ctx.http.get("/api/getNumber/", params={**VAK_KEY, "service": "tg"}).json()
    id_num = str(answer["idNum"])
    for code in codes:
        if ctx.emulator.orders[id_num].messages:
            ctx.http.get("/api/setStatus/", params={**VAK_KEY, "idNum": id_num, "status": "send"})
        ctx.emulator.deliver_sms(id_num, code=code)
    return id_num


def vak_order(*codes: str, then_send: bool = False) -> Setup:
    def setup(ctx: Ctx) -> dict[str, str]:
        id_num = vak_buy(ctx, codes)
        if then_send:
            ctx.http.get("/api/setStatus/", params={**VAK_KEY, "idNum": id_num, "status": "send"})
        return {VAK_ID_NUM: id_num}

    return setup


def vak_used_number(ctx: Ctx) -> dict[str, str]:
    """A number that got a code and whose order window has closed: ready to prolong."""
    id_num = vak_buy(ctx, ("1234",))
    ctx.clock.advance(ctx.emulator.order_lifetime)
    return {VAK_TEL: ctx.emulator.orders[id_num].phone}


def vak_out_of_stock(ctx: Ctx) -> dict[str, str]:
    ctx.emulator.set_stock("tg", "ru", 0)
    return {}


def vak_broke(ctx: Ctx) -> dict[str, str]:
    ctx.emulator.set_balance("test-key", 0)
    return {}


def vak_down(ctx: Ctx) -> dict[str, str]:
    ctx.emulator.inject_error("getNumber", status=503)
    return {}


VAKSMS_SETUPS: dict[str, Setup] = {
    "getBalance_success": nothing,
    "getBalance_apiKeyNotFound": nothing,
    "getCountNumber_success": nothing,
    "getCountNumber_price": nothing,
    "getCountNumber_noCountry": nothing,
    "getCountNumberList_success": nothing,
    "getNumber_success": nothing,
    "getNumber_two_services": nothing,
    "getNumber_rent": nothing,
    "getNumber_noService": nothing,
    "getNumber_badService": nothing,
    "getNumber_noNumber": vak_out_of_stock,
    "getNumber_noMoney": vak_broke,
    "getNumber_noCountry": nothing,
    "getNumber_noOperator": nothing,
    "getNumber_badData": nothing,
    "getNumber_unavailable": vak_down,
    "prolongNumber_success": vak_used_number,
    "prolongNumber_noNumber": nothing,
    "setStatus_send_ready": vak_order("1234"),
    "setStatus_end_update": vak_order(),
    "setStatus_end_smsReceived": vak_order("1234"),
    "setStatus_end_waitSMS": vak_order("1234", then_send=True),
    "setStatus_bad_update": vak_order(),
    "setStatus_bad_waitSMS": vak_order("1234", then_send=True),
    "setStatus_badStatus": vak_order(),
    "setStatus_idNumNotFound": nothing,
    "getSmsCode_waiting": vak_order(),
    "getSmsCode_received": vak_order("1234"),
    "getSmsCode_all": vak_order("1234", "5678"),
    "getSmsCode_idNumNotFound": nothing,
}
SETUPS = {"smspva": SMSPVA_SETUPS, "vaksms": VAKSMS_SETUPS}


# -- helpers ----------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def json_type(value: object) -> str:
    """JSON's own types: one number type, so 3 and 3.0 match as they do on the wire."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_same_shape(
    expected: object, actual: object, where: str, maps: bool, listing: bool = False
) -> None:
    """Same keys and JSON types, recursively; `maps`: objects keyed by data (codes) may differ;
    `listing`: a list may hold more or fewer items, each shaped like one of the fixture's."""
    assert json_type(actual) == json_type(expected), f"{where}: {actual!r} vs {expected!r}"
    if isinstance(expected, dict):
        assert isinstance(actual, dict)
        if maps and set(actual) != set(expected):
            # A catalog keyed by service code: every entry must look like the fixture's entries.
            prototype = next(iter(expected.values()))
            for key, value in actual.items():
                assert_same_shape(prototype, value, f"{where}.{key}", maps, listing)
            return
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} vs {sorted(expected)}"
        for key, value in expected.items():
            assert_same_shape(value, actual[key], f"{where}.{key}", maps, listing)
    elif isinstance(expected, list) and listing:
        assert isinstance(actual, list) and bool(actual) == bool(expected), f"{where}: {actual!r}"
        for index, got in enumerate(actual):
            assert any(shaped_like(want, got, maps) for want in expected), (
                f"{where}[{index}]: {got!r} is shaped like no item of {expected!r}"
            )
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_same_shape(want, got, f"{where}[{index}]", maps)


def shaped_like(expected: object, actual: object, maps: bool) -> bool:
    try:
        assert_same_shape(expected, actual, "$", maps, listing=True)
    except AssertionError:
        return False
    return True


def strings_in(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif not isinstance(value, bool):
        yield str(value)


@dataclass
class Served:
    emulator: EmulatorBase
    clock: FakeClock
    url: str


@pytest.fixture(name="served", scope="module")
def served_fixture() -> Iterator[dict[str, Served]]:
    """One uvicorn server per emulator for the whole module, reset before each fixture."""
    keys = {"test-key": Decimal("1000")}
    pva_clock, vak_clock = FakeClock(), FakeClock()
    smspva = SmspvaEmulator(api_keys=keys, sms_delay=None, seed=11, clock=pva_clock)
    vaksms = VaksmsEmulator(api_keys=keys, sms_delay=None, seed=11, clock=vak_clock)
    with ThreadedServer(smspva.app) as pva_server, ThreadedServer(vaksms.app) as vak_server:
        yield {
            "smspva": Served(smspva, pva_clock, pva_server.url),
            "vaksms": Served(vaksms, vak_clock, vak_server.url),
        }


# -- tests ------------------------------------------------------------------------------------


def replayed(path: Path) -> Any:
    reason = NOT_REPLAYED.get(f"{path.parent.name}/{path.stem}")
    return path if reason is None else pytest.param(path, marks=pytest.mark.skip(reason=reason))


@pytest.mark.parametrize(
    "path", [replayed(p) for p in FIXTURES], ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_emulator_answers_like_the_fixture(path: Path, served: dict[str, Served]) -> None:
    """In the fixture's state, the emulator answers its request with its status and shape."""
    fixture = load(path)
    target = served[fixture["protocol"]]
    target.emulator.reset()
    if isinstance(target.emulator, SmspvaEmulator):
        target.emulator.shapes = shapes_for(fixture)
    request = fixture["request"]
    with httpx.Client(base_url=target.url) as http:
        ctx = Ctx(target.emulator, target.clock, http)
        replacements = SETUPS[fixture["protocol"]][path.stem](ctx)

        def real(text: str) -> str:
            for placeholder, value in replacements.items():
                text = text.replace(placeholder, value)
            return text

        response = http.request(
            request["method"],
            real(request["path"]),
            params={name: real(value) for name, value in request["query"].items()},
            headers=request["headers"],
        )
    expected = fixture["response"]
    assert response.status_code == expected["status"], response.text
    body = response.text if isinstance(expected["body"], str) else response.json()
    kind = fixture["meaning"]["kind"]
    assert_same_shape(expected["body"], body, "$", kind == "catalog", kind in LISTING_KINDS)


def test_every_fixture_has_a_setup_and_every_setup_a_fixture() -> None:
    """The state table and the fixture files name the same exchanges."""
    on_disk = {(p.parent.name, p.stem) for p in FIXTURES}
    in_tests = {(protocol, stem) for protocol, table in SETUPS.items() for stem in table}
    assert on_disk == in_tests


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_is_well_formed(path: Path) -> None:
    """Fields, endpoint names, source citation, and a meaning in the shared vocabulary."""
    fixture = load(path)
    assert list(fixture) == [
        "protocol",
        "endpoint",
        "title",
        "source",
        "request",
        "response",
        "meaning",
    ]
    emulator = SmspvaEmulator if fixture["protocol"] == "smspva" else VaksmsEmulator
    assert fixture["protocol"] == path.parent.name
    assert fixture["endpoint"] in emulator.endpoints
    assert path.stem.startswith(fixture["endpoint"] + "_")
    assert SOURCE.fullmatch(fixture["source"]), fixture["source"]
    request = fixture["request"]
    assert set(request) == {"method", "path", "query", "headers"}
    assert request["method"] in ({"GET", "PUT"} if fixture["protocol"] == "smspva" else {"GET"})

    meaning = fixture["meaning"]
    allowed = MEANING_KEYS[meaning["kind"]]
    assert {"kind"} <= set(meaning) <= allowed
    if meaning["kind"] == "refused":
        assert meaning["refusal"] in {r.value for r in Refusal}
    if meaning["kind"] == "sms":
        assert meaning["state"] in {"waiting", "received"}
        assert ("codes" in meaning) is (meaning["state"] == "received")
    # Every value the meaning states is read off the answer, so it must be in the answer.
    wire = json.dumps(fixture["response"]["body"], ensure_ascii=False)
    for key, value in meaning.items():
        if key not in {"kind", "state", "refusal", *DERIVED_MEANINGS}:
            for text in strings_in(value):
                assert text in wire, f"{key}={text!r} is not in the response"


def test_smspva_bodies_carry_the_http_status() -> None:
    """seeds/000:54, 94: statusCode in the body equals the HTTP status."""
    for path in ROOT.glob("smspva/*.json"):
        response = load(path)["response"]
        assert response["body"]["statusCode"] == response["status"], path.name


def test_fixtures_cover_every_smspva_status() -> None:
    """Each of the twelve status codes of seeds/000:231-244 has a recorded exchange."""
    statuses = {load(path)["response"]["status"] for path in ROOT.glob("smspva/*.json")}
    assert statuses == SMSPVA_STATUSES


def test_fixtures_cover_every_vak_word() -> None:
    """Each error word and setStatus answer of seeds/003 has a recorded exchange."""
    words: set[str] = set()
    for path in ROOT.glob("vaksms/*.json"):
        body = load(path)["response"]["body"]
        if isinstance(body, dict):
            words.update(str(body[k]) for k in ("error", "status") if k in body)
    assert words == VAK_WORDS
