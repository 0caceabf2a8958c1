"""Typed settings, read once at startup from one TOML file overlaid with SMSPROXY_* variables.

Every setting can come from the environment: `SMSPROXY_<SECTION>__<KEY>` sets `[section] key`,
path segments separated by a double underscore, list items by their index
(`SMSPROXY_PROVIDERS__SMSPVA__API_KEY=...`, `SMSPROXY_TENANTS__0__KEY=...`). Values are read as
TOML literals when they parse as one (numbers, booleans, arrays), else as plain strings.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

ENV_PREFIX = "SMSPROXY_"
PROVIDER_KINDS = ("smspva", "vaksms")
DEFAULT_BASE_URLS = {"smspva": "https://api.smspva.com", "vaksms": "https://vak-sms.ru"}
# seeds/000:12, every URL in seeds/001 and smspva-sdk's _contracts.json: the rental API is on the
# site's host, not on the activation API's.
DEFAULT_SMSPVA_RENT_URL = "https://smspva.com/api/rent.php"
DEFAULT_CURRENCIES = {"smspva": "USD", "vaksms": "RUB"}
# seeds/000:17 "4-5 seconds between requests"; VAK documents none, so the same by default.
DEFAULT_POLL_INTERVALS = {"smspva": 5.0, "vaksms": 5.0}
# seeds/000:59 orderExpireIn 600; VAK's window is undocumented: 20 minutes by default.
DEFAULT_ORDER_LIFETIMES = {"smspva": 600.0, "vaksms": 1200.0}
# seeds/000:16 "up to 50 connections per second"; VAK documents no limit: a gentler default.
DEFAULT_RATE_LIMITS = {"smspva": 50.0, "vaksms": 20.0}
# seeds/000:18, 382: block before 580 s (we act at 560 s); VAK's window less 40 s likewise.
DEFAULT_REFUND_AFTER = {"smspva": 560.0, "vaksms": 1160.0}


class ConfigError(ValueError):
    """The configuration is incomplete or contradictory; the message says where."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "0.0.0.0"
    port: int = 8080
    # The largest request body read (a form POST); larger ones are answered BAD_ACTION unread.
    max_body_bytes: int = 65_536
    # The most query/form parameters one request may carry (the widest action takes about 15).
    max_params: int = 64


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """The operator endpoints (/health/upstreams, /metrics): on their own address when `port`
    is set, and/or behind `token` (an `Authorization: Bearer` header)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: served on the client port, guarded by `token` when one is set
    token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """`url` empty: smsproxy starts its own redis-server with its data in `data_dir`."""

    url: str = ""
    data_dir: Path = Path("data")
    retention_days: float = 30.0
    key_prefix: str = "smsproxy"
    local_cache: bool = True  # keep records in memory, invalidated by pub/sub (hot path)


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    name: str
    kind: str
    api_key: str
    base_url: str
    currency: str
    poll_interval: float
    order_lifetime: float
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    # SMSPVA's v2 API prices a pair but reports no stock: a priced pair counts as this many.
    assumed_stock: int = 100
    rate_limit: float = 50.0  # requests per second for this account, across replicas (000:16)
    breaker_threshold: int = 5  # consecutive failures that open the circuit
    breaker_cooldown: float = 30.0  # seconds open before one probe request is let through
    refund_after: float = 560.0  # no SMS by then: cancel/block upstream for a refund (000:382)
    # SMSPVA's rental API lives at its own URL (seeds/000:12); see rent_url_for
    rent_url: str = ""
    # VAK-SMS order lifetimes by VAK service code, over the shipped table (vaksms_lifetimes.py)
    order_lifetimes: Mapping[str, float] = field(default_factory=dict)


STRATEGIES = ("priority", "cheapest", "success_rate", "weighted")


@dataclass(frozen=True, slots=True)
class RouteRule:
    """A strategy for one service and/or country, overriding the tenant's default."""

    strategy: str
    service: str | None = None
    country: int | None = None


