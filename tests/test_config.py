"""Settings: the shipped example, the environment overlay and validation errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from proxy.app import create_app, load_maps
from proxy.config import (
    AdminSettings,
    CatalogSettings,
    ConfigError,
    LoggingSettings,
    MappingSettings,
    MoneySettings,
    ProviderSettings,
    RedisSettings,
    RoutingSettings,
    ServerSettings,
    TenantSettings,
    WebhookSettings,
    hash_key,
    load_settings,
    settings_from_dict,
)
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
        ({"money": {"rates": {"RUB": "abc"}}}, "money.rates.RUB: expected a number, got 'abc'"),
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


# Issue 14, point 1: the configuration was read loosely. Each test below fails on that code.


@pytest.mark.parametrize("word", ["False", "FALSE", "false", "off", "Off", "no", "NO", "0"])
def test_environment_booleans_false(word: str) -> None:
    """bool("False") was True: SMSPROXY_WEBHOOKS__PRIVATE_TARGETS=False turned the SSRF
    protection off."""
    environ = {"SMSPROXY_WEBHOOKS__PRIVATE_TARGETS": word, "SMSPROXY_ROUTING__POLLER": word,
               "SMSPROXY_REDIS__LOCAL_CACHE": word}  # fmt: skip
    settings = load_settings(None, environ=environ)
    assert settings.webhooks.private_targets is False
    assert settings.routing.poller is False and settings.redis.local_cache is False


@pytest.mark.parametrize("word", ["True", "TRUE", "true", "on", "ON", "yes", "Yes", "1"])
def test_environment_booleans_true(word: str) -> None:
    environ = {"SMSPROXY_WEBHOOKS__PRIVATE_TARGETS": word}
    assert load_settings(None, environ=environ).webhooks.private_targets is True


@pytest.mark.parametrize("word", ["maybe", "", "2", "t", "y", "enabled", "[true]"])
def test_environment_boolean_that_is_none_is_an_error(word: str) -> None:
    environ = {"SMSPROXY_WEBHOOKS__PRIVATE_TARGETS": word}
    with pytest.raises(ConfigError, match=r"^webhooks\.private_targets: ") as raised:
        load_settings(None, environ=environ)
    if word == "maybe":
        assert str(raised.value) == (
            "webhooks.private_targets: expected one of 1/0, true/false, yes/no, on/off, "
            "got 'maybe' (from SMSPROXY_WEBHOOKS__PRIVATE_TARGETS)"
        )


@pytest.mark.parametrize("value", ["false", "true", 0, 1, "no"])
def test_file_booleans_are_true_or_false_only(value: object) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_dict({"webhooks": {"private_targets": value}})
    assert str(raised.value) == f"webhooks.private_targets: expected true or false, got {value!r}"
    assert settings_from_dict({"webhooks": {"private_targets": True}}).webhooks.private_targets


def test_unknown_server_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    """`prot = 9000` left the server on 8080."""
    config = tmp_path / "smsproxy.toml"
    config.write_text("[server]\nprot = 9000\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config, environ={})
    assert str(raised.value) == "server.prot: unknown key (did you mean 'port'?)"


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("provders", "providers"), ("markp", "markup"), ("webhook_secrte", "webhook_secret")],
)
def test_unknown_tenant_keys_are_errors(typo: str, meant: str) -> None:
    """`provders` gave the tenant every provider, `markp` markup 0, `webhook_secrte` unsigned
    webhooks."""
    with pytest.raises(ConfigError) as raised:
        settings_from_dict(minimal(**{typo: "x"}))
    assert str(raised.value) == f"tenants[0].{typo}: unknown key (did you mean {meant!r}?)"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"sever": {}}, "sever: unknown key (did you mean 'server'?)"),
        ({"providers": {"pva": {"kind": "smspva", "api_key": "k", "pol_interval": 1}}},
         "providers.pva.pol_interval: unknown key (did you mean 'poll_interval'?)"),
        (minimal(routes=[{"strategy": "cheapest", "servce": "tg"}]),
         "tenants[0].routes[0].servce: unknown key (did you mean 'service'?)"),
        ({"mapping": {"vaksms": {"service": {"ot": "hn"}}}},
         "mapping.vaksms.service: unknown key (did you mean 'services'?)"),
        ({"routing": {"poler": False}}, "routing.poler: unknown key (did you mean 'poller'?)"),
        ({"money": {"rate": {}}}, "money.rate: unknown key (did you mean 'rates'?)"),
        ({"webhooks": {"private_target": True}},
         "webhooks.private_target: unknown key (did you mean 'private_targets'?)"),
        ({"catalog": {"tll": 60}}, "catalog.tll: unknown key (did you mean 'ttl'?)"),
        ({"admin": {"tokn": "x"}}, "admin.tokn: unknown key (did you mean 'token'?)"),
        ({"logging": {"levle": "info"}}, "logging.levle: unknown key (did you mean 'level'?)"),
        ({"redis": {"uri": ""}}, "redis.uri: unknown key (did you mean 'url'?)"),
    ],
)  # fmt: skip
def test_unknown_keys_anywhere_are_errors(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_dict(raw)
    assert str(raised.value) == message


def test_unknown_key_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, environ={"SMSPROXY_SERVER__PROT": "9000"})
    assert str(raised.value) == (
        "server.prot: unknown key (did you mean 'port'?) (from SMSPROXY_SERVER__PROT)"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"server": {"port": "eighty"}}, "server.port: expected an integer, got 'eighty'"),
        ({"server": {"port": "8080"}}, "server.port: expected an integer, got '8080'"),
        ({"server": {"port": True}}, "server.port: expected an integer, got True"),
        ({"providers": {"pva": {"kind": "smspva", "api_key": "k", "poll_interval": "fast"}}},
         "providers.pva.poll_interval: expected a number, got 'fast'"),
        ({"routing": {"deadline": False}}, "routing.deadline: expected a number, got False"),
        ({"redis": {"url": 6379}}, "redis.url: expected a string, got 6379"),
        ({"redis": "redis://x"}, "redis: expected a table, got 'redis://x'"),
        ({"tenants": {"name": "a"}}, "tenants: expected an array, got a table"),
        (minimal(markup="ten"), "tenants[0].markup: expected a number, got 'ten'"),
        (minimal(providers="pva"), "tenants[0].providers: expected an array, got 'pva'"),
        (minimal(strategy="cheapst"),
         "tenants[0].strategy: expected one of priority, cheapest, success_rate, weighted "
         "(did you mean 'cheapest'?), got 'cheapst'"),
        ({"logging": {"format": "jsno"}},
         "logging.format: expected one of json, console (did you mean 'json'?), got 'jsno'"),
        ({"catalog": {"warm": [["tg", "0"]]}},
         "catalog.warm[0][1]: expected an integer, got '0'"),
        ({"providers": {"pva": {"kind": "smspva", "api_key": "k", "order_lifetimes": {"tf": 0}}}},
         "providers.pva.order_lifetimes.tf: input should be greater than 0, got 0"),
        ({"mapping": {"vaksms": {"countries": {"x": "cn"}}}},
         "mapping.vaksms.countries.x: the key 'x': expected a country id (a number)"),
    ],
)  # fmt: skip
def test_type_errors_name_the_key_and_the_value(raw: dict[str, object], message: str) -> None:
    """A wrong type was a traceback (ValueError) naming no key."""
    with pytest.raises(ConfigError) as raised:
        settings_from_dict(raw)
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


def test_type_errors_from_the_environment() -> None:
    environ = {"SMSPROXY_SERVER__PORT": "eighty", "SMSPROXY_PROVIDERS__PVA__KIND": "smspva",
               "SMSPROXY_PROVIDERS__PVA__API_KEY": "k",
               "SMSPROXY_PROVIDERS__PVA__POLL_INTERVAL": "fast"}  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        load_settings(None, environ=environ)
    assert str(raised.value) == (
        "server.port: expected an integer, got 'eighty' (from SMSPROXY_SERVER__PORT); "
        "providers.pva.poll_interval: expected a number, got 'fast' "
        "(from SMSPROXY_PROVIDERS__PVA__POLL_INTERVAL)"
    )


def test_environment_text_is_read_as_the_settings_type() -> None:
    """A numeric api key stays the text given (TOML-parsing it made "1e3" into "1000.0")."""
    environ = {"SMSPROXY_PROVIDERS__PVA__KIND": "smspva", "SMSPROXY_PROVIDERS__PVA__API_KEY": "1e3",
               "SMSPROXY_PROVIDERS__PVA__CONNECT_TIMEOUT": "2", "SMSPROXY_TENANTS__0__NAME": "007",
               "SMSPROXY_TENANTS__0__KEY": '"quoted"', "SMSPROXY_TENANTS__0__MARKUP": "0.25",
               "SMSPROXY_MONEY__RATES": '{ RUB = "0.011" }'}  # fmt: skip
    settings = load_settings(None, environ=environ)
    assert settings.providers["pva"].api_key == "1e3"
    assert settings.providers["pva"].connect_timeout == 2.0
    assert settings.tenants[0].name == "007"
    assert settings.tenants[0].key_sha256 == hash_key("quoted")
    assert settings.tenants[0].markup == Decimal("0.25")
    assert settings.money.rates == {"RUB": Decimal("0.011")}


def test_environment_list_index_must_be_a_number() -> None:
    environ = {
        "SMSPROXY_TENANTS__0__ROUTES": "[]",
        "SMSPROXY_TENANTS__0__ROUTES__X__STRATEGY": "cheapest",
    }
    with pytest.raises(ConfigError, match=r"^SMSPROXY_TENANTS__0__ROUTES__X__STRATEGY: 'x' is not"):
        load_settings(None, environ=environ)


def test_secrets_are_not_repeated_in_errors() -> None:
    raw = {"providers": {"pva": {"kind": "smspva", "api_key": 424242}},
           "tenants": [{"name": "a", "key": 171717}]}  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        settings_from_dict(raw)
    assert "424242" not in str(raised.value) and "171717" not in str(raised.value)
    assert "providers.pva.api_key: expected a string" in str(raised.value)


def test_weights_name_the_tenants_providers() -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_dict(minimal(weights={"pav": 1}))
    assert str(raised.value) == (
        "tenants[0].weights.pav: not one of this tenant's providers (pva) (did you mean 'pva'?)"
    )


def test_defaults_are_unchanged() -> None:
    """Strict reading changed no default (the values before it, written out)."""
    providers = {"p": {"kind": "smspva", "api_key": "k"}, "v": {"kind": "vaksms", "api_key": "k"}}
    settings = settings_from_dict({"providers": providers, "tenants": [{"name": "t", "key": "k"}]})
    assert settings.server == ServerSettings("0.0.0.0", 8080, 65_536, 64)
    assert settings.admin == AdminSettings("127.0.0.1", 0, "")
    assert settings.redis == RedisSettings(
        mode="single", url="", sentinels=(), service_name="mymaster", password="",
        confirm_replicas=1, confirm_timeout=1.0, data_dir=Path("data"), retention_days=30.0,
        key_prefix="smsproxy", local_cache=True,
    )  # fmt: skip
    assert settings.money == MoneySettings("USD", {})
    assert settings.logging == LoggingSettings("json", "info")
    assert settings.catalog == CatalogSettings(300.0, 86400.0, 20, ())
    assert settings.routing == RoutingSettings(30.0, 60.0, 3, 300.0, 30.0, 6, True, 0.5, 60.0)
    assert settings.webhooks == WebhookSettings(False)
    assert settings.mapping == MappingSettings({}, {}, {})
    assert settings.providers["p"] == ProviderSettings(
        "p", "smspva", "k", "https://api.smspva.com", "USD", 5.0, 600.0, 5.0, 15.0, 100, 50.0, 5,
        30.0, 560.0, "https://smspva.com/api/rent.php", {},
    )  # fmt: skip
    assert settings.providers["v"] == ProviderSettings(
        "v", "vaksms", "k", "https://vak-sms.ru", "RUB", 5.0, 1200.0, 5.0, 15.0, 100, 20.0, 5,
        30.0, 1160.0, "", {},
    )  # fmt: skip
    assert settings.tenants[0] == TenantSettings(
        "t", hash_key("k"), ("p", "v"), "USD", Decimal(0), "priority", {}, (), "", ""
    )


def test_missing_rate_stops_the_app_before_it_serves() -> None:
    """A provider currency without a money.rates entry failed inside the server's startup
    (a traceback, exit 3): create_app now refuses the settings."""
    settings = settings_from_dict({"providers": {"vak": {"kind": "vaksms", "api_key": "k"}}})
    with pytest.raises(ConfigError, match=r"money.rates has no rate for \['RUB'\]"):
        create_app(settings)


@pytest.mark.parametrize(
    ("redis", "message"),
    [
        ({"mode": "replicated"}, r"^redis\.mode: expected one of single, sentinel, cluster"),
        ({"mode": "sentinel"}, r"^redis\.sentinels: sentinel mode needs"),
        ({"mode": "sentinel", "sentinels": ["nohost"]}, r"^redis\.sentinels\[0\]: expected"),
        ({"mode": "sentinel", "sentinels": ["a:1"], "url": "redis://x"}, r"^redis\.url: not used"),
        ({"mode": "cluster"}, r"^redis\.url: cluster mode needs"),
        ({"mode": "cluster", "url": "http://x"}, r"^redis\.url: cluster mode takes"),
        ({"confirm_replicas": -1}, r"^redis\.confirm_replicas: 0 or more"),
        ({"confirm_timeout": 0}, r"^redis\.confirm_timeout: "),
    ],
)
def test_redis_topology_settings_are_checked(redis: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_dict({"redis": redis})


def test_sentinels_and_password_from_the_environment() -> None:
    settings = load_settings(None, {
        "SMSPROXY_REDIS__MODE": "sentinel",
        "SMSPROXY_REDIS__SENTINELS": "10.0.0.5:26379,[::1]:26380",
        "SMSPROXY_REDIS__PASSWORD": "s3cret",
    })  # fmt: skip
    assert settings.redis.sentinels == ("10.0.0.5:26379", "[::1]:26380")
    assert "s3cret" not in repr(settings.redis)
    as_array = load_settings(None, {"SMSPROXY_REDIS__MODE": "sentinel",
                                    "SMSPROXY_REDIS__SENTINELS": '["h:1"]'})  # fmt: skip
    assert as_array.redis.sentinels == ("h:1",)


def test_variables_that_name_no_setting_are_left_alone() -> None:
    """Kubernetes service links and the command's own variables are not settings."""
    settings = load_settings(None, {
        "SMSPROXY_SERVICE_HOST": "10.0.0.1", "SMSPROXY_SERVICE_PORT": "8080",
        "SMSPROXY_PORT": "tcp://10.0.0.1:8080", "SMSPROXY_PORT_8080_TCP_ADDR": "10.0.0.1",
        "SMSPROXY_WORKERS": "4", "SMSPROXY_CONFIG": "/etc/smsproxy.toml",
    })  # fmt: skip
    assert settings.server.port == 8080
    with pytest.raises(ConfigError, match="servr"):
        load_settings(None, {"SMSPROXY_SERVR__PORT": "1"})
