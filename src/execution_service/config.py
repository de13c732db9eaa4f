"""Validated settings, read once from the environment (and `.env`) by the CLI.

Every variable of SPEC section 3 is a field here. Bad values stop the service at start
with one line naming the variable (`ConfigError`), so nothing fails late. Secrets are
`SecretStr`: they never appear in `repr`, logs or `/status`.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from execution_service.domain.codec import ACCOUNT_NAME
from execution_service.domain.orders import DEFAULT_ACCOUNT
from execution_service.engine.filters import load_exchange_info
from execution_service.engine.queue import QueueModel
from execution_service.errors import ConfigError

DEFAULT_SQLITE_PATH = Path("data/execution.sqlite")

DecimalMap = Annotated[dict[str, Decimal], NoDecode]


def _default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def parse_decimal_map(value: Any) -> Any:
    """Turn `"USDT=100000,BTC=0.5"` into `{"USDT": Decimal("100000"), "BTC": Decimal("0.5")}`."""
    if not isinstance(value, str):
        return value
    result: dict[str, Decimal] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, number = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected NAME=NUMBER items separated by commas, got {item!r}")
        try:
            result[key.strip().upper()] = Decimal(number.strip())
        except InvalidOperation:
            raise ValueError(f"{number.strip()!r} is not a number") from None
    return result


_API_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key of the Binance-compatible API: its HMAC secret and the account it trades."""

    key: str
    secret: SecretStr
    account: str


def parse_api_keys(text: str) -> dict[str, ApiKey]:
    """`KEY:SECRET:ACCOUNT,KEY2:SECRET2` (an account left out is the default one), by key.
    Errors never quote a secret."""
    keys: dict[str, ApiKey] = {}
    for number, item in enumerate(filter(None, (p.strip() for p in text.split(","))), 1):
        key, _, rest = item.partition(":")
        secret, _, account = rest.partition(":")
        account = account or DEFAULT_ACCOUNT
        if not _API_KEY.fullmatch(key) or not secret or ":" in account:
            raise ValueError(f"item {number}: expected KEY:SECRET or KEY:SECRET:ACCOUNT"
                             " (a key of letters, digits, '_' or '-')")
        if not ACCOUNT_NAME.fullmatch(account):
            raise ValueError(f"item {number}: account {account[:64]!r} must be 1 to 64"
                             " letters, digits, '_', '.' or '-'")
        if key in keys:
            raise ValueError(f"item {number}: key {key[:8]}... is given twice")
        keys[key] = ApiKey(key, SecretStr(secret), account)
    return keys