@dataclass(frozen=True, slots=True)
class TenantSettings:
    """A client api key (kept only as its SHA-256) and the providers it may use, in order."""

    name: str
    key_sha256: bytes
    providers: tuple[str, ...]
    currency: str = "USD"
    markup: Decimal = Decimal(0)  # 0.1 shows and books prices 10 % above the upstream's
    strategy: str = "priority"
    weights: Mapping[str, float] = field(default_factory=dict)
    routes: tuple[RouteRule, ...] = ()
    webhook_url: str = ""  # a POST per SMS on its activations (seeds/002:251-268)
    # signs each webhook POST (HMAC-SHA256 of the body); kept out of reprs and logs
    webhook_secret: str = field(default="", repr=False)

    def strategy_for(self, service: str, country: int) -> str:
        """The most specific rule that matches wins; then the tenant's default."""
        best, best_score = self.strategy, -1
        for rule in self.routes:
            if rule.service not in (None, service) or rule.country not in (None, country):
                continue
            score = (rule.service is not None) * 2 + (rule.country is not None)
            if score > best_score:
                best, best_score = rule.strategy, score
        return best


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where webhook POSTs may go."""

    # A client's getRentNumber `url` may name a private, loopback or link-local address (this
    # network's own hosts) only when this is true; tenants' configured URLs always may.
    private_targets: bool = False


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """Failover bounds and the background work shared by the replicas."""

    deadline: float = 30.0  # one getNumber tries candidates for at most this long
    no_numbers_cooldown: float = 60.0  # a provider+service+country that keeps saying no rests
    no_numbers_threshold: int = 3  # ... after this many "no numbers" in a cooldown period
    no_balance_cooldown: float = 300.0  # a provider without money rests until balance is seen
    balance_recheck: float = 30.0  # the poller asks a provider resting for money this often
    success_window_hours: int = 6  # success_rate strategy: codes / numbers over these hours
    poller: bool = True  # refresh active activations in the background (one replica at a time)
    cancel_rate_warning: float = 0.5  # warn when this share of an account's numbers is cancelled
    cancel_rate_every: float = 60.0  # seconds between the poller's cancel-rate checks


@dataclass(frozen=True, slots=True)
class CatalogSettings:
    """Upstream catalogs (counts, prices) cached in Redis and shared by every replica."""

    ttl: float = 300.0  # fresh for this long; one upstream request per entry per ttl at most
    stale_for: float = 86400.0  # served, marked stale in logs, while an upstream is down
    max_fetches: int = 20  # per client request, upstream requests for entries not yet cached
    warm: tuple[tuple[str, int], ...] = ()  # (service, country) pairs refreshed in background


@dataclass(frozen=True, slots=True)
class MappingSettings:
    """Operators' own code pairs: kind -> {SMS-Activate code: provider code or "" to remove}."""

    services: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    countries: Mapping[str, Mapping[int, str | None]] = field(default_factory=dict)
    # kind -> country id -> {SMS-Activate operator: provider operator or "" to remove}
    operators: Mapping[str, Mapping[int, Mapping[str, str | None]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MoneySettings:
    """`rates[X]` is the value of one unit of X in `currency`, the clients' currency."""

    currency: str = "USD"
    rates: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    format: str = "json"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings
    redis: RedisSettings
    money: MoneySettings
    logging: LoggingSettings
    providers: Mapping[str, ProviderSettings]
    tenants: tuple[TenantSettings, ...]
    catalog: CatalogSettings = CatalogSettings()
    mapping: MappingSettings = MappingSettings()
    routing: RoutingSettings = RoutingSettings()
    webhooks: WebhookSettings = WebhookSettings()
    admin: AdminSettings = AdminSettings()


def hash_key(key: str) -> bytes:
    """The form in which client keys are held and compared."""
    return hashlib.sha256(key.encode()).digest()


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if any), apply the environment overlay and validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
    apply_environment(raw, os.environ if environ is None else environ)
    return settings_from_dict(raw)


def apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Overlay SMSPROXY_A__B__C=value onto raw[a][b][c]."""
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if path:
            _set_path(raw, path, _parse_env_value(value))


def _parse_env_value(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _set_path(node: Any, path: list[str], value: Any) -> None:
    head, rest = path[0], path[1:]
    if isinstance(node, list):
        index = int(head)
        while len(node) <= index:
            node.append({})
        if rest:
            _set_path(node[index], rest, value)
        else:
            node[index] = value
        return
    if not rest:
        node[head] = value
        return
    if head not in node or not isinstance(node[head], dict | list):
        node[head] = [] if rest[0].isdigit() else {}
    _set_path(node[head], rest, value)


def settings_from_dict(raw: Mapping[str, Any]) -> Settings:
    """Validate a parsed config into typed settings."""
    server = _section(raw, "server")
    admin = _section(raw, "admin")
    redis = _section(raw, "redis")
    money = _section(raw, "money")
    logging = _section(raw, "logging")
    providers = {
        name: _provider(name, _as_mapping(body, f"providers.{name}"))
        for name, body in _section(raw, "providers").items()
    }
    currency = str(money.get("currency", "USD")).upper()
    tenants = tuple(
        _tenant(i, _as_mapping(t, f"tenants[{i}]"), providers, currency)
        for i, t in enumerate(_as_list(raw.get("tenants", []), "tenants"))
    )
    names = [t.name for t in tenants]
    if len(set(names)) != len(names):
        raise ConfigError("tenant names must be unique")
    keys = [t.key_sha256 for t in tenants]
    if len(set(keys)) != len(keys):
        raise ConfigError("two tenants share one api key")
    return Settings(
        server=ServerSettings(
            host=str(server.get("host", "0.0.0.0")),
            port=int(server.get("port", 8080)),
            max_body_bytes=int(server.get("max_body_bytes", 65_536)),
            max_params=int(server.get("max_params", 64)),
        ),
        admin=AdminSettings(
            host=str(admin.get("host", "127.0.0.1")),
            port=int(admin.get("port", 0)),
            token=str(admin.get("token", "")),
        ),
        redis=RedisSettings(
            url=str(redis.get("url", "")),
            data_dir=Path(str(redis.get("data_dir", "data"))),
            retention_days=float(redis.get("retention_days", 30)),
            key_prefix=str(redis.get("key_prefix", "smsproxy")),
            local_cache=bool(redis.get("local_cache", True)),
        ),
        money=MoneySettings(
            currency=str(money.get("currency", "USD")).upper(),
            rates={
                str(k).upper(): _decimal(v, f"money.rates.{k}")
                for k, v in _section(money, "rates").items()
            },
        ),
        logging=LoggingSettings(
            format=str(logging.get("format", "json")), level=str(logging.get("level", "info"))
        ),
        providers=providers,
        tenants=tenants,
        catalog=_catalog(_section(raw, "catalog")),
        routing=_routing(_section(raw, "routing")),
        mapping=_mapping(_section(raw, "mapping")),
        webhooks=WebhookSettings(
            private_targets=bool(_section(raw, "webhooks").get("private_targets", False))
        ),
    )


def _routing(body: Mapping[str, Any]) -> RoutingSettings:
    default = RoutingSettings()
    return RoutingSettings(
        deadline=float(body.get("deadline", default.deadline)),
        no_numbers_cooldown=float(body.get("no_numbers_cooldown", default.no_numbers_cooldown)),
        no_numbers_threshold=int(body.get("no_numbers_threshold", default.no_numbers_threshold)),
        no_balance_cooldown=float(body.get("no_balance_cooldown", default.no_balance_cooldown)),
        balance_recheck=float(body.get("balance_recheck", default.balance_recheck)),
        success_window_hours=int(body.get("success_window_hours", default.success_window_hours)),
        poller=bool(body.get("poller", default.poller)),
        cancel_rate_warning=float(body.get("cancel_rate_warning", default.cancel_rate_warning)),
        cancel_rate_every=float(body.get("cancel_rate_every", default.cancel_rate_every)),
    )


def _catalog(body: Mapping[str, Any]) -> CatalogSettings:
    warm = []
    for i, pair in enumerate(_as_list(body.get("warm", []), "catalog.warm")):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ConfigError(f"catalog.warm[{i}] must be [service, country id]")
        warm.append((str(pair[0]), int(pair[1])))
    return CatalogSettings(
        ttl=float(body.get("ttl", 300)),
        stale_for=float(body.get("stale_for", 86400)),
        max_fetches=int(body.get("max_fetches", 20)),
        warm=tuple(warm),
    )


def _mapping(body: Mapping[str, Any]) -> MappingSettings:
    """`[mapping.<kind>.services]` and `[mapping.<kind>.countries]`; "" removes a pair."""
    services: dict[str, dict[str, str | None]] = {}
    countries: dict[str, dict[int, str | None]] = {}
    operators: dict[str, dict[int, dict[str, str | None]]] = {}
    for kind, tables in body.items():
        if kind not in PROVIDER_KINDS:
            raise ConfigError(f"mapping.{kind}: kind must be one of {PROVIDER_KINDS}")
        tables = _as_mapping(tables, f"mapping.{kind}")
        services[kind] = {str(k): (str(v) or None) for k, v in _section(tables, "services").items()}
        try:
            countries[kind] = {
                int(k): (str(v) or None) for k, v in _section(tables, "countries").items()
            }
            operators[kind] = {
                int(country): {
                    str(k): (str(v) or None)
                    for k, v in _as_mapping(names, f"mapping.{kind}.operators.{country}").items()
                }
                for country, names in _section(tables, "operators").items()
            }
        except ValueError as exc:
            raise ConfigError(f"mapping.{kind}: country keys must be country ids") from exc
    return MappingSettings(services=services, countries=countries, operators=operators)


def _provider(name: str, body: Mapping[str, Any]) -> ProviderSettings:
    kind = str(body.get("kind", name))
    if kind not in PROVIDER_KINDS:
        raise ConfigError(f"providers.{name}.kind must be one of {PROVIDER_KINDS}, not {kind!r}")
    api_key = body.get("api_key")
    if not api_key:
        raise ConfigError(f"providers.{name}.api_key is missing (or set it in the environment)")
    return ProviderSettings(
        name=name,
        kind=kind,
        api_key=str(api_key),
        base_url=str(body.get("base_url", DEFAULT_BASE_URLS[kind])).rstrip("/"),
        currency=str(body.get("currency", DEFAULT_CURRENCIES[kind])).upper(),
        poll_interval=float(body.get("poll_interval", DEFAULT_POLL_INTERVALS[kind])),
        order_lifetime=float(body.get("order_lifetime", DEFAULT_ORDER_LIFETIMES[kind])),
        connect_timeout=float(body.get("connect_timeout", 5.0)),
        read_timeout=float(body.get("read_timeout", 15.0)),
        assumed_stock=int(body.get("assumed_stock", 100)),
        rate_limit=float(body.get("rate_limit", DEFAULT_RATE_LIMITS[kind])),
        breaker_threshold=int(body.get("breaker_threshold", 5)),
        breaker_cooldown=float(body.get("breaker_cooldown", 30.0)),
        refund_after=float(body.get("refund_after", DEFAULT_REFUND_AFTER[kind])),
        rent_url=rent_url_for(kind, body),
        order_lifetimes=_lifetimes(name, body.get("order_lifetimes", {})),
    )


def rent_url_for(kind: str, body: Mapping[str, Any]) -> str:
    """SMSPVA's rental URL: as configured; else beside a configured base_url (an emulator or a
    gateway serves both APIs on one host); else smspva.com's (seeds/000:12)."""
    if kind != "smspva":
        return ""
    if body.get("rent_url"):
        return str(body["rent_url"]).rstrip("/")
    base = str(body.get("base_url", "")).rstrip("/")
    if base and base != DEFAULT_BASE_URLS["smspva"]:
        return f"{base}/api/rent.php"
    return DEFAULT_SMSPVA_RENT_URL


