"""Typed settings, read once at startup from one TOML file overlaid with SMSPROXY_* variables.

Every setting can come from the environment: `SMSPROXY_<SECTION>__<KEY>` sets `[section] key`,
path segments separated by a double underscore, list items by their index
(`SMSPROXY_PROVIDERS__SMSPVA__API_KEY=...`, `SMSPROXY_TENANTS__0__KEY=...`). A value written as a
TOML array, inline table or quoted string is read as one (`["a", "b"]`, `{ RUB = "0.011" }`);
any other value is text, read as the type of the setting it sets: a number as a number, a
boolean as one of ENV_TRUE / ENV_FALSE in any case, a string as it is.

Reading is strict: an unknown key (the nearest known one is suggested), a value of the wrong type
or outside its choices is a ConfigError naming the key's path and the value given. pydantic does
the validation. The settings the rest of the code sees are the frozen dataclasses below, which
also hold the defaults: pydantic validates the file straight into those whose shape is the
file's, and through the input models at the end (_ProviderInput, _TenantInput, _KindMapping)
where the typed form is derived (a provider's name and per-kind defaults, a tenant's key hash,
mapping country ids).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import UnionType
from typing import (
    Annotated,
    Any,
    ClassVar,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

ENV_PREFIX = "SMSPROXY_"
# What a boolean setting accepts from the environment, in any case (a TOML file: true, false).
ENV_TRUE = ("1", "true", "yes", "on")
ENV_FALSE = ("0", "false", "no", "off")
# handler_api: any SMS-Activate-compatible service, its quirks from a profile (issue 16).
PROVIDER_KINDS = ("smspva", "vaksms", "handler_api")
# handler_api has no default host: base_url is required for it (_provider).
DEFAULT_BASE_URLS = {"smspva": "https://api.smspva.com", "vaksms": "https://vak-sms.ru"}
# seeds/000:12, every URL in seeds/001 and smspva-sdk's _contracts.json: the rental API is on the
# site's host, not on the activation API's.
DEFAULT_SMSPVA_RENT_URL = "https://smspva.com/api/rent.php"
# handler_api: the profile's `currency` (_provider), so none here.
DEFAULT_CURRENCIES = {"smspva": "USD", "vaksms": "RUB"}
# seeds/000:17 "4-5 seconds between requests"; VAK documents none, so the same by default; no
# profiled compatible service documents one either: the same.
DEFAULT_POLL_INTERVALS = {"smspva": 5.0, "vaksms": 5.0, "handler_api": 5.0}
# seeds/000:59 orderExpireIn 600; VAK's window is undocumented: 20 minutes by default. A
# compatible service's window is in no profile: VAK's conservative 20 minutes (an order thought
# open longer than it is only makes a refund come late, never early).
DEFAULT_ORDER_LIFETIMES = {"smspva": 600.0, "vaksms": 1200.0, "handler_api": 1200.0}
# seeds/000:16 "up to 50 connections per second"; VAK documents no limit: a gentler default,
# and the same for compatible services, none of which documents a limit (the emulator's note).
DEFAULT_RATE_LIMITS = {"smspva": 50.0, "vaksms": 20.0, "handler_api": 20.0}
# seeds/000:18, 382: block before 580 s (we act at 560 s); VAK's window less 40 s likewise, and
# a compatible service's (VAK-like) window likewise.
DEFAULT_REFUND_AFTER = {"smspva": 560.0, "vaksms": 1160.0, "handler_api": 1160.0}
STRATEGIES = ("priority", "cheapest", "success_rate", "weighted")
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
REDIS_MODES = ("single", "sentinel", "cluster")
# Values of these keys are never repeated in an error message.
SECRET_KEYS = frozenset({"api_key", "key", "token", "webhook_secret", "password"})


class ConfigError(ValueError):
    """The configuration is incomplete or contradictory; the message (one line) says where."""


class EnvText(str):
    """The text of an SMSPROXY_* variable, read by the type of the setting it sets."""

    variable: str

    def __new__(cls, text: str, variable: str) -> EnvText:
        self = super().__new__(cls, text)
        self.variable = variable
        return self


# ---------------------------------------------------------------------------------------------
# Value types: strict for TOML values (no "8080" for a number, no 1 for a boolean), the
# environment's text read as the setting's type.


def _from_env(parse: Callable[[str], Any]) -> BeforeValidator:
    """Environment text parsed for the setting's type; left as it is when it does not parse,
    for the type's own error to name it."""

    def read(value: Any) -> Any:
        if isinstance(value, EnvText):
            try:
                return parse(value.strip())
            except ValueError:
                return value
        return value

    return BeforeValidator(read)


