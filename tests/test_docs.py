"""The README and docs/ tell the truth: links lead somewhere, quoted output is what the
commands print, and the Docker steps work in the order given."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors: headings lower-cased, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_leads_to_a_file_and_heading_that_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        assert linked.exists(), f"{doc.name}: {target}"
        if anchor:
            assert anchor in _anchors(linked.read_text(encoding="utf-8")), f"{doc.name}: {target}"


def test_the_readme_stays_short() -> None:
    assert len(README.splitlines()) < 350


def test_the_demo_summary_in_the_readme_is_what_make_demo_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (quoted,) = re.findall(r"^summary: .*$", README, re.MULTILINE)
    assert main(["demo", "--db", str(tmp_path / "demo.sqlite3")]) == 0
    assert quoted in capsys.readouterr().out.splitlines()


def test_the_scan_example_in_the_readme_is_what_scan_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (line,) = re.findall(r"^  `(\{\"id\": \"101\".*\})`\.$", README, re.MULTILINE)
    (shown,) = re.findall(r"```json\n(.*?)```", README, re.DOTALL)
    posts = tmp_path / "posts.jsonl"
    posts.write_text(line + "\n", encoding="utf-8")
    assert main(["scan", str(posts), "--format", "jsonl"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = json.loads(shown)
    # The README shows the first hit only.
    assert {**printed, "hits": printed["hits"][:1]} == expected


def test_docker_steps_make_data_before_the_container_needs_it_and_leave_config_alone() -> None:
    steps = README.split("### With Docker", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in steps.splitlines() if line.strip()]
    assert commands.index("mkdir -p data") < commands.index("docker compose run --rm milwatch login")
    everything = "\n".join(p.read_text(encoding="utf-8") for p in [*DOCS, ROOT / "docker-compose.yml"])
    assert "chown -R 10001 config" not in everything and "chown -R 10001 data config" not in everything
    # The container runs as the user the steps put in .env, so it can write ./data and
    # ./config and the analyst keeps the rules file.
    assert any(c.startswith("printf 'MILWATCH_UID=%s") and c.endswith(">> .env") for c in commands)
    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["services"]["milwatch"]["user"] == "${MILWATCH_UID:-10001}:${MILWATCH_GID:-10001}"


def test_the_explain_example_in_the_readme_is_what_explain_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    worked = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8").split("## A worked example", 1)[1]
    example = tmp_path / "example.yaml"
    example.write_text(worked.split("```yaml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    shown = README.split('$ milwatch explain "Россия выводит контенгент" --rules example.yaml\n', 1)[1]
    shown = shown.split("```", 1)[0]
    assert main(["explain", "Россия выводит контенгент", "--rules", str(example)]) == 0
    assert capsys.readouterr().out == shown
