"""Channel health: ok, quiet, silent or error, judged against each channel's own rhythm.

- error: reading the channel fails (private now, the account was kicked or banned, no
  such username, a flood wait that keeps it unread);
- silent: no post for well past its usual longest gap at this hour (twice that, and at
  least an hour): something may be wrong, the operator is told;
- quiet: quieter than usual, or no post seen yet, or its rhythm is still being learned
  and nothing came for days: shown, nobody is told;
- ok: posting as usual.

/channels, `milwatch status` and the demo show the same verdicts, worst first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.alerts.card import display_channel, format_time
from bot.health.rhythm import LEARN_WINDOW, Rhythm
from bot.storage import Store

STATES = ("error", "silent", "quiet", "ok")  # worst first
ICONS = {"error": "🔴", "silent": "🟠", "quiet": "🟡", "ok": "🟢"}
SILENT_FACTOR = 2.0  # "well past" the usual longest gap
MIN_SILENCE = timedelta(hours=1)  # never silent sooner: chatty channels pause too
MIN_QUIET = timedelta(minutes=30)
UNLEARNED_QUIET = timedelta(days=3)  # no rhythm yet: quiet after this long without a post


@dataclass(frozen=True)
class ChannelObservation:
    """What is known about one channel now: from the store, and from the listener if it runs."""

    channel: str
    title: str | None = None
    last_post_at: datetime | None = None
    last_msg_id: int | None = None
    last_error: str | None = None
    last_read_at: datetime | None = None  # the last successful read of its history
    blocked: bool = False  # reading it was given up until a restart (private, no such name)


@dataclass(frozen=True)
class ChannelVerdict:
    """One channel's state and why."""

    observation: ChannelObservation
    state: str
    reason: str
    lag: timedelta | None = None  # how long since its newest post
    usual_gap: timedelta | None = None  # its usual longest gap at the hour of that post
    silent_after: timedelta | None = None

    @property
    def channel(self) -> str:
        """The channel's stored name."""
        return self.observation.channel


def assess_channel(obs: ChannelObservation, rhythm: Rhythm | None, now: datetime) -> ChannelVerdict:
    """The verdict on one channel at now; pure."""
    if obs.last_error:
        return ChannelVerdict(obs, "error", obs.last_error, _lag(obs, now))
    if obs.last_post_at is None:
        return ChannelVerdict(obs, "quiet", "no post seen yet")
    lag = _lag(obs, now)
    assert lag is not None
    usual = rhythm.usual_longest_gap(obs.last_post_at.hour) if rhythm is not None else None
    if usual is None:
        posts = rhythm.posts if rhythm is not None else 0
        learning = f"rhythm still being learned ({posts} post(s) in {LEARN_WINDOW.days} days)"
        if lag > UNLEARNED_QUIET:
            return ChannelVerdict(obs, "quiet", f"no post for {span(lag)}; {learning}", lag)
        return ChannelVerdict(obs, "ok", learning, lag)
    silent_after = max(usual * SILENT_FACTOR, MIN_SILENCE)
    usually = f"at this hour it usually posts again within {span(usual)}"
    if lag > silent_after:
        state, reason = "silent", f"no post for {span(lag)}; {usually}"
    elif lag > max(usual, MIN_QUIET):
        state, reason = "quiet", f"no post for {span(lag)}; {usually}"
    else:
        state, reason = "ok", usually
    return ChannelVerdict(obs, state, reason, lag, usual, silent_after)


def _lag(obs: ChannelObservation, now: datetime) -> timedelta | None:
    if obs.last_post_at is None:
        return None
    return max(now - obs.last_post_at, timedelta(0))  # a post "from the future": clock skew


def worst_first(verdicts: Iterable[ChannelVerdict]) -> list[ChannelVerdict]:
    """Errors, then silent, quiet and ok channels; the longest silence first within each."""
    return sorted(
        verdicts,
        key=lambda v: (
            STATES.index(v.state),
            -(v.lag.total_seconds() if v.lag is not None else float("inf")),
            v.channel.casefold(),
        ),
    )


