"""Settings: the shipped example, the environment overlay and validation errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from proxy.app import load_maps
from proxy.config import ConfigError, hash_key, load_settings, settings_from_dict
from proxy.money import Money
from proxy.tenants import Tenants

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "smsproxy.example.toml"


def minimal(**tenant: object) -> dict[str, object]:
    return {
        "providers": {"pva": {"kind": "smspva", "api_key": "k"}},
        "tenants": [{"name": "a", "key": "secret", **tenant}],
    }


def test_example_config_loads() -> None:
    settings = load_settings(EXAMPLE, environ={})
    assert set(settings.providers) == {"smspva", "vaksms"}
    assert settings.providers["smspva"].poll_interval == 5
    assert settings.money.rates == {"RUB": Decimal("0.011")}
    assert Tenants(settings.tenants).authenticate("secret").name == "bots"  # type: ignore[union-attr]
    codes, operators = load_maps(settings)  # the example's [mapping] pairs are valid
    assert codes.provider_service("smspva", "ot") == "opt19"
    assert operators.provider_operator("vaksms", 1, "life") == "lifecell"


def test_environment_overrides_and_adds() -> None:
    environ = {
        "SMSPROXY_PROVIDERS__SMSPVA__API_KEY": "from-env",
        "SMSPROXY_PROVIDERS__SMSPVA__POLL_INTERVAL": "4.5",
        "SMSPROXY_REDIS__URL": "redis://example:6379/1",
        "SMSPROXY_TENANTS__1__KEY": "legacy-secret",
        "SMSPROXY_SERVER__PORT": "9000",
        "OTHER_VARIABLE": "ignored",
    }
    settings = load_settings(EXAMPLE, environ=environ)
    assert settings.providers["smspva"].api_key == "from-env"
    assert settings.providers["smspva"].poll_interval == 4.5
    assert settings.redis.url == "redis://example:6379/1"
    assert settings.server.port == 9000
    tenant = Tenants(settings.tenants).authenticate("legacy-secret")
    assert tenant is not None and tenant.name == "legacy-app"


def test_environment_alone_is_a_config() -> None:
    environ = {
        "SMSPROXY_PROVIDERS__VAK__KIND": "vaksms",
        "SMSPROXY_PROVIDERS__VAK__API_KEY": "k",
        "SMSPROXY_TENANTS__0__NAME": "solo",
        "SMSPROXY_TENANTS__0__KEY": "s",
        "SMSPROXY_TENANTS__0__PROVIDERS": '["vak"]',
    }
    settings = load_settings(None, environ=environ)
    assert settings.tenants[0].providers == ("vak",)
    assert settings.providers["vak"].currency == "RUB"


def test_keys_are_held_hashed() -> None:
    settings = settings_from_dict(minimal())
    assert settings.tenants[0].key_sha256 == hash_key("secret")
    assert b"secret" not in repr(settings).encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"providers": {"x": {"kind": "other", "api_key": "k"}}}, "kind"),
        ({"providers": {"pva": {"kind": "smspva"}}}, "api_key"),
        (minimal(providers=["nope"]), "unknown providers"),
        ({"providers": {}, "tenants": [{"name": "a"}]}, "key"),
        ({**minimal(), "tenants": [{"name": "a", "key": "x"}, {"name": "a", "key": "y"}]},
         "unique"),
        ({**minimal(), "tenants": [{"name": "a", "key": "x"}, {"name": "b", "key": "x"}]},
         "share"),
        ({"money": {"rates": {"RUB": "abc"}}}, "not a number"),
    ],
)  # fmt: skip
def test_invalid_configs_are_refused(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_dict(raw)


def test_catalog_and_mapping_sections() -> None:
    raw = {
        **minimal(currency="rub", markup="0.15"),
        "catalog": {"ttl": 60, "warm": [["tg", 0], ["go", 16]]},
        "mapping": {
            "vaksms": {
                "services": {"ot": "hn", "tg": ""},
                "countries": {"3": "cn"},
                "operators": {"1": {"utel": "lycamobile"}},
            }
        },
    }
    settings = settings_from_dict(raw)
    assert settings.tenants[0].currency == "RUB"
    assert settings.tenants[0].markup == Decimal("0.15")
    assert settings.catalog.ttl == 60
    assert settings.catalog.warm == (("tg", 0), ("go", 16))
    assert settings.mapping.services["vaksms"] == {"ot": "hn", "tg": None}
    assert settings.mapping.countries["vaksms"] == {3: "cn"}
    assert settings.mapping.operators["vaksms"] == {1: {"utel": "lycamobile"}}


@pytest.mark.parametrize(
    "mapping",
    [{"other": {}}, {"vaksms": {"countries": {"x": "cn"}}}],
)
def test_bad_mapping_sections(mapping: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        settings_from_dict({"mapping": mapping})


def test_missing_rate_is_refused_at_startup() -> None:
    with pytest.raises(ConfigError, match="RUB"):
        Money("USD", {}).check(["USD", "RUB"])


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(bad, environ={})


def test_deploy_files_hold_valid_configs(tmp_path: Path) -> None:
    """The Kubernetes ConfigMap's TOML loads (secrets come from the Secret's environment)."""
    import textwrap

    manifest = (EXAMPLE.parent / "kubernetes" / "smsproxy.yaml").read_text()
    block = manifest.split("smsproxy.toml: |\n", 1)[1].split("\n---", 1)[0]
    config = tmp_path / "smsproxy.toml"
    config.write_text(textwrap.dedent(block))
    settings = load_settings(config, environ={"SMSPROXY_PROVIDERS__SMSPVA__API_KEY": "k"})
    assert settings.redis.url == "redis://redis:6379/0"
    assert settings.providers["smspva"].api_key == "k"
    assert Tenants(settings.tenants).authenticate("change-me") is not None
    unit = (EXAMPLE.parent / "smsproxy.service").read_text()
    assert "ExecStart=/opt/smsproxy/venv/bin/smsproxy serve" in unit
    dockerfile = (EXAMPLE.parent / "Dockerfile").read_text()
    assert 'CMD ["smsproxy", "serve"' in dockerfile


def test_webhook_settings() -> None:
    hooked = minimal(webhook_url="https://hooks.example/x", webhook_secret="hunter2")
    tenant = settings_from_dict(hooked).tenants[0]
    assert tenant.webhook_url == "https://hooks.example/x" and tenant.webhook_secret == "hunter2"
    assert "hunter2" not in repr(tenant)
    with pytest.raises(ConfigError, match="webhook_url"):
        settings_from_dict(minimal(webhook_url="ftp://x"))