def _lifetimes(name: str, raw: Any) -> dict[str, float]:
    where = f"providers.{name}.order_lifetimes"
    found = {}
    for service, seconds in _as_mapping(raw, where).items():
        try:
            found[str(service)] = float(seconds)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}.{service} must be seconds, not {seconds!r}") from exc
        if found[str(service)] <= 0:
            raise ConfigError(f"{where}.{service} must be positive")
    return found


def _tenant(
    index: int,
    body: Mapping[str, Any],
    providers: Mapping[str, ProviderSettings],
    default_currency: str,
) -> TenantSettings:
    where = f"tenants[{index}]"
    name = body.get("name")
    if not name:
        raise ConfigError(f"{where}.name is missing")
    if body.get("key"):
        digest = hash_key(str(body["key"]))
    elif body.get("key_sha256"):
        try:
            digest = bytes.fromhex(str(body["key_sha256"]))
        except ValueError as exc:
            raise ConfigError(f"{where}.key_sha256 is not hex") from exc
    else:
        raise ConfigError(f"{where} needs key or key_sha256")
    allowed = tuple(str(p) for p in _as_list(body.get("providers", list(providers)), where))
    unknown = [p for p in allowed if p not in providers]
    if unknown:
        raise ConfigError(f"{where}.providers names unknown providers: {unknown}")
    strategy = str(body.get("strategy", "priority"))
    routes = []
    for i, rule in enumerate(_as_list(body.get("routes", []), f"{where}.routes")):
        rule = _as_mapping(rule, f"{where}.routes[{i}]")
        country = rule.get("country")
        routes.append(
            RouteRule(
                strategy=str(rule.get("strategy", "")),
                service=str(rule["service"]) if "service" in rule else None,
                country=int(country) if country is not None else None,
            )
        )
    for name_, chosen in [("strategy", strategy), *((f"routes[{i}]", r.strategy) for i, r in
                                                   enumerate(routes))]:  # fmt: skip
        if chosen not in STRATEGIES:
            raise ConfigError(f"{where}.{name_}: strategy must be one of {STRATEGIES}")
    weights = {str(k): float(v) for k, v in _section(body, "weights").items()}
    webhook_url = str(body.get("webhook_url", ""))
    if webhook_url and not webhook_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.webhook_url must be an http(s) URL")
    return TenantSettings(
        name=str(name),
        key_sha256=digest,
        providers=allowed,
        currency=str(body.get("currency", default_currency)).upper(),
        markup=_decimal(body.get("markup", 0), f"{where}.markup"),
        strategy=strategy,
        weights=weights,
        routes=tuple(routes),
        webhook_url=webhook_url,
        webhook_secret=str(body.get("webhook_secret", "")),
    )


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return _as_mapping(raw.get(name, {}), name)


def _as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be an array")
    return value


def _decimal(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(f"{where} is not a number: {value!r}") from exc