async def learn_rhythms(store: Store, now: datetime) -> dict[str, Rhythm]:
    """Every channel's rhythm from its posts of the last LEARN_WINDOW (one query)."""
    times = await store.post_times(now - LEARN_WINDOW)
    return {channel.casefold(): Rhythm.learn_seconds(t) for channel, t in times.items()}


async def stored_observations(store: Store) -> list[ChannelObservation]:
    """Every channel the store knows, with the last read a running service recorded."""
    records = await store.health_records("channel")
    return [
        ChannelObservation(
            channel=c.username,
            title=c.title,
            last_post_at=c.last_post_at,
            last_msg_id=c.last_msg_id,
            last_error=c.last_error,
            last_read_at=records[c.username].last_read_at if c.username in records else None,
        )
        for c in await store.list_channels()
    ]


async def channel_verdicts(
    store: Store,
    now: datetime,
    observations: Sequence[ChannelObservation] | None = None,
    rhythms: Mapping[str, Rhythm] | None = None,
) -> list[ChannelVerdict]:
    """Verdicts on the given channels (default: every stored one), worst first."""
    if observations is None:
        observations = await stored_observations(store)
    if rhythms is None:
        rhythms = await learn_rhythms(store, now)
    return worst_first(
        assess_channel(obs, rhythms.get(obs.channel.casefold()), now) for obs in observations
    )


def span(delta: timedelta) -> str:
    """'45m', '3h 20m', '2d 4h' (a duration, not an age)."""
    minutes = max(int(delta.total_seconds()) // 60, 0)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def ago(delta: timedelta) -> str:
    """'just now' or '5m ago' (and 'in the future' for clock skew)."""
    if delta < timedelta(0):
        return "in the future (clock skew?)"
    return "just now" if delta < timedelta(minutes=1) else f"{span(delta)} ago"


def format_channels(
    verdicts: Sequence[ChannelVerdict],
    now: datetime,
    failures: Mapping[str, Mapping[str, int]] | None = None,
    indent: str = "",
    positions: Mapping[str, int | None] | None = None,
) -> list[str]:
    """One head line per channel (state, name, newest post, last read) and a line saying why.

    positions (for `milwatch status`): where reading each channel resumes.
    """
    counts = {state: sum(v.state == state for v in verdicts) for state in STATES}
    lines = [
        f"{indent}{len(verdicts)} channel(s), worst first: "
        + ", ".join(f"{counts[state]} {state}" for state in STATES)
    ]
    for verdict in verdicts:
        obs = verdict.observation
        head = f"{ICONS[verdict.state]} {verdict.state} · {display_channel(obs.channel)}"
        if obs.title:
            head += f" ({obs.title})"
        if obs.last_post_at is not None:
            head += f" · last post {format_time(obs.last_post_at)}"
            head += f" (#{obs.last_msg_id})" if obs.last_msg_id else ""
            head += f", {ago(now - obs.last_post_at)}"
        if obs.last_read_at is not None:
            head += f" · checked {ago(now - obs.last_read_at)}"
        if positions is not None:
            position = positions.get(obs.channel)
            head += f" · read up to {'nothing yet' if position is None else f'#{position}'}"
        lines.append(indent + head)
        if verdict.state != "ok" or verdict.usual_gap is None:
            lines.append(f"{indent}   {verdict.reason}")
        failed = (failures or {}).get(obs.channel, {})
        if failed.get("retrying") or failed.get("dead"):
            lines.append(
                f"{indent}   posts that failed to store: {failed.get('retrying', 0)} being"
                f" retried, {failed.get('dead', 0)} dead letter(s)"
                " (`milwatch status`, `milwatch replay`)"
            )
    return lines


async def channels_report(store: Store, now: datetime) -> str:
    """The /channels answer: every stored channel's health, worst first."""
    verdicts = await channel_verdicts(store, now)
    if not verdicts:
        return "No channels yet: none configured (CHANNELS) or none read so far."
    failures = await store.ingest_failure_counts()
    return "\n".join(format_channels(verdicts, now, failures))
