"""Analyst commands shared by the demo console and the Telegram bot."""

from __future__ import annotations

from bot.commands.handler import (
    ChannelsCommand,
    Command,
    CommandError,
    CommandHandler,
    Duration,
    HelpCommand,
    RecentCommand,
    RulesCommand,
    SearchCommand,
    StatsCommand,
    parse_command,
    parse_duration,
)

__all__ = [
    "ChannelsCommand",
    "Command",
    "CommandError",
    "CommandHandler",
    "Duration",
    "HelpCommand",
    "RecentCommand",
    "RulesCommand",
    "SearchCommand",
    "StatsCommand",
    "parse_command",
    "parse_duration",
]
