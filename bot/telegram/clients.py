"""Telethon clients: session files, the interactive `milwatch login`, and connecting the service.

The user account (reads channels) and the bot (sends alerts, answers commands) each have
their own SQLite session file under settings.data_dir. A session file may be used by ONE
process at a time: two processes on one file give "database is locked" or make Telegram
revoke the key (AuthKeyDuplicatedError).
"""

from __future__ import annotations

import getpass as _getpass
import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telethon import TelegramClient, errors

from bot.settings import Settings, SettingsError
from bot.telegram.errors import (
    BAD_TOKEN_ERRORS,
    FATAL_RPC_ERRORS,
    LOGIN_HINT,
    NotAuthorizedError,
    fatal_error,
)

logger = logging.getLogger(__name__)

USER_SESSION = "user.session"
BOT_SESSION = "bot.session"
# Telethon sleeps through flood waits up to this many seconds inside the call. The bot
# keeps it short so a long wait reaches the dispatcher, which reschedules the alert
# instead of blocking every other delivery.
BOT_FLOOD_SLEEP = 5
USER_FLOOD_SLEEP = 60
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{5,20}$")
_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")

Prompt = Callable[[str], str]


def user_session_path(settings: Settings) -> Path:
    """The user account's session file."""
    return settings.data_dir / USER_SESSION


def bot_session_path(settings: Settings) -> Path:
    """The bot's session file (separate from the user's: one process per file)."""
    return settings.data_dir / BOT_SESSION


def ensure_private(path: Path) -> None:
    """Make a session file (and SQLite side files) readable by the owner only (0600).

    A session file is a full login: anyone who reads it can act as the account.
    """
    for candidate in (path, *(path.with_name(path.name + s) for s in _SQLITE_SIDE_FILES)):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode != 0o600:
            os.chmod(candidate, 0o600)


def _create_private(path: Path) -> None:
    """Create the session file empty with mode 0600 BEFORE SQLite opens it.

    SQLite would create it with the umask (often 0644); creating it ourselves leaves no
    window in which the login is world-readable. An empty file is a valid empty database.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    ensure_private(path)


def _remove_session(path: Path) -> None:
    """Delete a session file and its SQLite side files, if there."""
    for candidate in (path, *(path.with_name(path.name + s) for s in _SQLITE_SIDE_FILES)):
        candidate.unlink(missing_ok=True)


def check_credentials(settings: Settings) -> list[str]:
    """Environment variable names of every missing setting the Telegram service needs."""
    missing: list[str] = []
    if settings.tg_api_id is None:
        missing.append("TG_API_ID")
    if not settings.tg_api_hash:
        missing.append("TG_API_HASH")
    if not settings.bot_token:
        missing.append("BOT_TOKEN")
    if not settings.alert_chat:
        missing.append("ALERT_CHAT_ID")
    return missing


def _api_credentials(settings: Settings) -> tuple[int, str]:
    missing = [n for n in check_credentials(settings) if n in ("TG_API_ID", "TG_API_HASH")]
    if missing or settings.tg_api_id is None or not settings.tg_api_hash:
        raise SettingsError(
            f"missing {', '.join(missing)}: get them at https://my.telegram.org (API development tools)"
        )
    return settings.tg_api_id, settings.tg_api_hash


def _make_client(settings: Settings, path: Path, **options: Any) -> TelegramClient:
    api_id, api_hash = _api_credentials(settings)
    _create_private(path)
    return TelegramClient(
        str(path),
        api_id,
        api_hash,
        # Raise the real RPC error after Telethon's own retries, not a bare
        # ValueError("Request was unsuccessful"), so callers can classify it.
        raise_last_call_error=True,
        **options,
    )


def make_user_client(settings: Settings, **options: Any) -> TelegramClient:
    """The user account's client (not connected). options go to TelegramClient."""
    options.setdefault("flood_sleep_threshold", USER_FLOOD_SLEEP)
    return _make_client(settings, user_session_path(settings), **options)


