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
