"""`milwatch run` refuses to start, with a message saying what to do, before any network."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOOD = {
    "TG_API_ID": "123456",
    "TG_API_HASH": "0123456789abcdef0123456789abcdef",
    "BOT_TOKEN": "123:ABC",
    "ALERT_CHAT_ID": "-1001234567890",
    "CHANNELS": "@example_channel",
}


def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> Path:
    values = {**GOOD, "MILWATCH_DATA_DIR": str(tmp_path / "data"),
              "MILWATCH_RULES": str(ROOT / "config" / "rules.yaml"), **overrides}
    path = tmp_path / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items() if v is not None), encoding="utf-8")
    for key in (*GOOD, "MILWATCH_DATA_DIR", "MILWATCH_RULES"):
        monkeypatch.delenv(key, raising=False)  # the process environment would win over .env
    return path


def test_missing_credentials_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    env = _env(tmp_path, monkeypatch, TG_API_HASH="", BOT_TOKEN="")
    assert main(["run", "--env-file", str(env)]) == 2
    err = capsys.readouterr().err
    assert "TG_API_HASH" in err and "BOT_TOKEN" in err and ".env" in err


def test_missing_session_says_to_log_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    env = _env(tmp_path, monkeypatch)
    assert main(["run", "--env-file", str(env)]) == 2
    err = capsys.readouterr().err
    assert "milwatch login" in err and "docker compose run --rm milwatch login" in err


def test_broken_rules_refuse_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("topics: {t: x}\nconcepts: {a: [b]}\nrules:\n  - id: r\n    topic: t\n    match: a NEAR c\n",
                     encoding="utf-8")
    env = _env(tmp_path, monkeypatch, MILWATCH_RULES=str(rules))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "user.session").write_bytes(b"")  # present; never opened here
    assert main(["run", "--env-file", str(env)]) == 2
    err = capsys.readouterr().err
    assert f"{rules}:6:" in err and "unknown concept 'c'" in err and "nothing was started" in err


def test_route_without_a_chat_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "routes: {urgent: 'env:URGENT'}\ntopics: {t: x}\nconcepts: {a: [b]}\n"
        "rules:\n  - id: r\n    topic: t\n    route: urgent\n    match: a\n", encoding="utf-8")
    env = _env(tmp_path, monkeypatch, MILWATCH_RULES=str(rules))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "user.session").write_bytes(b"")
    assert main(["run", "--env-file", str(env)]) == 2
    assert "ROUTE_URGENT" in capsys.readouterr().err


def test_health_without_a_running_service_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    env = _env(tmp_path, monkeypatch)
    assert main(["health", "--env-file", str(env)]) == 1
    assert "no heartbeat" in capsys.readouterr().err


# -- milwatch login ------------------------------------------------------------------
async def test_login_without_a_network_says_so_in_one_line_and_leaves_no_session(tmp_path: Path) -> None:
    """A Telegram server that drops the connection (what a broken network looks like to
    Telethon: IncompleteReadError) gets one line and exit 1, like `run`, not a traceback;
    the half-made session file is removed, so `run` does not take it for a login."""
    import asyncio
    import io

    from bot.app import run_login
    from bot.settings import Settings
    from bot.telegram.clients import make_user_client

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def unreachable(settings: Settings) -> object:
        client = make_user_client(settings, connection_retries=0, retry_delay=0)
        client.session.set_dc(2, "127.0.0.1", port)
        return client

    data = tmp_path / "data"
    settings = Settings(tg_api_id=1, tg_api_hash="0123456789abcdef", data_dir=data)
    out, err = io.StringIO(), io.StringIO()
    async with server:
        code = await run_login(settings, out, err, make_client=unreachable, input=lambda prompt: "")
    assert code == 1
    assert err.getvalue().splitlines() == [
        "milwatch login: cannot reach Telegram: IncompleteReadError: "
        "0 bytes read on a total of 8 expected bytes; nothing was saved, try again"
    ]
    assert out.getvalue() == ""
    assert not (data / "user.session").exists()
    assert [p.name for p in data.iterdir()] == []


async def test_a_failed_login_keeps_an_existing_session(tmp_path: Path) -> None:
    """Logging in again over a working session and failing must not log the service out."""
    import asyncio
    import io

    from bot.app import run_login
    from bot.settings import Settings
    from bot.telegram.clients import make_user_client

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    data = tmp_path / "data"
    settings = Settings(tg_api_id=1, tg_api_hash="0123456789abcdef", data_dir=data)
    first = make_user_client(settings)  # a session file that exists before the login
    first.session.set_dc(2, "127.0.0.1", port)
    first.session.close()

    def unreachable(settings: Settings) -> object:
        return make_user_client(settings, connection_retries=0, retry_delay=0)

    async with server:
        code = await run_login(settings, io.StringIO(), io.StringIO(), make_client=unreachable,
                               input=lambda prompt: "")
    assert code == 1
    from telethon.sessions import SQLiteSession

    kept = SQLiteSession(str(data / "user.session"))
    assert (kept.server_address, kept.port) == ("127.0.0.1", port)
    kept.close()


def test_run_starts_without_telethon_chatter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At LOG_LEVEL=INFO, every start opened with 'INFO telethon.crypto.aes: libssl detected…'.
    A fresh process, as an operator starts it: telethon logs that once, when imported."""
    import subprocess
    import sys

    env = _env(tmp_path, monkeypatch, LOG_LEVEL="INFO")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--env-file", str(env)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"milwatch run: no Telegram user session at {tmp_path / 'data' / 'user.session'}: run "
        "`milwatch login` once (docker: `docker compose run --rm milwatch login`), then start again"
    ]
