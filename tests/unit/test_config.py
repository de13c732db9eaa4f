"""Configuration (SPEC 3): defaults, validation with one clear line, secrets from files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from execution_service.config import load_settings
from execution_service.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in ("REDIS_URL", "DATABASE_URL", "POSTGRES_HOST", "API_TOKEN", "TAKER_FEE",
                 "MOCK_SUCCESS_RATE", "INITIAL_BALANCES"):
        monkeypatch.delenv(name, raising=False)


def test_settings_defaults_follow_the_spec() -> None:
    settings = load_settings()
    assert settings.redis_connection_url() == "redis://localhost:6379/0"
    assert settings.database().render_as_string() == "sqlite+aiosqlite:///data/execution.sqlite"
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8003)
    assert (settings.orders_channel, settings.orders_stream) == ("orders", "stream.orders")
    assert (settings.results_channel, settings.fills_stream) == ("order_results", "stream.fills")
    assert settings.mock_success_rate == 0.95
    assert settings.taker_fee == settings.maker_fee == Decimal("0.001")
    assert settings.initial_balances == {"USDT": Decimal(100000)}
    assert settings.token() is None


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INITIAL_BALANCES", "usdt=5000, BTC=0.5")
    monkeypatch.setenv("POSTGRES_HOST", "cdb_postgres")
    monkeypatch.setenv("POSTGRES_PASSWORD", "pw")
    settings = load_settings()
    assert settings.initial_balances == {"USDT": Decimal(5000), "BTC": Decimal("0.5")}
    assert settings.database().render_as_string(hide_password=False) == \
        "postgresql+psycopg://postgres:pw@cdb_postgres:5432/claire_de_binare"


def test_database_url_wins_over_postgres_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "ignored")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5433/x")
    assert load_settings().database().render_as_string() == "postgresql+psycopg://u@db:5433/x"


@pytest.mark.parametrize(("variable", "value"), [
    ("TAKER_FEE", "-0.1"),
    ("MOCK_SUCCESS_RATE", "1.5"),
    ("DATABASE_URL", "mysql://x"),
    ("DATABASE_URL", "::::"),
    ("REDIS_URL", "http://redis"),
    ("HTTP_PORT", "seventy"),
    ("INITIAL_BALANCES", "USDT"),
    ("INITIAL_BALANCES", "USDT=-5"),
    ("LOG_FORMAT", "xml"),
])
def test_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert variable in message
    assert "\n" not in message


def test_secret_files_are_read_and_never_shown(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-token\n")
    (tmp_path / "redis").write_text("r3dis-pass")
    monkeypatch.setenv("API_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(tmp_path / "redis"))
    settings = load_settings()
    assert settings.token() == "s3cret-token"
    assert settings.redis_password is not None
    assert settings.redis_password.get_secret_value() == "r3dis-pass"
    assert "s3cret" not in repr(settings)
    assert "r3dis" not in repr(settings)


def test_missing_secret_file_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN_FILE", "/nonexistent/token")
    with pytest.raises(ConfigError, match="API_TOKEN_FILE"):
        load_settings()


def test_database_password_never_in_error_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "oracle://user:hunter2@db/x")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "hunter2" not in str(raised.value)


def test_api_keys_name_their_accounts_and_every_account_is_listed(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("k1:s3cr3t-one:bot-a, k2:s3cr3t-two\n")
    settings = load_settings(binance_api_keys_file=keys_file, accounts="bot-b, bot-a")
    keys = settings.api_keys()
    assert {key: (k.account, k.secret.get_secret_value()) for key, k in keys.items()} == {
        "k1": ("bot-a", "s3cr3t-one"), "k2": ("default", "s3cr3t-two")}
    assert settings.account_names() == ["default", "bot-b", "bot-a"]
    assert "s3cr3t" not in repr(settings) + repr(keys)


@pytest.mark.parametrize(("value", "problem"), [
    ("k1", "item 1: expected KEY:SECRET or KEY:SECRET:ACCOUNT"),
    ("k1:hidden-secret:bad account", "item 1: account 'bad account' must be"),
    ("k1:hidden-secret,k1:hidden-secret", "item 2: key k1... is given twice"),
    ("k 1:hidden-secret", "item 1: expected KEY:SECRET"),
])
def test_bad_api_keys_are_refused_without_showing_a_secret(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(binance_api_keys=value)
    assert problem in str(refused.value)
    assert "BINANCE_API_KEYS" in str(refused.value)
    assert "hidden-secret" not in str(refused.value)
