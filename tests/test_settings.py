"""Settings from a mapping and a .env file: defaults, parsing, errors, precedence, routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings, settings_from_mapping


def s(**env: str) -> Settings:
    return settings_from_mapping(env)


# -- defaults ----------------------------------------------------------------------
def test_defaults_from_empty_mapping() -> None:
    st = settings_from_mapping({})
    assert st == Settings()
    assert st.data_dir == Path("data")
    # The project's rules, not a path relative to wherever milwatch was started.
    assert st.rules_path == Path(__file__).resolve().parents[1] / "config" / "rules.yaml"
    assert st.db_path is None
    assert st.database == Path("data/milwatch.sqlite3")
    assert st.tg_api_id is None and st.tg_api_hash is None and st.bot_token is None
    assert st.alert_chat is None and st.routes == {}
    assert st.analyst_ids == frozenset() and st.operator_ids == frozenset()
    assert st.channels == ()
    assert st.backfill_hours == 24 and st.backfill_max_posts == 500
    assert st.log_level == "INFO"
    assert st.use_ukrainian is True


def test_blank_and_none_values_count_as_unset() -> None:
    env: dict[str, str | None] = {
        "TG_API_ID": "   ",
        "BOT_TOKEN": "",
        "ALERT_CHAT_ID": None,  # dotenv_values gives None for a bare `KEY` line
        "BACKFILL_HOURS": "",
        "ROUTE_URGENT": "  ",
    }
    assert settings_from_mapping(env) == Settings()


def test_database_follows_data_dir_unless_set() -> None:
    assert s(MILWATCH_DATA_DIR="/data").database == Path("/data/milwatch.sqlite3")
    st = s(MILWATCH_DATA_DIR="/data", MILWATCH_DB="/elsewhere/x.sqlite3")
    assert st.database == Path("/elsewhere/x.sqlite3")


def test_plain_values_are_stripped_and_typed() -> None:
    st = s(
        MILWATCH_RULES=" /app/config/rules.yaml ",
        TG_API_ID=" 1234567 ",
        TG_API_HASH=" 0123456789abcdef0123456789abcdef ",
        BOT_TOKEN="123456:ABC-def",
        ALERT_CHAT_ID="-1001234567890",
        BACKFILL_HOURS="0",
        BACKFILL_MAX_POSTS="50",
        LOG_LEVEL="debug",
    )
    assert st.rules_path == Path("/app/config/rules.yaml")
    assert st.tg_api_id == 1234567
    assert st.tg_api_hash == "0123456789abcdef0123456789abcdef"
    assert st.bot_token == "123456:ABC-def"
    assert st.alert_chat == "-1001234567890"
    assert st.backfill_hours == 0
    assert st.backfill_max_posts == 50
    assert st.log_level == "DEBUG"


@pytest.mark.parametrize("raw", ["0", "false", "no", "off"])
def test_ukrainian_can_be_switched_off(raw: str) -> None:
    assert s(MILWATCH_UKRAINIAN=raw).use_ukrainian is False


@pytest.mark.parametrize("raw", ["1", "true", "yes", "on"])
def test_ukrainian_stays_on(raw: str) -> None:
    assert s(MILWATCH_UKRAINIAN=raw).use_ukrainian is True


@pytest.mark.parametrize("raw", ["False", "OFF", "No"])
def test_ukrainian_off_is_case_insensitive(raw: str) -> None:
    assert s(MILWATCH_UKRAINIAN=raw).use_ukrainian is False


# -- id lists ----------------------------------------------------------------------
def test_id_lists_comma_and_semicolon_separated() -> None:
    st = s(ANALYST_IDS="111, 222;333,, 111 ", OPERATOR_IDS="444")
    assert st.analyst_ids == frozenset({111, 222, 333})
    assert st.operator_ids == frozenset({444})


@pytest.mark.parametrize("name", ["ANALYST_IDS", "OPERATOR_IDS"])
@pytest.mark.parametrize("raw", ["111,abc", "@someone", "12.5"])
def test_bad_id_list_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings_from_mapping({name: raw})


# -- numbers -----------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["abc", "12ab", "0", "-5", "1.5"])
def test_bad_api_id_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="TG_API_ID"):
        s(TG_API_ID=raw)


@pytest.mark.parametrize("name", ["BACKFILL_HOURS", "BACKFILL_MAX_POSTS"])
@pytest.mark.parametrize("raw", ["many", "-1"])
def test_bad_backfill_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings_from_mapping({name: raw})


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_operations_settings() -> None:
    default = settings_from_mapping({})
    assert (default.metrics_port, default.metrics_addr) == (None, "127.0.0.1")
    assert (default.log_format, default.retention_days) == ("text", 0)
    chosen = settings_from_mapping(
        {"METRICS_PORT": "9464", "METRICS_ADDR": "0.0.0.0", "LOG_FORMAT": "JSON", "RETENTION_DAYS": "90"}
    )
    assert (chosen.metrics_port, chosen.metrics_addr) == (9464, "0.0.0.0")
    assert (chosen.log_format, chosen.retention_days) == ("json", 90)
    assert settings_from_mapping({"METRICS_PORT": "0"}).metrics_port == 0  # any free port


@pytest.mark.parametrize(
    ("name", "raw", "words"),
    [
        ("METRICS_PORT", "http", "not a whole number"),
        ("METRICS_PORT", "70000", "not a TCP port"),
        ("LOG_FORMAT", "xml", "not one of text, json"),
        ("RETENTION_DAYS", "-1", "at least 0"),
    ],
)
def test_bad_operations_settings_name_the_variable(name: str, raw: str, words: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}: .*{words}"):
        settings_from_mapping({name: raw})


def test_bad_log_level_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        s(LOG_LEVEL="verbose")


# -- channels ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("rybar", ("rybar",)),
        ("@rybar", ("rybar",)),
        ("t.me/rybar", ("rybar",)),
        ("https://t.me/rybar", ("rybar",)),
        ("https://t.me/rybar/123", ("rybar",)),
        ("http://telegram.me/rybar/", ("rybar",)),
        ("-1001234567890", ("-1001234567890",)),
    ],
)
def test_channel_forms(raw: str, expected: tuple[str, ...]) -> None:
    assert s(CHANNELS=raw).channels == expected


def test_channels_comma_space_separated_ordered_and_deduplicated() -> None:
    raw = "@rybar, https://t.me/rybar/55  syria_watch,\n-1001234567890 t.me/syria_watch , ,"
    assert s(CHANNELS=raw).channels == ("rybar", "syria_watch", "-1001234567890")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://t.me/s/rybar", ("rybar",)),  # public web preview link
        ("https://t.me/c/1234567890/55", ("-1001234567890",)),  # private channel post link
    ],
)
def test_channel_web_preview_and_private_links(raw: str, expected: tuple[str, ...]) -> None:
    assert s(CHANNELS=raw).channels == expected


def test_channels_dedupe_ignores_case() -> None:
    assert len(s(CHANNELS="@Rybar rybar https://T.me/RYBAR").channels) == 1


# -- routes ------------------------------------------------------------------------
def test_route_variables_lowercased_and_stripped() -> None:
    st = s(ROUTE_URGENT=" -1001111111111 ", ROUTE_Ops_Team="@ops_chat", ROUTEX="ignored")
    assert st.routes == {"urgent": "-1001111111111", "ops_team": "@ops_chat"}


def test_destination_default_is_alert_chat() -> None:
    assert s(ALERT_CHAT_ID="-1002222222222").destination("default") == "-1002222222222"
    assert s().destination("default") is None


def test_destination_env_route() -> None:
    st = s(ALERT_CHAT_ID="-1002222222222", ROUTE_URGENT="-1001111111111")
    assert st.destination("env:URGENT") == "-1001111111111"
    assert st.destination("env:urgent") == "-1001111111111"
    assert st.destination("env:MISSING") is None


def test_destination_explicit_chat_passes_through() -> None:
    st = s(ALERT_CHAT_ID="-1002222222222")
    assert st.destination("-1003333333333") == "-1003333333333"
    assert st.destination("@some_channel") == "@some_channel"


# -- .env file and environment ------------------------------------------------------
ENV_FILE = """\
# a comment
TG_API_ID=1234567
TG_API_HASH="0123456789abcdef0123456789abcdef"
BOT_TOKEN=123456:from-file
ALERT_CHAT_ID=-1002222222222
ROUTE_URGENT=-1001111111111
ANALYST_IDS=111,222
CHANNELS=@rybar https://t.me/syria_watch/9
export LOG_LEVEL=warning
BACKFILL_HOURS=12
"""


def test_load_from_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_FILE, encoding="utf-8")
    st = load_settings(env_file, {})
    assert st.tg_api_id == 1234567
    assert st.tg_api_hash == "0123456789abcdef0123456789abcdef"
    assert st.bot_token == "123456:from-file"
    assert st.alert_chat == "-1002222222222"
    assert st.routes == {"urgent": "-1001111111111"}
    assert st.analyst_ids == frozenset({111, 222})
    assert st.channels == ("rybar", "syria_watch")
    assert st.log_level == "WARNING"
    assert st.backfill_hours == 12


def test_environment_overrides_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_FILE, encoding="utf-8")
    st = load_settings(
        env_file,
        {"BOT_TOKEN": "999:from-env", "ROUTE_URGENT": "-1009999999999", "ROUTE_LOW": "@quiet"},
    )
    assert st.bot_token == "999:from-env"
    assert st.routes == {"urgent": "-1009999999999", "low": "@quiet"}
    assert st.tg_api_id == 1234567  # untouched values still come from the file


def test_missing_or_no_env_file_uses_environment_only(tmp_path: Path) -> None:
    for env_file in (tmp_path / "absent.env", None):
        st = load_settings(env_file, {"TG_API_ID": "42"})
        assert st.tg_api_id == 42
        assert st.bot_token is None


def test_bad_value_in_env_file_names_the_variable(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ANALYST_IDS=111,@bob\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="ANALYST_IDS"):
        load_settings(env_file, {})


def test_env_example_parses_and_lists_every_setting() -> None:
    example = Path(__file__).resolve().parent.parent / "config" / ".env.example"
    text = example.read_text(encoding="utf-8")
    for name in (
        "MILWATCH_DATA_DIR", "MILWATCH_RULES", "MILWATCH_DB", "TG_API_ID", "TG_API_HASH",
        "BOT_TOKEN", "ALERT_CHAT_ID", "ROUTE_", "ANALYST_IDS", "OPERATOR_IDS", "CHANNELS",
        "BACKFILL_HOURS", "BACKFILL_MAX_POSTS", "LOG_LEVEL", "MILWATCH_UKRAINIAN",
    ):
        assert name in text, name
    load_settings(example, {})  # the shipped example must itself be valid