INTEGER = re.compile(r"[+-]?[0-9]+")
DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _env_int(text: str) -> int:
    """ASCII digits only (int() also takes "1_000" and other scripts' digits)."""
    if not INTEGER.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _env_float(text: str) -> float:
    if not DECIMAL.fullmatch(text):
        raise ValueError(text)
    return float(text)


def _env_bool(text: str) -> bool:
    word = text.lower()
    if word in ENV_TRUE or word in ENV_FALSE:
        return word in ENV_TRUE
    raise ValueError(text)


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_of(*choices: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in choices:
            raise PydanticCustomError(
                "choice",
                "expected one of {choices}{hint}",
                {"choices": ", ".join(choices), "hint": _did_you_mean(value, choices)},
            )
        return value

    return AfterValidator(check)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise PydanticCustomError("decimal_type", "expected a number or a numeric string")
    text = str(value).strip()
    if isinstance(value, str) and not DECIMAL.fullmatch(text):
        raise PydanticCustomError("decimal_parsing", "expected a number")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise PydanticCustomError("decimal_parsing", "expected a number") from None
    if not number.is_finite():
        raise PydanticCustomError("finite_number", "expected a finite number")
    return number


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value:
        raise PydanticCustomError("path_type", "expected a path (a string)")
    return Path(value)


def _country_id(value: Any) -> int:
    """A country id as a table key: TOML keys are strings ("16")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        return int(value)
    raise PydanticCustomError("country_id", "expected a country id (a number)")


Str = Annotated[str, Strict(), _from_env(str)]
Int = Annotated[int, Strict(), _from_env(_env_int)]
Float = Annotated[float, Strict(), AllowInfNan(False), _from_env(_env_float)]
Seconds = Annotated[float, Strict(), AllowInfNan(False), Field(gt=0), _from_env(_env_float)]
Bool = Annotated[bool, Strict(), _from_env(_env_bool)]
Dec = Annotated[Decimal, PlainValidator(_decimal)]
DirPath = Annotated[Path, PlainValidator(_path)]
Currency = Annotated[str, Strict(), AfterValidator(str.upper), _from_env(str)]
Kind = Annotated[str, Strict(), _one_of(*PROVIDER_KINDS), _from_env(str)]
Strategy = Annotated[str, Strict(), _one_of(*STRATEGIES), _from_env(str)]
LogFormat = Annotated[str, Strict(), _one_of(*LOG_FORMATS), _from_env(str)]
RedisMode = Annotated[str, Strict(), _one_of(*REDIS_MODES), _from_env(str)]
LogLevel = Annotated[str, Strict(), AfterValidator(str.lower), _one_of(*LOG_LEVELS), _from_env(str)]
CountryId = Annotated[int, PlainValidator(_country_id)]

# Unknown keys are errors in every table that has fixed keys.
STRICT_TABLE = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# The settings.


@dataclass(frozen=True, slots=True)
class ServerSettings:
    __pydantic_config__: ClassVar[ConfigDict] = STRICT_TABLE

    host: Str = "0.0.0.0"
    port: Int = 8080
    # The largest request body read (a form POST); larger ones are answered BAD_ACTION unread.
    max_body_bytes: Int = 65_536
    # The most query/form parameters one request may carry (the widest action takes about 15).
    max_params: Int = 64


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """The operator endpoints (/health/upstreams, /metrics): on their own address when `port`
    is set, and/or behind `token` (an `Authorization: Bearer` header)."""

    __pydantic_config__: ClassVar[ConfigDict] = STRICT_TABLE

    host: Str = "127.0.0.1"
    port: Int = 0  # 0: served on the client port, guarded by `token` when one is set
    token: Str = field(default="", repr=False)
    # The operator's page (/admin): reloads its figures this often (seconds); shown only
    # with a token set.
    refresh_seconds: Annotated[int, Strict(), Field(ge=1), _from_env(_env_int)] = 10
    # Each process adds its counts for the page to Redis this often (seconds): the figures
    # lag by at most this, and a crash loses at most this much of them.
    flush_seconds: Seconds = 2.0


def _host_port(value: Any) -> str:
    """A sentinel's address: "host:port" (an IPv6 host in brackets: "[::1]:26379")."""
    if isinstance(value, str):
        host, _, port = value.strip().rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return value.strip()
    raise PydanticCustomError("host_port", 'expected "host:port"')


def _address_list(value: Any) -> Any:
    """A list, or (from the environment) "host:port,host:port"."""
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    return value


HostPort = Annotated[str, PlainValidator(_host_port)]
Addresses = Annotated[tuple[HostPort, ...], BeforeValidator(_address_list)]


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """`url` empty in single mode: smsproxy starts its own redis-server with its data in
    `data_dir`. In sentinel mode the sentinels name the primary; in cluster mode `url` is any
    node's."""

    __pydantic_config__: ClassVar[ConfigDict] = STRICT_TABLE

    mode: RedisMode = "single"
    url: Str = ""
    sentinels: Addresses = ()
    # The name in the sentinels' `sentinel monitor` line; "mymaster" is the one Redis's own
    # sentinel.conf and documentation use (redis.io/docs/management/sentinel).
    service_name: Str = "mymaster"
    password: Str = field(default="", repr=False)  # for Redis and for the sentinels
    # Money writes (a purchase intent, a bought number) are confirmed on this many replicas
    # (Redis WAIT) where the primary has them; 0: never waited for.
    confirm_replicas: Int = 1
    confirm_timeout: Seconds = 1.0  # the longest a money write waits for its confirmation
    data_dir: DirPath = Path("data")
    retention_days: Float = 30.0
    key_prefix: Str = "smsproxy"
    local_cache: Bool = True  # keep records in memory, invalidated by pub/sub (hot path)


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
    # handler_api: the quirk profile, a shipped name or a path (proxy/providers/profiles)
    profile: str = ""


@dataclass(frozen=True, slots=True)
class RouteRule:
    """A strategy for one service and/or country, overriding the tenant's default."""

    __pydantic_config__: ClassVar[ConfigDict] = STRICT_TABLE

    strategy: Strategy
    service: Str | None = None
    country: Int | None = None


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

    __pydantic_config__: ClassVar[ConfigDict] = STRICT_TABLE

    # A client's getRentNumber `url` may name a private, loopback or link-local address (this
    # network's own hosts) only when this is true; tenants' configured URLs always may.
    private_targets: Bool = False


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """Failover bounds and the background work shared by the replicas."""

    __pydantic_config__: ClassVar[ConfigDict] = STRICT_TABLE

    deadline: Float = 30.0  # one getNumber tries candidates for at most this long
    no_numbers_cooldown: Float = 60.0  # a provider+service+country that keeps saying no rests
    no_numbers_threshold: Int = 3  # ... after this many "no numbers" in a cooldown period
    no_balance_cooldown: Float = 300.0  # a provider without money rests until balance is seen
    balance_recheck: Float = 30.0  # the poller asks a provider resting for money this often
    success_window_hours: Int = 6  # success_rate strategy: codes / numbers over these hours
    poller: Bool = True  # refresh active activations in the background (one replica at a time)
    cancel_rate_warning: Float = 0.5  # warn when this share of an account's numbers is cancelled
    cancel_rate_every: Float = 60.0  # seconds between the poller's cancel-rate checks
    # The poller asks every provider's balance this often (seconds; 0: only when clients or a
    # rest ask), so /health/upstreams and the operator's page show a recent one: one request
    # per provider per 5 minutes, next to the tens a second a busy gateway sends.
    balance_refresh: Float = 300.0


@dataclass(frozen=True, slots=True)
class CatalogSettings:
    """Upstream catalogs (counts, prices) cached in Redis and shared by every replica."""

    __pydantic_config__: ClassVar[ConfigDict] = STRICT_TABLE

    ttl: Float = 300.0  # fresh for this long; one upstream request per entry per ttl at most
    stale_for: Float = 86400.0  # served, marked stale in logs, while an upstream is down
    max_fetches: Int = 20  # per client request, upstream requests for entries not yet cached
    warm: tuple[tuple[Str, Int], ...] = ()  # (service, country) pairs refreshed in background


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

    __pydantic_config__: ClassVar[ConfigDict] = STRICT_TABLE

    currency: Currency = "USD"
    rates: Mapping[Currency, Dec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    __pydantic_config__: ClassVar[ConfigDict] = STRICT_TABLE

    format: LogFormat = "json"
    level: LogLevel = "info"


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


# ---------------------------------------------------------------------------------------------
# The file's shape where it differs from the settings'. An absent key is None: its default is
# the dataclass's, or one derived from other settings.


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ProviderInput(_Table):
    """`[providers.<name>]`; what it leaves out comes from `provider_defaults(kind)`."""

    kind: Kind | None = None  # the table's name when that is a kind
    api_key: Str | None = None
    base_url: Str | None = None
    currency: Currency | None = None
    poll_interval: Float | None = None
    order_lifetime: Float | None = None
    connect_timeout: Float | None = None
    read_timeout: Float | None = None
    assumed_stock: Int | None = None
    rate_limit: Float | None = None
    breaker_threshold: Int | None = None
    breaker_cooldown: Float | None = None
    refund_after: Float | None = None
    rent_url: Str | None = None  # see rent_url_for
    order_lifetimes: dict[Str, Seconds] | None = None
    profile: Str | None = None  # handler_api only


class _TenantInput(_Table):
    """`[[tenants]]`; the key becomes its hash, currency defaults to money.currency."""

    name: Str
    key: Str | None = None
    key_sha256: Str | None = None
    providers: list[Str] | None = None  # all, in configuration order
    currency: Currency | None = None
    markup: Dec | None = None
    strategy: Strategy | None = None
    weights: dict[Str, Float] | None = None
    routes: list[RouteRule] | None = None
    webhook_url: Str | None = None
    webhook_secret: Str | None = None


class _KindMapping(_Table):
    """`[mapping.<kind>]`: "" as a value removes a shipped pair."""

    services: dict[Str, Str] = {}
    countries: dict[CountryId, Str] = {}
    operators: dict[CountryId, dict[Str, Str]] = {}


class _SettingsInput(_Table):
    server: ServerSettings = ServerSettings()
    admin: AdminSettings = AdminSettings()
    redis: RedisSettings = RedisSettings()
    money: MoneySettings = MoneySettings()
    logging: LoggingSettings = LoggingSettings()
    catalog: CatalogSettings = CatalogSettings()
    routing: RoutingSettings = RoutingSettings()
    webhooks: WebhookSettings = WebhookSettings()
    providers: dict[Str, _ProviderInput] = {}
    tenants: list[_TenantInput] = []
    mapping: dict[Kind, _KindMapping] = {}


def hash_key(key: str) -> bytes:
    """The form in which client keys are held and compared."""
    return hashlib.sha256(key.encode()).digest()


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if any), apply the environment overlay and validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
    apply_environment(raw, os.environ if environ is None else environ)
    return settings_from_dict(raw)


def apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Overlay SMSPROXY_A__B__C=value onto raw[a][b][c]. A name with no `__` is no setting
    (every setting is in a table) and is left alone: SMSPROXY_CONFIG and SMSPROXY_WORKERS are
    the command's, and Kubernetes gives every pod SMSPROXY_SERVICE_HOST, SMSPROXY_PORT and
    the like for a Service named smsproxy."""
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name[len(ENV_PREFIX) :]:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if path:
            try:
                _set_path(raw, path, _parse_env_value(name, value))
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from exc


def _parse_env_value(name: str, text: str) -> Any:
    """A TOML array, inline table or quoted string as one; anything else as EnvText."""
    if text.strip()[:1] in ("[", "{", '"', "'"):
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            pass
    return EnvText(text, name)


MAX_ENV_INDEX = 9999  # SMSPROXY_TENANTS__<n>__...: a typo must not fill memory with empty items


def _set_path(node: Any, path: list[str], value: Any) -> None:
    head, rest = path[0], path[1:]
    if isinstance(node, list):
        if not head.isdigit() or int(head) > MAX_ENV_INDEX:
            raise ValueError(f"{head!r} is not an item number (0 to {MAX_ENV_INDEX})")
        index = int(head)
        while len(node) <= index:
            node.append({})
        if rest:
            if not isinstance(node[index], dict | list):
                node[index] = {}
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
    try:
        given = _SettingsInput.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from exc
    providers = {name: _provider(name, body) for name, body in given.providers.items()}
    tenants = tuple(
        _tenant(i, body, providers, given.money.currency) for i, body in enumerate(given.tenants)
    )
    for i, tenant in enumerate(tenants):
        for j, other in enumerate(tenants[:i]):
            if tenant.name == other.name:
                raise ConfigError(
                    f"tenants[{i}].name: {tenant.name!r} is tenants[{j}]'s too "
                    "(tenant names must be unique)"
                )
            if tenant.key_sha256 == other.key_sha256:
                raise ConfigError(f"tenants[{i}] and tenants[{j}] share one api key")
    _check_redis(given.redis)
    mapping = given.mapping
    return Settings(
        server=given.server,
        admin=given.admin,
        redis=given.redis,
        money=given.money,
        logging=given.logging,
        providers=providers,
        tenants=tenants,
        catalog=given.catalog,
        routing=given.routing,
        webhooks=given.webhooks,
        mapping=MappingSettings(
            services={kind: _pairs(m.services) for kind, m in mapping.items()},
            countries={kind: _pairs(m.countries) for kind, m in mapping.items()},
            operators={
                kind: {country: _pairs(names) for country, names in m.operators.items()}
                for kind, m in mapping.items()
            },
        ),
    )


def _check_redis(redis: RedisSettings) -> None:
    """What each mode needs."""
    if redis.mode == "sentinel" and not redis.sentinels:
        raise ConfigError('redis.sentinels: sentinel mode needs at least one "host:port"')
    if redis.mode == "cluster" and not redis.url:
        raise ConfigError("redis.url: cluster mode needs the address of a node")
    if redis.mode == "sentinel" and redis.url:
        raise ConfigError("redis.url: not used in sentinel mode (the sentinels name the primary)")
    if redis.mode == "cluster" and not redis.url.startswith(("redis://", "rediss://")):
        raise ConfigError("redis.url: cluster mode takes a redis:// or rediss:// URL")
    if redis.confirm_replicas < 0:
        raise ConfigError("redis.confirm_replicas: 0 or more")


def _pairs(table: Mapping[K, str]) -> dict[K, str | None]:
    return {key: value or None for key, value in table.items()}


def _given(table: BaseModel) -> dict[str, Any]:
    """The keys a table sets."""
    return {
        name: getattr(table, name)
        for name in table.model_fields_set
        if getattr(table, name) is not None
    }


def _dataclass_defaults(cls: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in fields(cls):
        if item.default is not MISSING:
            found[item.name] = item.default
        elif item.default_factory is not MISSING:
            found[item.name] = item.default_factory()
    return found


def provider_defaults(kind: str) -> dict[str, Any]:
    """Every setting of a `[providers.<name>]` of this kind that has a default."""
    return {
        **_dataclass_defaults(ProviderSettings),
        "kind": kind,
        "base_url": DEFAULT_BASE_URLS.get(kind, ""),
        "currency": DEFAULT_CURRENCIES.get(kind, ""),
        "poll_interval": DEFAULT_POLL_INTERVALS[kind],
        "order_lifetime": DEFAULT_ORDER_LIFETIMES[kind],
        "rate_limit": DEFAULT_RATE_LIMITS[kind],
        "refund_after": DEFAULT_REFUND_AFTER[kind],
        "rent_url": rent_url_for(kind, {}),
    }


def _provider(name: str, body: _ProviderInput) -> ProviderSettings:
    where = f"providers.{name}"
    kind = body.kind or name
    if kind not in PROVIDER_KINDS:
        raise ConfigError(
            f"{where}.kind is missing, and {name!r} is not a provider kind: "
            f"set kind to one of {', '.join(PROVIDER_KINDS)}"
        )
    if not body.api_key:
        variable = f"{ENV_PREFIX}PROVIDERS__{name.upper()}__API_KEY"
        raise ConfigError(f"{where}.api_key is missing (or set it in the environment: {variable})")
    given = _given(body)
    values = {**provider_defaults(kind), **given}
    if kind == "handler_api":
        values.update(_handler_api(where, given))
    elif "profile" in given:
        raise ConfigError(f"{where}.profile: only a handler_api provider takes a profile")
    values["base_url"] = str(values["base_url"]).rstrip("/")
    values["rent_url"] = rent_url_for(kind, given)
    return ProviderSettings(name=name, **values)


def _handler_api(where: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """A compatible service's profile, loaded now (a bad one stops the start), its base_url
    (there is no default host) and its currency (the profile's, unless set)."""
    from proxy.providers.profiles import ProfileError, load_profile, profile_names

    name = str(given.get("profile") or "")
    if not name:
        raise ConfigError(
            f"{where}.profile is missing: a shipped profile ({', '.join(profile_names())}) "
            "or a profile file's path"
        )
    try:
        profile = load_profile(name)
    except ProfileError as exc:
        raise ConfigError(f"{where}.profile: {exc}") from exc
    if not given.get("base_url"):
        raise ConfigError(f"{where}.base_url is missing (the service's root, e.g. https://...)")
    return {"currency": given.get("currency") or profile.currency}


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


def _tenant(
    index: int,
    body: _TenantInput,
    providers: Mapping[str, ProviderSettings],
    default_currency: str,
) -> TenantSettings:
    where = f"tenants[{index}]"
    if not body.name:
        raise ConfigError(f"{where}.name is missing")
    if body.key:
        digest = hash_key(body.key)
    elif body.key_sha256:
        try:
            digest = bytes.fromhex(body.key_sha256)
        except ValueError:
            digest = b""
        if len(digest) != hashlib.sha256().digest_size:
            raise ConfigError(f"{where}.key_sha256 is not a SHA-256 in hex (64 hex digits)")
    else:
        raise ConfigError(f"{where} needs key or key_sha256")
    allowed = tuple(providers) if body.providers is None else tuple(body.providers)
    unknown = [p for p in allowed if p not in providers]
    if unknown:
        raise ConfigError(
            f"{where}.providers names unknown providers: {unknown}"
            f"{_did_you_mean(unknown[0], providers)} (configured: {', '.join(providers) or 'none'})"
        )
    for provider in body.weights or {}:
        if provider not in allowed:
            raise ConfigError(
                f"{where}.weights.{provider}: not one of this tenant's providers "
                f"({', '.join(allowed) or 'none'}){_did_you_mean(provider, allowed)}"
            )
    if body.webhook_url and not body.webhook_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.webhook_url must be an http(s) URL")
    given = _given(body)
    for derived in ("name", "key", "key_sha256", "providers", "currency"):
        given.pop(derived, None)
    if "routes" in given:
        given["routes"] = tuple(given["routes"])
    return TenantSettings(
        name=body.name,
        key_sha256=digest,
        providers=allowed,
        currency=body.currency or default_currency,
        **given,
    )


# ---------------------------------------------------------------------------------------------
# Errors, one line each, and the keys there are (the README's table is tested against them).

_EXPECTED = {
    "bool_type": "expected true or false",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "string_type": "expected a string",
    "finite_number": "expected a finite number",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "dataclass_type": "expected a table",
    "list_type": "expected an array",
    "tuple_type": "expected an array",
}
MAX_PROBLEMS = 5
ENV_BOOLEANS = ", ".join(f"{t}/{f}" for t, f in zip(ENV_TRUE, ENV_FALSE, strict=True))
K = TypeVar("K")


def describe_errors(exc: ValidationError) -> str:
    """pydantic's errors as one line: each names its key's path and the value given."""
    problems = [_describe(error) for error in exc.errors(include_url=False)]
    shown = "; ".join(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        shown += f"; and {len(problems) - MAX_PROBLEMS} more"
    return shown


def key_path(loc: Sequence[str | int]) -> str:
    """("tenants", 0, "name") -> "tenants[0].name"."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "the configuration"


def _describe(error: ErrorDetails) -> str:
    loc = list(error["loc"])
    as_key = loc[-1:] == ["[key]"]
    if as_key:
        loc.pop()
    where, value, kind = key_path(loc), error.get("input"), error["type"]
    origin = f" (from {value.variable})" if isinstance(value, EnvText) else ""
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        hint = _did_you_mean(str(loc[-1]), _known_keys(loc[:-1]))
        return f"{where}: unknown key{hint}{origin}"
    if kind in ("missing", "missing_argument", "missing_keyword_only_argument"):
        return f"{where} is missing"
    expected = _EXPECTED.get(kind) or error["msg"][:1].lower() + error["msg"][1:]
    if kind == "bool_type" and isinstance(value, EnvText):
        expected = f"expected one of {ENV_BOOLEANS}"
    if as_key:
        return f"{where}: the key {value!r}: {expected}{origin}"
    secret = any(part in SECRET_KEYS for part in loc if isinstance(part, str))
    return f"{where}: {expected}, got {_shown(value, secret)}{origin}"


def _shown(value: Any, secret: bool, limit: int = 80) -> str:
    """The value given, as far as it may be shown: a table's content may hold secrets."""
    if secret:
        return f"a value of type {type(value).__name__} (not shown)"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        return "an array of tables"
    text = repr(str(value) if isinstance(value, EnvText) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unwrap(tp: Any) -> Any:
    """X from Annotated[X, ...] and from X | None."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, UnionType):
            tp = next(arg for arg in get_args(tp) if arg is not type(None))
        else:
            return tp


def _table_keys(tp: Any) -> dict[str, Any] | None:
    """A table type's keys and their types; None when its keys are free (or it is no table)."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {name: info.annotation for name, info in tp.model_fields.items()}
    if isinstance(tp, type) and is_dataclass(tp):
        hints = get_type_hints(tp, include_extras=True)
        return {item.name: hints[item.name] for item in fields(tp)}
    return None


def _type_at(loc: Sequence[str | int]) -> Any:
    tp: Any = _SettingsInput
    for part in loc:
        keys = _table_keys(tp)
        if keys is not None:
            tp = keys.get(str(part))
            continue
        inner = _unwrap(tp)
        origin, args = get_origin(inner), get_args(inner)
        if origin in (dict, Mapping):
            tp = args[1]
        elif origin is list or (origin is tuple and args[-1:] == (Ellipsis,)):
            tp = args[0]
        else:
            return None
    return tp


def _known_keys(loc: Sequence[str | int]) -> list[str]:
    return list(_table_keys(_type_at(loc)) or {})


def setting_keys() -> list[str]:
    """Every key a configuration may set, by its path: `<>` stands for a name of your choosing
    (a provider, a currency, a code), `[]` for each item of an array of tables."""
    found: list[str] = []

    def walk(tp: Any, path: str) -> None:
        keys = _table_keys(tp)
        if keys is not None:
            for name, sub in keys.items():
                walk(sub, f"{path}.{name}" if path else name)
            return
        inner = _unwrap(tp)
        origin, args = get_origin(inner), get_args(inner)
        if origin in (dict, Mapping):
            walk(args[1], f"{path}.<>")
        elif origin is list and _table_keys(args[0]) is not None:
            walk(args[0], f"{path}[]")
        else:
            found.append(path)

    walk(_SettingsInput, "")
    return found


def setting_defaults() -> dict[str, Any]:
    """Each key's default where it has one of its own: a value, or {kind: value} for a
    provider's per-kind defaults. Keys without (required, derived, free names) are left out."""
    found: dict[str, Any] = {}
    for key in setting_keys():
        section, _, name = key.rpartition(".")
        if section == "providers.<>" and name in provider_defaults("smspva"):
            found[key] = {kind: provider_defaults(kind)[name] for kind in PROVIDER_KINDS}
        elif section == "tenants[]":
            defaults = _dataclass_defaults(TenantSettings)
            if name in defaults and name != "currency":
                found[key] = defaults[name]
        elif "<>" not in key and "[]" not in key:
            owner = _unwrap(_type_at(section.split(".")))
            if is_dataclass(owner):
                found[key] = _dataclass_defaults(owner)[name]
    return found