class Settings(BaseSettings):
    """The service's configuration. Field names are the environment variables, lower-cased."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # Redis
    redis_url: str | None = None
    redis_host: str = "localhost"
    redis_port: int = Field(6379, ge=1, le=65535)
    redis_db: int = Field(0, ge=0)
    redis_username: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # an ACL user
    redis_password: SecretStr | None = None
    redis_password_file: Path | None = None

    # Database
    database_url: SecretStr | None = None
    postgres_host: str | None = None
    postgres_port: int = Field(5432, ge=1, le=65535)
    postgres_user: str = "postgres"
    postgres_db: str = "claire_de_binare"
    postgres_password: SecretStr | None = None
    postgres_password_file: Path | None = None
    auto_migrate: bool = True
    # PostgreSQL: the schema holding this service's tables, apart from upstream's (empty:
    # the database's default search path).
    database_schema: str = Field("execution", pattern=r"^([a-z_][a-z0-9_]{0,62})?$")
    # Upstream's `orders` (and `trades`): auto (orders, where found), off, orders, orders,trades.
    upstream_tables: str = Field("auto", pattern=r"^(auto|off|orders|orders,trades)$")
    upstream_schema: str = Field("public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    # HTTP
    http_host: str = "0.0.0.0"
    http_port: int = Field(8003, ge=0, le=65535)
    api_token: SecretStr | None = None
    api_token_file: Path | None = None
    # Binance-compatible API keys: "KEY:SECRET:ACCOUNT,..." (see `parse_api_keys`).
    binance_api_keys: SecretStr | None = None
    binance_api_keys_file: Path | None = None

    # Wire names
    orders_channel: str = "orders"
    orders_stream: str = "stream.orders"
    results_channel: str = "order_results"
    fills_stream: str = "stream.fills"
    fills_stream_maxlen: int = Field(100_000, ge=1)
    market_data_channel: str = "market_data"
    market_depth_channel: str = ""  # Binance depth messages: market orders walk that book
    control_stream: str = "stream.bot_shutdown"
    journal_stream: str = Field("execution.journal", min_length=1)
    consumer_group: str = Field("execution-service", min_length=1)
    consumer_name: str = Field(default_factory=_default_consumer_name, min_length=1)

    # Intake tuning
    batch_max_orders: int = Field(1000, ge=1, le=10_000)
    claim_idle_ms: int = Field(30_000, ge=100)
    max_message_bytes: int = Field(65_536, ge=1024)
    # An entry Redis has delivered more often than this without its batch committing
    # (restarts, claims) is quarantined unread: no message can keep the service in a
    # crash loop.
    max_deliveries: int = Field(5, ge=2, le=1000)

    # HTTP: bounds per client (api/limits.py)
    # Open dashboard event streams (/events) at most; beyond: 503.
    events_max_viewers: int = Field(1000, ge=0, le=100_000)
    # Binance's WebSocket streams and WebSocket API sockets open at most; beyond: refused.
    ws_max_connections: int = Field(1000, ge=0, le=100_000)
    # WebSocket connections a client address may open in 5 minutes, as Binance's 300 (0: any).
    ws_connections_per_address: int = Field(300, ge=0, le=1_000_000)
    # Open HTTP connections at most (beyond: 503 and closed), and how long a request's
    # head may take to arrive in full (slowloris).
    http_max_connections: int = Field(2048, ge=16, le=1_000_000)
    http_head_timeout_s: float = Field(10.0, gt=0, le=3600)
    # Request weight per client address per minute (Binance's 6000; api/weights.py).
    http_weight_limit: int = Field(6000, ge=1)
    # One instance at a time matches the tape (bus/lease.py); its lease lasts this long
    # without renewal (0: no lease, every instance matches: a single instance only).
    matcher_lease_ms: float = Field(3000.0, ge=0, le=60_000)
    # A batch taking this long from inbox to published gets a log line naming its slowest
    # phase (at most one line a second; 0: none).
    slow_batch_ms: float = Field(250.0, ge=0)

    # Paper exchange
    mock_success_rate: float = Field(0.95, ge=0.0, le=1.0)
    # The same for orders placed on Binance's paths (/api/v3), refused as Binance refuses
    # an order its backend failed (-1001); none by default.
    binance_success_rate: float = Field(1.0, ge=0.0, le=1.0)
    random_seed: int | None = None
    taker_fee: Decimal = Field(Decimal("0.001"), ge=0, lt=1)
    maker_fee: Decimal = Field(Decimal("0.001"), ge=0, lt=1)
    initial_balances: DecimalMap = Field(default_factory=lambda: {"USDT": Decimal(100_000)})
    # Sub-accounts besides the default one and those of the API keys: "bot-a,bot-b".
    accounts: str = Field("", pattern=r"^[A-Za-z0-9_.,\s-]*$")
    reference_prices: DecimalMap = Field(default_factory=dict)
    slippage_spread_bps: Decimal = Field(Decimal("1"), ge=0, le=1000)
    slippage_impact_bps: Decimal = Field(Decimal("10"), ge=0, le=1000)
    slippage_impact_notional: Decimal = Field(Decimal("1000000"), gt=0)
    book_level_bps: Decimal = Field(Decimal("1"), gt=0, le=1000)
    book_levels: int = Field(50, ge=1, le=1000)
    price_volatility_bps: Decimal = Field(Decimal("2"), ge=0, le=1000)
    live_price_max_age_s: float = Field(60.0, gt=0)
    fill_mode: Literal["trade_through", "touch", "optimistic"] = "trade_through"
    # none | risk_averse | power:N | log (engine/queue.py); replaces FILL_MODE for resting orders
    queue_model: str = "none"
    latency_ack_ms: float = Field(0.0, ge=0, le=3_600_000)
    latency_fill_ms: float = Field(0.0, ge=0, le=3_600_000)
    latency_jitter_ms: float = Field(0.0, ge=0, le=3_600_000)
    exchange_info_file: Path | None = None
    # down: to the lot step, as a bot's exchange client does; strict: Binance's refusals.
    quantity_rounding: Literal["down", "strict"] = "down"
    equity_interval_s: float = Field(60.0, ge=1)
    equity_quote_asset: str = Field("USDT", min_length=1, max_length=16)
    tape_buffer: int = Field(100_000, ge=100)
    synthetic_tape_ms: float = Field(1000.0, ge=0, le=3_600_000)
    synthetic_trade_notional: Decimal = Field(Decimal(10_000), gt=0)
    # Recorded history to start with (recorded.py): data.binance.vision files, comma-
    # separated paths or globs; moved in time to end at the start unless HISTORY_SHIFT=false.
    history_files: str = Field("", max_length=4096)
    history_shift: bool = True
    # Published results are deleted from the outbox this long after they were committed
    # (0: kept for ever); the orders, trades and events they came from are kept.
    outbox_retention_hours: float = Field(168.0, ge=0)

    # Logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "text"] = "json"

    @field_validator("upstream_tables", mode="before")
    @classmethod
    def _table_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return ",".join(sorted(p.strip() for p in value.lower().split(",") if p.strip()))

    @field_validator("fill_mode", "quantity_rounding", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return "strict" if value.lower() == "exact" else value.lower()  # 'exact': its old name

    @field_validator("queue_model")
    @classmethod
    def _queue_model(cls, value: str) -> str:
        QueueModel.parse(value)  # a ValueError names the problem
        return value.strip().lower()

    @field_validator("matcher_lease_ms")
    @classmethod
    def _lease_outlives_a_renewal(cls, value: float) -> float:
        if 0 < value < 2000:
            raise ValueError("must be 0 (no lease) or at least 2000: the lease is renewed "
                             "every second")
        return value

    @field_validator("exchange_info_file")
    @classmethod
    def _exchange_info_readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            load_exchange_info(value)  # a ValueError names the problem
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case_insensitive(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.upper() if value.upper() in {"DEBUG", "INFO", "WARNING", "ERROR",
                                                   "CRITICAL"} else value.lower()

    @field_validator("initial_balances", "reference_prices", mode="before")
    @classmethod
    def _decimal_map(cls, value: Any) -> Any:
        return parse_decimal_map(value)

    @field_validator("initial_balances", "reference_prices")
    @classmethod
    def _non_negative_finite(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for name, number in value.items():
            if not number.is_finite() or number < 0:
                raise ValueError(f"{name}={number} must be a finite number >= 0")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _sqlalchemy_url(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _read_secret_files(self) -> Settings:
        for name in ("redis_password", "postgres_password", "api_token", "binance_api_keys"):
            path: Path | None = getattr(self, f"{name}_file")
            if path is None:
                continue
            try:
                secret = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"{name.upper()}_FILE: cannot read {path}: {exc.strerror}") from None
            object.__setattr__(self, name, SecretStr(secret))
        if self.binance_api_keys is not None:
            try:
                parse_api_keys(self.binance_api_keys.get_secret_value())
            except ValueError as exc:
                raise ValueError(f"BINANCE_API_KEYS: {exc}") from None
        return self

    # Derived values

    def redis_connection_url(self) -> str:
        """The Redis URL without password (the password is passed separately)."""
        if self.redis_url:
            return self.redis_url
        user = f"{self.redis_username}@" if self.redis_username else ""
        return f"redis://{user}{self.redis_host}:{self.redis_port}/{self.redis_db}"

    def database(self) -> URL:
        """The SQLAlchemy URL with the async driver: PostgreSQL via psycopg, SQLite via aiosqlite."""
        if self.database_url is not None:
            return _sqlalchemy_url(self.database_url.get_secret_value())
        if self.postgres_host:
            password = self.postgres_password.get_secret_value() if self.postgres_password else None
            return URL.create(
                "postgresql+psycopg",
                username=self.postgres_user,
                password=password,
                host=self.postgres_host,
                port=self.postgres_port,
                database=self.postgres_db,
            )
        return URL.create("sqlite+aiosqlite", database=str(DEFAULT_SQLITE_PATH))

    def token(self) -> str | None:
        return self.api_token.get_secret_value() if self.api_token else None

    def api_keys(self) -> dict[str, ApiKey]:
        """The Binance-compatible API's keys, by key."""
        if self.binance_api_keys is None:
            return {}
        return parse_api_keys(self.binance_api_keys.get_secret_value())

    def account_names(self) -> list[str]:
        """Every configured sub-account: the default one, ACCOUNTS', the API keys'."""
        named = [name.strip() for name in self.accounts.split(",") if name.strip()]
        keyed = [key.account for key in self.api_keys().values()]
        return list(dict.fromkeys([DEFAULT_ACCOUNT, *named, *keyed]))


def _sqlalchemy_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError("is not a valid database URL") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("sqlite needs a file path, for example sqlite:///data/execution.sqlite")
        return url.set(drivername="sqlite+aiosqlite")
    raise ValueError("must be a postgresql:// or sqlite:/// URL")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning any validation error into one `ConfigError` line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            variable = "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{variable}: {message}" if variable else message)
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
