"""Errors shared by the Telegram adapters: when a session is unusable and what to do about it."""

from __future__ import annotations

from telethon import errors

LOGIN_HINT = "run `milwatch login` (docker: `docker compose run --rm milwatch login`)"

# The session (auth key) or the account behind it is gone: no retry can help, a human
# must log in again. Telethon raises these from any request, so listener and sender
# both use this tuple.
FATAL_RPC_ERRORS: tuple[type[Exception], ...] = (
    errors.AuthKeyUnregisteredError,
    errors.AuthKeyDuplicatedError,
    errors.AuthKeyInvalidError,
    errors.SessionRevokedError,
    errors.SessionExpiredError,
    errors.UserDeactivatedError,
    errors.UserDeactivatedBanError,
)

# A bot token Telegram refuses: the fix is a new token from @BotFather.
BAD_TOKEN_ERRORS: tuple[type[Exception], ...] = (
    errors.AccessTokenInvalidError,
    errors.AccessTokenExpiredError,
)


class FatalTelegramError(Exception):
    """A Telegram session can no longer be used; stop and ask the operator to act.

    Deliberately NOT a SendError: the dispatcher keeps the alert pending (it treats
    unknown errors as transient), so nothing is lost while the operator logs in again.
    """

    def __init__(self, message: str, *, what: str = "") -> None:
        """message says what happened and what to do; what names the client ('user', 'bot')."""
        super().__init__(message)
        self.what = what


class NotAuthorizedError(FatalTelegramError):
    """The session file is missing or not logged in."""


def is_fatal(exc: BaseException) -> bool:
    """Whether exc means the session or account is unusable."""
    return isinstance(exc, FATAL_RPC_ERRORS + BAD_TOKEN_ERRORS)


def fatal_error(exc: BaseException, what: str) -> FatalTelegramError:
    """A FatalTelegramError for exc, with the fix for this kind of client."""
    name = type(exc).__name__
    if isinstance(exc, BAD_TOKEN_ERRORS):
        fix = "BOT_TOKEN was rejected: get the current token from @BotFather and update BOT_TOKEN"
    elif isinstance(exc, errors.AuthKeyDuplicatedError):
        fix = (
            "the session file was used by two processes at once and Telegram revoked it: "
            "stop every other milwatch process using it, then " + LOGIN_HINT
        )
    elif what == "bot":
        fix = (
            "delete bot.session in the data directory and restart (the bot signs in with BOT_TOKEN)"
        )
    else:
        fix = LOGIN_HINT
    return FatalTelegramError(f"Telegram {what} session unusable ({name}): {fix}", what=what)
