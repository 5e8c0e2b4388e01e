"""Typed settings from `.env` (python-dotenv) and the environment, validated once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

# The project the package runs from (a checkout, or `make install`'s editable install):
# its shipped rules and demo posts are the defaults from whatever directory milwatch is
# started in. An installed copy without them (the Docker image) looks in the current
# directory, which the image sets to /app.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def shipped_file(relative: str) -> Path:
    """A file shipped with the project, e.g. "config/rules.yaml", as a path that exists if any does."""
    beside = PROJECT_DIR / relative
    return beside if beside.exists() else Path(relative)


class SettingsError(ValueError):
    """A setting that is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Every setting milwatch reads; built once in app wiring and passed in."""

    data_dir: Path = Path("data")
    rules_path: Path = field(default_factory=lambda: shipped_file("config/rules.yaml"))
    db_path: Path | None = None  # default: data_dir / "milwatch.sqlite3"
    tg_api_id: int | None = None
    tg_api_hash: str | None = None
    bot_token: str | None = None
    alert_chat: str | None = None  # the "default" route
    operator_chat: str | None = None  # told about broken rules files and failed deliveries
    forward_originals: bool = False  # the user account forwards the post before the card
    routes: dict[str, str] = field(default_factory=dict)  # ROUTE_<NAME>=chat
    analyst_ids: frozenset[int] = frozenset()
    operator_ids: frozenset[int] = frozenset()
    channels: tuple[str, ...] = ()
    backfill_hours: int = 24
    backfill_max_posts: int = 500
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one object per line, for log shippers
    use_ukrainian: bool = True
    match_max_chars: int | None = None  # characters of a post matched (None: the matcher's default)
    metrics_port: int | None = None  # Prometheus endpoint; None: off
    metrics_addr: str = "127.0.0.1"
    retention_days: int = 0  # blank texts of posts without hits older than this; 0: keep

    @property
    def database(self) -> Path:
        """Where the SQLite store lives."""
        return self.db_path or self.data_dir / "milwatch.sqlite3"

    def destination(self, route_value: str) -> str | None:
        """Resolve a route's destination from rules.yaml ('default' means ALERT_CHAT_ID)."""
        if route_value == "default":
            return self.alert_chat
        if route_value.startswith("env:"):
            return self.routes.get(route_value[4:].lower())
        return route_value


def _int_set(name: str, raw: str) -> frozenset[int]:
    out: set[int] = set()
    for part in raw.replace(";", ",").replace(" ", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.add(int(part))
        except ValueError:
            raise SettingsError(f"{name}: {part!r} is not a numeric Telegram user id") from None
    return frozenset(out)


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}, got {value}")
    return value


_FALSE = ("0", "false", "no", "off")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_FORMATS = ("text", "json")


def _channel(part: str) -> str:
    """One channel reference (@name, t.me link, t.me/s/ preview, t.me/c/ private link, id)."""
    lowered = part.lower()
    for prefix in ("https://", "http://"):
        if lowered.startswith(prefix):
            part, lowered = part[len(prefix) :], lowered[len(prefix) :]
    if lowered.startswith(("t.me/", "telegram.me/")):
        path = [p for p in part.split("/")[1:] if p]
        if len(path) >= 2 and path[0].lower() == "s":
            return path[1]
        if len(path) >= 2 and path[0].lower() == "c" and path[1].isdigit():
            # A private channel's post link carries the bare id; the API wants -100<id>.
            return f"-100{path[1]}"
        return path[0] if path else ""
    return part.lstrip("@")


def _channels(raw: str) -> tuple[str, ...]:
    """Channel list: usernames, @usernames, t.me links or numeric ids, comma/space separated."""
    out: list[str] = []
    seen: set[str] = set()
    for part in raw.replace(",", " ").split():
        name = _channel(part.strip())
        # Telegram usernames are case-insensitive: @Rybar and rybar are one channel.
        if name and name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return tuple(out)


def _log_level(raw: str | None) -> str:
    level = (raw or "INFO").upper()
    if level not in _LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL: {raw!r} is not one of {', '.join(_LOG_LEVELS)}")
    return level


