"""The endpoint's HTTP surface: the ways real clients send parameters, and what comes back."""

from __future__ import annotations

import httpx

from proxy.app import create_app
from proxy.config import settings_from_dict
from proxy.serving import ThreadedServer, free_port
from tests.conftest import TENANT_KEYS, Proxy, Upstream, proxy_config

KEY = TENANT_KEYS["alice"]


def test_get(proxy: Proxy) -> None:
    response = proxy.client.get(proxy.endpoint, params={"api_key": KEY, "action": "getBalance"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "ACCESS_BALANCE:200.00"  # no trailing newline, no spaces


def test_post_form(proxy: Proxy) -> None:
    response = proxy.client.post(proxy.endpoint, data={"api_key": KEY, "action": "getBalance"})
    assert response.text == "ACCESS_BALANCE:200.00"


def test_post_with_query_and_empty_body(proxy: Proxy) -> None:
    params = {"api_key": KEY, "action": "getBalance"}
    assert proxy.client.post(proxy.endpoint, params=params).text == "ACCESS_BALANCE:200.00"


def test_post_with_query_and_foreign_body(proxy: Proxy) -> None:
    params = {"api_key": KEY, "action": "getBalance"}
    response = proxy.client.post(
        proxy.endpoint, params=params, content=b"\x00garbage", headers={"content-type": "text/xml"}
    )
    assert response.text == "ACCESS_BALANCE:200.00"


def test_post_json_body(proxy: Proxy) -> None:
    response = proxy.client.post(proxy.endpoint, json={"api_key": KEY, "action": "getBalance"})
    assert response.text == "ACCESS_BALANCE:200.00"


def test_form_overrides_query(proxy: Proxy) -> None:
    response = proxy.client.post(
        proxy.endpoint, params={"api_key": "wrong", "action": "x"},
        data={"api_key": KEY, "action": "getBalance"},
    )  # fmt: skip
    assert response.text == "ACCESS_BALANCE:200.00"


def test_extra_parameters_are_ignored(proxy: Proxy) -> None:
    answer = proxy.text(
        "alice", action="getNumber", service="tg", country="0", ref="abc", softId="77",
        json="1", freePrice="true", useCashBack="false", forward="0", activationType="0",
    )  # fmt: skip
    assert answer.startswith("ACCESS_NUMBER:")


def test_forwarding_cannot_be_served(proxy: Proxy) -> None:
    answer = proxy.text("alice", action="getNumber", service="tg", forward="True")
    assert answer == "NO_NUMBERS"


def test_errors_are_http_200_bare_words(proxy: Proxy) -> None:
    for params, word in (
        ({"api_key": "nope", "action": "getBalance"}, "BAD_KEY"),
        ({"api_key": KEY, "action": "nope"}, "BAD_ACTION"),
        ({"api_key": KEY, "action": "getStatus", "id": "0"}, "NO_ACTIVATION"),
    ):
        response = proxy.client.get(proxy.endpoint, params=params)
        assert (response.status_code, response.text) == (200, word)


def test_json_answers_are_json(proxy: Proxy) -> None:
    response = proxy.client.get(
        proxy.endpoint, params={"api_key": KEY, "action": "getNumberV2", "service": "tg"}
    )
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["activationId"], int)


def test_redis_down_is_error_sql_not_a_500(smspva: Upstream, vaksms: Upstream) -> None:
    """A store failure answers the protocol's ERROR_SQL with HTTP 200, never an HTML 500."""
    config = proxy_config(f"redis://127.0.0.1:{free_port()}/0", smspva.url, vaksms.url)
    with ThreadedServer(create_app(settings_from_dict(config))) as server:
        for action in ("getStatus", "getNumber", "setStatus", "getActiveActivations"):
            params = {"api_key": KEY, "action": action, "id": "1", "status": "8", "service": "tg"}
            response = httpx.get(server.url + "/stubs/handler_api.php", params=params, timeout=10)
            assert (response.status_code, response.text) == (200, "ERROR_SQL")
