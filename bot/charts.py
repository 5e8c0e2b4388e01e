"""Charts for /stats and `milwatch stats --png`: hits per day per topic, and the top channels.

Rendered with matplotlib's object API and its Agg canvas (no display, no pyplot
globals), imported only when a chart is drawn: scan and run never pay for it.
matplotlib comes with the optional `charts` extra (installed by `make` and the Docker
image); without it a chart request says how to install it.

Hits are counted by the date of their post (UTC days): a backfill or a replay draws
the days the posts were written, not the minute they were read.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.storage import Store
from bot.storage.health import ChannelCount

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSTALL_HINT = "charts need matplotlib: pip install 'milwatch[charts]' (make and Docker install it)"
TOP_CHANNELS = 10
WIDTH, HEIGHT, DPI = 10.0, 7.5, 100  # a 1000x750 PNG, readable on a phone


class ChartsUnavailable(RuntimeError):
    """matplotlib is not installed."""


@dataclass(frozen=True)
class Picture:
    """A reply that is an image: PNG bytes, a caption and a file name."""

    png: bytes
    caption: str
    filename: str = "milwatch-stats.png"


@dataclass(frozen=True)
class ChartData:
    """What a stats chart shows: per topic, alerting and quiet hits per day; top channels."""

    since: datetime
    until: datetime
    days: list[str]  # every UTC day from since to until, YYYY-MM-DD
    alerting: dict[str, list[int]] = field(default_factory=dict)  # topic -> count per day
    quiet: dict[str, list[int]] = field(default_factory=dict)
    channels: list[ChannelCount] = field(default_factory=list)

    @property
    def hits(self) -> int:
        """Every hit drawn."""
        return sum(map(sum, self.alerting.values())) + sum(map(sum, self.quiet.values()))

    @property
    def topics(self) -> list[str]:
        """Topics with at least one hit, by name."""
        return sorted(self.alerting)


async def chart_data(store: Store, since: datetime, until: datetime) -> ChartData:
    """Read the counts for a chart of [since, until) from the store."""
    days = []
    day = since.date()
    while day <= until.date():
        days.append(day.isoformat())
        day += timedelta(days=1)
    index = {d: i for i, d in enumerate(days)}
    alerting: dict[str, list[int]] = {}
    quiet: dict[str, list[int]] = {}
    for row in await store.hits_per_day(since, until):
        if row.day not in index:
            continue
        alerting.setdefault(row.topic, [0] * len(days))[index[row.day]] += row.alerting
        quiet.setdefault(row.topic, [0] * len(days))[index[row.day]] += row.quiet
    channels = await store.hits_by_channel(since, until, TOP_CHANNELS)
    return ChartData(since, until, days, alerting, quiet, channels)


def build_figure(data: ChartData) -> Figure:
    """The figure: stacked bars per day (each topic alerting, then quiet), top channels below."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ChartsUnavailable(INSTALL_HINT) from exc

    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    per_day, per_channel = fig.subplots(2, 1, height_ratios=(3, 2))
    period = f"{data.days[0]} to {data.days[-1]}" if data.days else ""
    fig.suptitle(f"milwatch: {data.hits} hit(s), {period} (UTC, by post date)")

    positions = list(range(len(data.days)))
    bottom = [0] * len(data.days)
    colours = _colours(len(data.topics))
    for topic, colour in zip(data.topics, colours, strict=True):
        for kind, counts in (("alerting", data.alerting[topic]), ("quiet", data.quiet[topic])):
            if not any(counts):
                continue
            quiet = kind == "quiet"
            per_day.bar(
                positions, counts, bottom=bottom, color=colour, label=f"{topic} ({kind})",
                alpha=0.35 if quiet else 1.0, hatch="//" if quiet else None, edgecolor=colour,
            )
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    per_day.set_title("Hits per day by topic (hatched: kept quiet by the relevance stage)")
    per_day.set_ylabel("hits")
    step = max(1, -(-len(data.days) // 10))  # at most 10 date labels
    per_day.set_xticks(positions[::step], [d[5:] for d in data.days[::step]])
    per_day.yaxis.get_major_locator().set_params(integer=True)
    if data.hits:
        per_day.set_ylim(top=max(bottom) * 1.1 + 0.5)
        per_day.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    else:
        per_day.text(0.5, 0.5, "no hits in this period", ha="center", va="center",
                     transform=per_day.transAxes)

    names = [f"@{c.channel}" for c in reversed(data.channels)]
    loud = [c.alerting for c in reversed(data.channels)]
    soft = [c.quiet for c in reversed(data.channels)]
    per_channel.barh(names, loud, color="#c0392b", label="alerting")
    per_channel.barh(names, soft, left=loud, color="#c0392b", alpha=0.35, hatch="//",
                     edgecolor="#c0392b", label="quiet")
    per_channel.set_title(f"Top {len(data.channels)} channel(s) by hits")
    if data.channels:
        per_channel.set_xlim(right=max(a + q for a, q in zip(loud, soft, strict=True)) * 1.08)
    per_channel.xaxis.get_major_locator().set_params(integer=True)
    if data.channels:
        per_channel.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


def render_png(data: ChartData) -> bytes:
    """The chart as PNG bytes."""
    from PIL import Image  # comes with matplotlib

    figure = build_figure(data)
    drawn = io.BytesIO()
    with warnings.catch_warnings():
        # A channel name in a script the font lacks draws as boxes; not worth a warning.
        warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
        figure.savefig(drawn, format="png")
    # Without the alpha channel Agg adds: smaller, and Telegram clients take it as is.
    rgb = io.BytesIO()
    Image.open(drawn).convert("RGB").save(rgb, format="png")
    return rgb.getvalue()


async def stats_picture(store: Store, since: datetime, until: datetime, label: str) -> Picture:
    """/stats as a picture, with a one-line caption."""
    data = await chart_data(store, since, until)
    quiet = sum(map(sum, data.quiet.values()))
    caption = (
        f"Hits in the last {label}: {data.hits} ({quiet} kept quiet), "
        f"{len(data.topics)} topic(s), top channel: "
        + (f"@{data.channels[0].channel}" if data.channels else "none")
    )
    # Drawing takes most of a second: in a thread, so the service does not pause.
    return Picture(await asyncio.to_thread(render_png, data), caption)


def describe_chart(data: ChartData) -> str:
    """The chart's numbers as text: totals, per topic, top channels."""
    quiet = sum(map(sum, data.quiet.values()))
    period = f"{data.days[0]} to {data.days[-1]}" if data.days else "no days"
    lines = [f"Hits from {period} (UTC, by post date): {data.hits} ({quiet} kept quiet)"]
    for topic in data.topics:
        loud, soft = sum(data.alerting[topic]), sum(data.quiet[topic])
        busiest = max(range(len(data.days)), key=lambda i: data.alerting[topic][i] + data.quiet[topic][i])
        lines.append(
            f"  {topic}: {loud + soft} ({soft} quiet); busiest day {data.days[busiest]}"
        )
    if data.channels:
        lines.append(
            "  top channels: "
            + ", ".join(f"@{c.channel} {c.alerting + c.quiet}" for c in data.channels)
        )
    return "\n".join(lines)


def _colours(count: int) -> list[str]:
    palette = ["#c0392b", "#2471a3", "#229954", "#b9770e", "#7d3c98", "#148f77", "#566573"]
    return [palette[i % len(palette)] for i in range(count)]