def _log_format(raw: str | None) -> str:
    fmt = (raw or "text").lower()
    if fmt not in _LOG_FORMATS:
        raise SettingsError(f"LOG_FORMAT: {raw!r} is not one of {', '.join(_LOG_FORMATS)}")
    return fmt


def _port(raw: str | None) -> int | None:
    if raw is None:
        return None
    port = _int("METRICS_PORT", raw)
    if port > 65535:
        raise SettingsError(f"METRICS_PORT: {port} is not a TCP port (1-65535)")
    return port


def settings_from_mapping(env: Mapping[str, str | None]) -> Settings:
    """Build Settings from a mapping of variables (tests pass a dict, never os.environ)."""

    def get(name: str) -> str | None:
        value = env.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    data_dir = Path(get("MILWATCH_DATA_DIR") or "data")
    api_id = get("TG_API_ID")
    routes = {
        key[len("ROUTE_") :].lower(): value.strip()
        for key, value in env.items()
        if key.startswith("ROUTE_") and isinstance(value, str) and value.strip()
    }
    return Settings(
        data_dir=data_dir,
        rules_path=Path(rules) if (rules := get("MILWATCH_RULES")) else shipped_file("config/rules.yaml"),
        db_path=Path(db) if (db := get("MILWATCH_DB")) else None,
        tg_api_id=_int("TG_API_ID", api_id, 1) if api_id else None,
        tg_api_hash=get("TG_API_HASH"),
        bot_token=get("BOT_TOKEN"),
        alert_chat=get("ALERT_CHAT_ID"),
        operator_chat=get("OPERATOR_CHAT_ID"),
        forward_originals=(get("FORWARD_ORIGINALS") or "0").lower() not in _FALSE,
        routes=routes,
        analyst_ids=_int_set("ANALYST_IDS", get("ANALYST_IDS") or ""),
        operator_ids=_int_set("OPERATOR_IDS", get("OPERATOR_IDS") or ""),
        channels=_channels(get("CHANNELS") or ""),
        backfill_hours=_int("BACKFILL_HOURS", get("BACKFILL_HOURS") or "24"),
        backfill_max_posts=_int("BACKFILL_MAX_POSTS", get("BACKFILL_MAX_POSTS") or "500"),
        log_level=_log_level(get("LOG_LEVEL")),
        log_format=_log_format(get("LOG_FORMAT")),
        use_ukrainian=(get("MILWATCH_UKRAINIAN") or "1").lower() not in _FALSE,
        match_max_chars=(
            _int("MILWATCH_MATCH_MAX_CHARS", cap, 1000)
            if (cap := get("MILWATCH_MATCH_MAX_CHARS")) else None
        ),
        metrics_port=_port(get("METRICS_PORT")),
        metrics_addr=get("METRICS_ADDR") or "127.0.0.1",
        retention_days=_int("RETENTION_DAYS", get("RETENTION_DAYS") or "0"),
    )


def _merged(env_file: Path | None, environ: Mapping[str, str]) -> dict[str, str | None]:
    merged: dict[str, str | None] = {}
    if env_file is not None and env_file.exists():
        merged.update(dotenv_values(env_file))
    merged.update(environ)
    return merged


def load_settings(env_file: Path | None, environ: Mapping[str, str]) -> Settings:
    """Settings from an optional .env file, overridden by the given environment."""
    return settings_from_mapping(_merged(env_file, environ))


# What scan, eval, explain and backtest read: paths and dictionaries, no Telegram.
_OFFLINE = ("MILWATCH_DATA_DIR", "MILWATCH_RULES", "MILWATCH_DB", "MILWATCH_UKRAINIAN", "MILWATCH_MATCH_MAX_CHARS")


def load_offline_settings(env_file: Path | None, environ: Mapping[str, str]) -> Settings:
    """Like load_settings, reading only what offline commands use: a malformed
    TG_API_ID or BACKFILL_HOURS is for `run` to refuse, not a reason to stop a scan."""
    merged = _merged(env_file, environ)
    return settings_from_mapping({name: merged.get(name) for name in _OFFLINE})
