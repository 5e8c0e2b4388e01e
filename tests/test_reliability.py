"""Kill -9 loop: nothing lost, nothing twice after a clean stop, every other repeat marked.

The real `milwatch run` (run_live) runs as a process (tests/reliability_service.py) over
a few thousand posts, with the recording Telegram fakes and real SQLite files, and is
stopped again and again: SIGKILL at random moments, SIGKILL right after Telegram got a
card and before the outbox recorded it, and SIGTERM. A last life runs until everything
is delivered. Then:

- every post the channel published is stored (0 lost);
- every alert the shipped rules raise on them reached the alert chat (0 lost);
- no card went out twice after a SIGTERM or within one life (0 duplicates);
- a card sent again after a SIGKILL is either never sent again (found in the chat by
  its marker) or says it may be a repeat.

Sizes (environment): MILWATCH_RELIABILITY_POSTS (3000), MILWATCH_RELIABILITY_LIVES (40),
MILWATCH_RELIABILITY_SEED (16). The figures are printed (pytest -s) and written to
reliability-report.json in the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from reliability_service import read_lines, text_for
from telegram_fakes import FakeTelegram, OfflineNetwork
from telethon import errors, functions, types
from test_live_service import (  # noqa: F401 - no_network is an autouse fixture
    ALERT_CHANNEL_ID,
    CHANNEL,
    CHANNEL_ID,
    NOISE,
    OPERATOR_CHANNEL_ID,
    WITHDRAWAL,
    Service,
    live_settings,
    no_network,
    rows,
)

from bot.matching import Morphology, build_matcher
from bot.rules import load_rules
from bot.telegram.sender import REPEAT_NOTE

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().parent / "reliability_service.py"
POSTS = int(os.environ.get("MILWATCH_RELIABILITY_POSTS", "3000"))
LIVES = int(os.environ.get("MILWATCH_RELIABILITY_LIVES", "40"))
SEED = int(os.environ.get("MILWATCH_RELIABILITY_SEED", "16"))
STARTUP = 60.0  # seconds a life may take to say "milwatch running" (a loaded CI machine)
MARKER = re.compile(r"/(\d+)#mw([\d.]+)$")


class Life:
    """One process of the service, its files and how it ended."""

    def __init__(self, work: Path, number: int, rate: float, extra: list[str]) -> None:
        self.number = number
        self.out = work / f"life{number}.out"
        self.err = work / f"life{number}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(CHILD), str(work), str(number), str(POSTS), str(rate), *extra],
                stdout=out,
                stderr=err,
                cwd=ROOT,
            )
        self.ended = ""

    def running(self) -> bool:
        """Wait until the service says it runs; False if the process ended first."""
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            if "milwatch running" in self.out.read_text(encoding="utf-8", errors="replace"):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        raise AssertionError(f"life {self.number} did not start: {self.output()}")

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")[-3000:]


def db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return list(conn.execute(sql))


def drained(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        ((posts,),) = db_rows(db, "SELECT COUNT(*) FROM posts")
        ((waiting,),) = db_rows(db, "SELECT COUNT(*) FROM alerts WHERE status = 'pending'")
    except sqlite3.OperationalError:  # not migrated yet
        return False
    return posts == POSTS and waiting == 0


def test_kill_9_loop_loses_nothing_and_marks_every_possible_repeat(
    tmp_path: Path, morph: Morphology
) -> None:
    rng = random.Random(SEED)
    work = tmp_path
    rate = POSTS / (LIVES * 3.0)  # the channel publishes for about as long as the kills go on
    (work / "start").write_text(str(time.time() + 3.0))
    ended: dict[int, str] = {}
    for number in range(1, LIVES + 1):
        mode = rng.choices(["sigkill", "after-send", "sigterm"], weights=[4, 3, 3])[0]
        extra = ["--unreadable"] if rng.random() < 0.5 else []
        if mode == "after-send":
            extra += ["--kill-after-card", str(rng.randint(1, 3))]
        life = Life(work, number, rate, extra)
        if not life.running():
            ended[number] = (
                "self-kill after send" if life.proc.returncode == -signal.SIGKILL else "exit"
            )
            assert life.proc.returncode == -signal.SIGKILL, life.output()
            continue
        span = rng.uniform(8.0, 10.0) if mode == "after-send" else rng.uniform(0.2, 3.0)
        try:
            code = life.proc.wait(timeout=span)
        except subprocess.TimeoutExpired:
            if mode == "sigterm":
                life.proc.send_signal(signal.SIGTERM)
                code = life.proc.wait(timeout=60)
                assert code == 0, f"life {number} did not stop cleanly: {life.output()}"
                ended[number] = "sigterm"
            else:
                life.proc.kill()
                life.proc.wait(timeout=60)
                ended[number] = "sigkill"
        else:
            assert code == -signal.SIGKILL, f"life {number} ended by itself: {life.output()}"
            ended[number] = "self-kill after send"

    # The last life runs until every post is stored and every alert delivered.
    final = Life(work, LIVES + 1, rate, [])
    assert final.running(), final.output()
    db = work / "data" / "milwatch.sqlite3"
    deadline = time.monotonic() + 600
    while not drained(db):
        assert final.proc.poll() is None, final.output()
        assert time.monotonic() < deadline, f"not drained in time: {final.output()}"
        time.sleep(0.5)
    final.proc.send_signal(signal.SIGTERM)
    assert final.proc.wait(timeout=60) == 0, final.output()
    ended[LIVES + 1] = "sigterm"

    # -- posts: every one published is stored -------------------------------------------
    stored = sorted(int(m) for (m,) in db_rows(db, "SELECT msg_id FROM posts"))
    assert stored == list(range(1, POSTS + 1))

    # -- alerts: the shipped rules' hits, each in the outbox and in the chat ------------
    matcher = build_matcher(load_rules(ROOT / "config" / "rules.yaml"), morph)
    hits = {i: matcher.match(text_for(i)) for i in range(1, POSTS + 1)}
    expected = {(i, hit.rule_id) for i, found in hits.items() for hit in found if hit.alerts}
    assert expected  # the stream does alert
    stored_hits = db_rows(
        db, "SELECT CAST(p.msg_id AS INTEGER), h.rule_id FROM hits h JOIN posts p ON p.id = h.post_id"
    )
    assert set(stored_hits) == {(i, hit.rule_id) for i, found in hits.items() for hit in found}
    alerts = db_rows(
        db,
        "SELECT a.id, CAST(p.msg_id AS INTEGER), h.rule_id, a.status FROM alerts a"
        " JOIN hits h ON h.id = a.hit_id JOIN posts p ON p.id = h.post_id",
    )
    assert {(msg, rule) for _, msg, rule, _ in alerts} == expected
    assert {status for *_, status in alerts} == {"sent"}
    post_of = {alert_id: msg for alert_id, msg, _, _ in alerts}

    chat = read_lines(work / "chat.jsonl")
    copies: dict[int, list[dict[str, Any]]] = {}
    for message in chat:
        for url in message["markers"]:
            found = MARKER.search(url)
            assert found, url
            for alert_id in map(int, found.group(2).split(".")):
                assert post_of[alert_id] == int(found.group(1))  # the marker names its post
                copies.setdefault(alert_id, []).append(message)
    lost = sorted(set(post_of) - set(copies))
    assert lost == []

    # -- duplicates: never after a clean stop, marked after a kill ----------------------
    forbidden, marked = [], []
    for alert_id, sent in copies.items():
        for earlier, later in pairwise(sent):
            how = ended[earlier["life"]]
            if earlier["life"] == later["life"] or how == "sigterm":
                forbidden.append((alert_id, earlier["life"], later["life"], how))
            elif REPEAT_NOTE in later["text"]:
                marked.append(alert_id)
            else:
                forbidden.append((alert_id, earlier["life"], later["life"], how + ", unmarked"))
    assert forbidden == []

    doubt = Counter[str]()
    for number in ended:
        log = (work / f"life{number}.err").read_text(errors="replace")
        for found, sure, unknown in re.findall(
            r"were in doubt \(a send was interrupted\): (\d+) found in the chat, (\d+) surely"
            r" not sent, (\d+) unknown",
            log,
        ):
            doubt.update(found=int(found), not_sent=int(sure), unknown=int(unknown))
    report = {
        "command": f"MILWATCH_RELIABILITY_POSTS={POSTS} MILWATCH_RELIABILITY_LIVES={LIVES} "
        f"MILWATCH_RELIABILITY_SEED={SEED} .venv/bin/python -m pytest -q -s -m slow "
        "tests/test_reliability.py",
        "posts_published": POSTS,
        "posts_stored": len(stored),
        "lives": len(ended),
        "ended_by": dict(Counter(ended.values())),
        "alerts": len(alerts),
        "alerts_lost": len(lost),
        "chat_messages": len(chat),
        "alerts_delivered_twice": len(marked) + len(forbidden),
        "repeats_marked": len(marked),
        "duplicates_unmarked_or_after_sigterm": len(forbidden),
        "alerts_in_doubt_found_in_chat_not_resent": doubt["found"],
        "alerts_in_doubt_not_in_chat_sent_once": doubt["not_sent"],
        "alerts_in_doubt_chat_unreadable_sent_marked": doubt["unknown"],
    }
    (work / "reliability-report.json").write_text(json.dumps(report, indent=2))
    print("\nkill-9 loop:", json.dumps(report, indent=2))
    assert ended and Counter(ended.values())["self-kill after send"] > 0


# -- fault-injected sends: every alert sent or reported ------------------------------------


@pytest.fixture
def shipped_rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules (MILWATCH_RULES points here)."""
    path = tmp_path / "rules.yaml"
    path.write_text((ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


class FaultyNetwork(OfflineNetwork):
    """The bot's Telegram, failing chosen alert-chat sends the way Telegram does.

    faults[n] is what happens to the n-th card sent (0-based): "hang" (Telegram got it,
    the answer never comes), "flood" (FloodWait 2 s: Telethon sleeps through it),
    "flood-day" (FloodWait of a day), "timeout" (TimedOut, Telethon retries), "5xx"
    (ServerError), "rpc-fail" (RpcCallFail) and "reset" (the connection drops). Any
    message naming the post refused_post is refused (ChatWriteForbidden: only a human
    can fix what makes Telegram refuse it).
    """

    def __init__(self, faults: dict[int, str], refused_post: int | None = None) -> None:
        super().__init__()
        self.faults = faults
        self.refused = f"/{refused_post}#mw" if refused_post else None
        self.cards = 0

    def send(self, request: Any, ordered: bool = False) -> Any:
        to_alert_chat = (
            isinstance(request, functions.messages.SendMessageRequest)
            and isinstance(request.peer, types.InputPeerChannel)
            and request.peer.channel_id == ALERT_CHANNEL_ID
        )
        if not to_alert_chat:
            return super().send(request, ordered)
        fault = self.faults.get(self.cards)
        self.cards += 1
        if self.refused and any(
            self.refused in (e.url or "")
            for e in request.entities or []
            if isinstance(e, types.MessageEntityTextUrl)
        ):
            fault = "forbidden"
        loop = asyncio.get_running_loop()
        if fault == "hang":
            super().send(request, ordered)  # in the chat; the answer is lost
            return loop.create_future()
        errors_ = {
            "flood": errors.FloodWaitError(request=None, capture=2),
            "flood-day": errors.FloodWaitError(request=None, capture=86400),
            "timeout": errors.TimedOutError(request, "Timeout", -503),
            "5xx": errors.ServerError(request, "NO_WORKERS", 500),
            "rpc-fail": errors.RpcCallFailError(request=None),
            "reset": ConnectionResetError("connection reset by peer"),
            "forbidden": errors.ChatWriteForbiddenError(request=None),
        }
        if fault is None:
            return super().send(request, ordered)
        self.requests.append(request)
        future = loop.create_future()
        future.set_exception(errors_[fault])
        return future


@pytest.mark.parametrize(
    ("faults", "refused_post"),
    [
        ({0: "hang", 1: "5xx", 2: "timeout", 3: "reset", 4: "flood", 5: "rpc-fail", 7: "hang"}, 30),
        ({0: "timeout", 2: "flood-day"}, None),
    ],
    ids=["transient-faults-and-a-refusal", "a-day-long-flood-wait"],
)
async def test_fault_injected_sends_every_alert_is_sent_or_reported(
    tmp_path: Path, shipped_rules: Path, faults: dict[int, str], refused_post: int | None
) -> None:
    settings = live_settings(tmp_path, shipped_rules)
    telegram = FakeTelegram()
    telegram.add_channel(CHANNEL_ID, CHANNEL, title="Front line")
    now = datetime.now(UTC)
    for msg_id in range(1, 37):  # 12 posts that alert, one card each
        text = f"{WITHDRAWAL}, день {msg_id}" if msg_id % 3 == 0 else f"{NOISE}, {msg_id}"
        telegram.post(CHANNEL_ID, msg_id, text, date=now - timedelta(minutes=40 - msg_id))
    network = FaultyNetwork(faults, refused_post)
    telegram.readable_chats = network.chats  # the user account can check the alert chat
    service = Service(settings, telegram, network=network)
    # Telethon sleeps 2 s before retrying a 5xx or a timeout itself: a hung send is one
    # that takes longer than that.
    service.options = {"send_timeout": 5.0, "delay_notice": timedelta(seconds=10)}
    db = settings.database
    day_long = "flood-day" in faults.values()

    def settled() -> bool:
        if not db.exists() or rows(db, "SELECT COUNT(*) FROM alerts")[0][0] < 36:
            return False
        pending = rows(db, "SELECT COUNT(*) FROM alerts WHERE status = 'pending'")[0][0]
        return any("delivery delayed" in n for n in notices()) if day_long else pending == 0

    def notices() -> list[str]:
        """What the operator was told: by the bot in the operator chat, or (when the bot
        cannot send at all) by the user account."""
        return [m.message for m in service.sent_to(OPERATOR_CHANNEL_ID)] + [
            m.message for m in telegram.sent
        ]

    await service.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while not settled():
        assert loop.time() < deadline, service.output()
        await asyncio.sleep(0.1)
    assert await service.finish() == 0

    told = notices()
    in_chat = Counter(
        alert_id
        for m in network.chats.get(ALERT_CHANNEL_ID, [])
        for e in m.entities or []
        if isinstance(e, types.MessageEntityTextUrl) and "#mw" in e.url
        for alert_id in map(int, e.url.split("#mw")[1].split("."))
    )
    outbox = rows(db, "SELECT id, status, created_at FROM alerts")
    unreported = []
    for alert_id, status, _ in outbox:
        if status == "sent":
            if in_chat[alert_id] != 1:  # delivered, and only once (the hung card was found)
                unreported.append((alert_id, status, in_chat[alert_id]))
        elif status == "failed":
            if not any(re.search(rf"#{alert_id}\b", n) and "given up" in n for n in told):
                unreported.append((alert_id, status, "no notice"))
        elif not any("alert delivery delayed" in n for n in told):
            unreported.append((alert_id, status, "no notice"))
    assert unreported == []
    statuses = Counter(status for _, status, _ in outbox)
    if day_long:
        assert statuses["pending"] > 0
        (delayed,) = [n for n in told if "delivery delayed" in n]  # told once
        assert "flood wait 86400s" in delayed
    else:
        assert statuses["pending"] == 0 and statuses["failed"] == 3  # the refused card's 3 rules
        assert statuses["sent"] == 33