def make_bot_client(settings: Settings, **options: Any) -> TelegramClient:
    """The bot's client (not connected). options go to TelegramClient."""
    options.setdefault("flood_sleep_threshold", BOT_FLOOD_SLEEP)
    return _make_client(settings, bot_session_path(settings), **options)


def _session_file(client: TelegramClient) -> Path | None:
    filename = getattr(client.session, "filename", None)
    return Path(filename) if filename else None


async def connect_authorized(
    client: TelegramClient, what: str, *, bot_token: str | None = None
) -> None:
    """Connect and make sure the session is logged in; never prompts.

    The bot signs in with bot_token when its session is new (no human needed). A user
    session that is missing or logged out raises NotAuthorizedError saying what to run.
    Network failures (OSError, ConnectionError) propagate for the caller to retry.
    """
    await client.connect()
    try:
        authorized = await client.is_user_authorized()
        if not authorized and bot_token:
            await client.sign_in(bot_token=bot_token)
            authorized = True
            logger.info("%s client signed in with BOT_TOKEN", what)
    except BAD_TOKEN_ERRORS as exc:
        await client.disconnect()
        raise fatal_error(exc, what) from exc
    except FATAL_RPC_ERRORS as exc:
        await client.disconnect()
        raise NotAuthorizedError(
            f"the Telegram {what} session was revoked ({type(exc).__name__}): {LOGIN_HINT}",
            what=what,
        ) from exc
    if not authorized:
        await client.disconnect()
        where = _session_file(client)
        raise NotAuthorizedError(
            f"the Telegram {what} session {where or ''} is missing or not logged in: {LOGIN_HINT}",
            what=what,
        )
    session = _session_file(client)
    if session is not None:
        ensure_private(session)


def _ask_phone(input: Prompt) -> Callable[[], str]:
    """Phone prompt that refuses a bot token (Telethon would log the bot into user.session)."""

    def ask() -> str:
        prompt = "Phone number of the monitoring account (international, +…): "
        for _ in range(3):
            phone = input(prompt).strip()
            if _PHONE.match(phone):
                return phone
            prompt = "Not a phone number (a bot token belongs in BOT_TOKEN). Phone number: "
        raise SettingsError("no valid phone number given")

    return ask


async def interactive_login(
    settings: Settings,
    input: Prompt = input,
    getpass: Prompt = _getpass.getpass,
    *,
    make_client: Callable[[Settings], TelegramClient] = make_user_client,
) -> str:
    """`milwatch login`: ask for phone, login code and 2FA password; write user.session (0600).

    Returns a one-line description of the logged-in account. The session file is the
    only thing written; run this while the service is stopped (one process per file).
    A login that fails (network, wrong code, Ctrl-C) removes the session file it
    created, so `milwatch run` does not take it for a login; an older one is kept.
    """
    new_session = not user_session_path(settings).exists()
    client = make_client(settings)
    logged_in = False
    try:
        await client.start(
            phone=_ask_phone(input),
            code_callback=lambda: input("Login code Telegram sent you: ").strip(),
            password=lambda: getpass("Two-step verification password: "),
        )
        me = await client.get_me()
        logged_in = True
    except errors.PhoneNumberInvalidError as exc:
        raise SettingsError("Telegram rejected the phone number; use +<country><number>") from exc
    finally:
        session = _session_file(client)
        if session is not None:
            ensure_private(session)
        await client.disconnect()
        if new_session and not logged_in:
            _remove_session(user_session_path(settings))
    if me is None or getattr(me, "bot", False):
        raise NotAuthorizedError(
            "the session logged in as a bot; log in with the phone number of a user account",
            what="user",
        )
    name = f"@{me.username}" if getattr(me, "username", None) else f"id {me.id}"
    return f"logged in as {name}; session saved to {user_session_path(settings)}"
