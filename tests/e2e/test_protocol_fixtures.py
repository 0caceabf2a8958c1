"""Every recorded SMS-Activate exchange, replayed against the proxy in the state it needs.

Each fixture in protocol_fixtures/smsactivate names a scenario; the scenario drives the proxy
(and the emulators) there, and returns the activation id to put in the request.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES_DIR, SMSPVA_KEY, VAKSMS_KEY, Proxy, Upstream, deliver

Scenario = Callable[[Proxy, Upstream, Upstream], int | None]


def fresh(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    return None


def no_stock(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    smspva.emulator.set_all_stock(0)
    vaksms.emulator.set_all_stock(0)
    return None


def no_money(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    smspva.emulator.set_balance(SMSPVA_KEY, 0)
    vaksms.emulator.set_balance(VAKSMS_KEY, 0)
    return None


def bought(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    activation_id, _ = proxy.buy()
    return activation_id


def code(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    activation_id, phone = proxy.buy()
    deliver(smspva, phone)
    assert proxy.text(action="getStatus", id=activation_id).startswith("STATUS_OK:")
    return activation_id


def retry(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    activation_id = code(proxy, smspva, vaksms)
    assert proxy.text(action="setStatus", id=activation_id, status=3) == "ACCESS_RETRY_GET"
    return activation_id


def cancelled(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    activation_id, _ = proxy.buy()
    assert proxy.text(action="setStatus", id=activation_id, status=8) == "ACCESS_CANCEL"
    return activation_id


def finished(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    activation_id = code(proxy, smspva, vaksms)
    assert proxy.text(action="setStatus", id=activation_id, status=6) == "ACCESS_ACTIVATION"
    return activation_id


def foreign(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    activation_id, _ = proxy.buy(tenant="bob")
    return activation_id


def order_used(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    answer = proxy.call(action="getNumberV2", service="tg", country=0, orderId="order-1").json()
    assert "activationId" in answer
    return None


def no_rent_stock(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    smspva.emulator.rent.set_all_stock(0)
    vaksms.emulator.set_all_stock(0)
    return None


def rented(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    body = proxy.call(action="getRentNumber", service="tg", rent_time=4).json()
    assert body["status"] == "success", body
    return int(body["phone"]["id"])


def rent_with_sms(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    rent_id = rented(proxy, smspva, vaksms)
    assert proxy.call(action="getRentStatus", id=rent_id).json()["message"] == "STATUS_WAIT_CODE"
    order = next(iter(smspva.emulator.rent.orders.values()))
    order.activated_at -= smspva.emulator.rent.activation_delay  # the wake-up has taken its time
    for text in ("Telegram code 11111", "Telegram code 22222"):
        smspva.emulator.deliver_rent_sms(order.order_id, text, "TELEGRAM")
        time.sleep(0.03)  # past the tests' poll interval: the next read asks upstream
    assert proxy.call(action="getRentStatus", id=rent_id).json()["quantity"] == "2"
    return rent_id


def rent_finished(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    rent_id = rented(proxy, smspva, vaksms)
    assert proxy.call(action="setRentStatus", id=rent_id, status=1).json()["status"] == "success"
    return rent_id


def rent_cancelled(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    smspva.emulator.rent.set_all_stock(0)  # a VAK-SMS rent: SMSPVA cancels none with a refund
    rent_id = rented(proxy, smspva, vaksms)
    assert proxy.call(action="setRentStatus", id=rent_id, status=2).json()["status"] == "success"
    return rent_id


def rent_foreign(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> int | None:
    body = proxy.call("bob", action="getRentNumber", service="tg", rent_time=4).json()
    assert body["status"] == "success", body
    return int(body["phone"]["id"])


SCENARIOS: dict[str, Scenario] = {
    f.__name__: f
    for f in (fresh, no_stock, no_money, bought, code, retry, cancelled, finished, foreign,
              order_used, no_rent_stock, rented, rent_with_sms, rent_finished, rent_cancelled,
              rent_foreign)
}  # fmt: skip

FIXTURES = sorted((FIXTURES_DIR / "smsactivate").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def same_shape(
    expected: Any, actual: Any, dynamic: frozenset[str] = frozenset(), where: str = "$"
) -> list[str]:
    """Differences in keys and JSON types, recursively (values may differ).

    At the paths in `dynamic` (`*` standing for any key) an object is a map whose keys are data
    (service codes, country ids): each of its values must have the shape of the example's first.
    """
    if json_type(expected) != json_type(actual):
        return [f"{where}: {json_type(expected)} expected, got {json_type(actual)} {actual!r}"]
    if isinstance(expected, dict) and where in dynamic:
        if not expected:
            return []
        example = next(iter(expected.values()))
        return [
            problem
            for value in actual.values()
            for problem in same_shape(example, value, dynamic, where + ".*")
        ]
    if isinstance(expected, dict):
        problems = []
        if set(expected) != set(actual):
            problems.append(f"{where}: keys differ: {sorted(set(expected) ^ set(actual))}")
        for key in set(expected) & set(actual):
            problems += same_shape(expected[key], actual[key], dynamic, f"{where}.{key}")
        return problems
    if isinstance(expected, list) and expected and actual:
        return same_shape(expected[0], actual[0], dynamic, where)
    return []


def test_every_fixture_has_a_scenario() -> None:
    """Completeness: no fixture names a scenario that does not exist."""
    assert FIXTURES
    unknown = {
        p.name: load(p)["scenario"] for p in FIXTURES if load(p)["scenario"] not in SCENARIOS
    }
    assert not unknown


WORD_KEYS = ("status", "message", "error", "title")


def same_words(expected: Any, actual: Any) -> list[str]:
    """The protocol words of a JSON answer (`status`, `message`, ... at the top) must be the
    recorded ones: the shape alone would take one error for another."""
    if not isinstance(expected, dict) or not isinstance(actual, dict):
        return []
    return [
        f"$.{key}: {expected[key]!r} expected, got {actual.get(key)!r}"
        for key in WORD_KEYS
        if isinstance(expected.get(key), str) and expected[key] != actual.get(key)
    ]


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture(path: Path, proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    fixture = load(path)
    activation_id = SCENARIOS[fixture["scenario"]](proxy, smspva, vaksms)
    query = {
        k: v.replace("{id}", str(activation_id)) if isinstance(v, str) else v
        for k, v in fixture["request"]["query"].items()
    }
    response = proxy.client.get(proxy.url + fixture["request"]["path"], params=query)
    expected = fixture["response"]
    assert response.status_code == expected["status"]
    assert response.headers["content-type"].startswith(expected["content_type"])
    if expected["content_type"] == "application/json":
        body = response.json()
        if not expected["body"]:
            assert body == expected["body"]  # an empty array or object: the value is the shape
            return
        assert body, "an empty answer proves nothing about its shape"
        dynamic = frozenset(expected.get("dynamic_keys", []))
        assert same_shape(expected["body"], body, dynamic) == []
        assert same_words(expected["body"], body) == []
    elif "pattern" in expected:
        assert re.fullmatch(expected["pattern"], response.text), response.text
    else:
        assert response.text == expected["body"]


def test_every_rent_error_word_is_recorded() -> None:
    """Completeness: each rent error word has a fixture; SERVER_ERROR needs an upstream that
    sold and went silent, which tests/e2e/test_reconciler.py drives instead."""
    from proxy.rent.model import RentError

    bodies = [load(p)["response"].get("body") for p in FIXTURES]
    recorded = {b.get("message") for b in bodies if isinstance(b, dict)}
    assert {e.value for e in RentError} - recorded == {"SERVER_ERROR"}
