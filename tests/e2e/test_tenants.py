"""Tenants: keys, ownership of activations, and keys never written to logs or answers."""

from __future__ import annotations

from structlog.testing import capture_logs

from tests.conftest import SMSPVA_KEY, TENANT_KEYS, VAKSMS_KEY, Proxy, Upstream, deliver


def test_unknown_and_missing_keys(proxy: Proxy) -> None:
    assert proxy.text("not-a-key", action="getBalance") == "BAD_KEY"
    response = proxy.client.get(proxy.endpoint, params={"action": "getBalance"})
    assert response.text == "BAD_KEY"


def test_foreign_activation_is_unknown(proxy: Proxy, smspva: Upstream) -> None:
    """bob sees alice's id exactly like an id that never existed, for every action."""
    activation_id, phone = proxy.buy("alice")
    for action, extra in (("getStatus", {}), ("getStatusV2", {}), ("setStatus", {"status": 8})):
        assert proxy.text("bob", action=action, id=activation_id, **extra) == "NO_ACTIVATION"
        assert proxy.text("bob", action=action, id=987654321, **extra) == "NO_ACTIVATION"
    assert proxy.call("bob", action="getActiveActivations").json()["error"] == "NO_ACTIVATIONS"
    # alice's activation is untouched by bob's attempts
    deliver(smspva, phone, "7777")
    assert proxy.text("alice", action="getStatus", id=activation_id) == "STATUS_OK:7777"


def test_active_lists_are_per_tenant(proxy: Proxy) -> None:
    alice_id, _ = proxy.buy("alice")
    bob_id, _ = proxy.buy("bob")
    alice = proxy.call("alice", action="getActiveActivations").json()["activeActivations"]
    bob = proxy.call("bob", action="getActiveActivations").json()["activeActivations"]
    assert [a["activationId"] for a in alice] == [str(alice_id)]
    assert [a["activationId"] for a in bob] == [str(bob_id)]


def test_ids_are_unique_across_providers(proxy: Proxy) -> None:
    ids = [proxy.buy(tenant)[0] for tenant in ("pva", "vak", "pva", "vak")]
    assert len(set(ids)) == 4
    assert ids == sorted(ids)


def test_balance_sums_providers_in_client_currency(proxy: Proxy) -> None:
    """SMSPVA 100 USD + VAK-SMS 10000 RUB at 0.01 = 200.00 USD; single-provider tenants differ."""
    assert proxy.text("alice", action="getBalance") == "ACCESS_BALANCE:200.00"
    assert proxy.text("pva", action="getBalance") == "ACCESS_BALANCE:100.00"
    assert proxy.text("vak", action="getBalance") == "ACCESS_BALANCE:100.00"


def test_no_key_in_logs_or_answers(proxy: Proxy, smspva: Upstream) -> None:
    """Neither client nor upstream api keys appear in any log line or answer."""
    secrets = [*TENANT_KEYS.values(), SMSPVA_KEY, VAKSMS_KEY]
    with capture_logs() as logs:
        answers = [proxy.text("alice", action="getBalance")]
        activation_id, phone = proxy.buy("alice")
        deliver(smspva, phone)
        answers.append(proxy.text("alice", action="getStatus", id=activation_id))
        answers.append(proxy.call("alice", action="getActiveActivations").text)
        answers.append(proxy.text("wrong-key", action="getBalance"))
    assert any(entry["event"] == "request" for entry in logs)
    assert any(entry["event"] == "upstream_call" for entry in logs)
    dump = repr(logs) + "".join(answers)
    assert not [s for s in secrets if s in dump]


def test_canonical_request_line(proxy: Proxy) -> None:
    with capture_logs() as logs:
        activation_id, _ = proxy.buy("alice")
    (line,) = [entry for entry in logs if entry["event"] == "request"]
    assert line["action"] == "getNumber"
    assert line["tenant"] == "alice"
    assert line["activation_id"] == activation_id
    assert line["provider"] == "smspva"
    assert line["answer"] == "ACCESS_NUMBER"
    assert line["duration_ms"] >= 0
    assert line["request_id"]
