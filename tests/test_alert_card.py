"""Alert card: exact highlighting, excerpt windows, HTML safety and message splitting."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from html.parser import HTMLParser

from conftest import T0, make_hit, make_post
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.card import (
    Fragment,
    build_card,
    build_excerpt,
    render_excerpt,
    render_html,
    render_text,
)
from bot.domain import Severity, StoredHit

TEXT = "Сегодня начался отвод войск от Херсона."


class _TagChecker(HTMLParser):
    """Collects tags and checks nesting, like Telegram's strict HTML parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text += data


def _check_html(chunk: str) -> _TagChecker:
    checker = _TagChecker()
    checker.feed(chunk)
    checker.close()
    assert checker.stack == [], f"unclosed tags {checker.stack}"
    assert set(checker.tags) <= {"b", "i", "code", "a"}
    # no cut entity: every '&' starts a complete entity
    assert not re.search(r"&(?!(?:amp|lt|gt|quot|#x27|#\d+);)", chunk)
    return checker


def test_highlights_exact_spans() -> None:
    hit = make_hit(TEXT, ["отвод", "войск"])
    card = build_card(make_post(TEXT, channel_title="Front"), hit)
    assert [f.text for f in card.excerpt if f.highlight] == ["отвод", "войск"]
    assert "".join(f.text for f in card.excerpt) == TEXT
    text = render_text(card, color=False)
    assert "Сегодня начался [[отвод]] [[войск]] от Херсона." in text
    assert "@frontnews (Front)" in text and "2024-05-01 12:00 UTC" in text
    assert "[HIGH] withdrawal · rule withdrawal.core" in text
    assert "https://t.me/frontnews/1" in text
    colored = render_text(card, color=True)
    assert "\x1b[1;33mотвод\x1b[0m" in colored
    # The header is bold in a terminal, not "\ufffd[1m[HIGH] … \ufffd[0m".
    assert colored.splitlines()[0] == "\x1b[1m[HIGH] withdrawal · rule withdrawal.core\x1b[0m"
    assert "\ufffd" not in colored


def test_separate_spans_highlighted_separately() -> None:
    hit = make_hit(TEXT, ["отвод", "Херсона"])
    excerpt = render_excerpt(build_card(make_post(TEXT), hit).excerpt)
    assert excerpt == "Сегодня начался [[отвод]] войск от [[Херсона]]."


def test_long_text_gets_windows_around_spans() -> None:
    filler = "слово " * 200
    text = f"{filler}начался отвод войск {filler}и эвакуация жителей {filler}"
    hit = make_hit(text, ["отвод", "эвакуация"])
    fragments = build_card(make_post(text), hit).excerpt
    rendered = render_excerpt(fragments)
    assert rendered.startswith("… ") and rendered.endswith(" …")
    assert " … " in rendered.strip("… ")  # two separate windows
    assert "[[отвод]]" in rendered and "[[эвакуация]]" in rendered
    assert len("".join(f.text for f in fragments)) <= 420
    # windows end on word boundaries
    for fragment in fragments:
        if not fragment.gap and not fragment.highlight:
            assert "слов " not in fragment.text.replace("слово ", "")


def test_spans_are_offsets_into_original_text_and_are_clamped() -> None:
    text = "A & B <i>отвод</i>"
    start = text.index("отвод")
    fragments = build_excerpt(text, [(start, start + 5), (500, 600), (3, 2)])
    assert [f.text for f in fragments if f.highlight] == ["отвод"]
    assert build_excerpt("", [(0, 5)]) == ()


def test_no_spans_shows_beginning() -> None:
    text = "начало " * 100
    fragments = build_excerpt(text, [], max_chars=50)
    assert fragments[0].text.startswith("начало") and fragments[-1] == Fragment(" …", gap=True)


def test_html_escapes_post_content_and_cannot_inject() -> None:
    text = '<script>alert(1)</script> & &amp; <b>отвод</b> <a href="x">'
    hit = make_hit(text, ["отвод"])
    post = make_post(text, channel_title="<i>evil</i>", forwarded_from="A&B")
    (chunk,) = render_html(build_card(post, hit))
    checker = _check_html(chunk)
    assert "<script>" not in chunk and "&lt;script&gt;" in chunk
    assert "&amp;amp;" in chunk  # an entity in the post stays literal text
    assert "&lt;b&gt;<b>отвод</b>&lt;/b&gt;" in chunk  # our highlight, their tags escaped
    assert "&lt;i&gt;evil&lt;/i&gt;" in chunk
    assert checker.tags.count("a") == 1  # only our link
    assert text in checker.text  # round-trips to the original characters


def test_link_with_unsafe_scheme_is_not_a_link() -> None:
    post = make_post(TEXT, link='javascript:alert("x")')
    (chunk,) = render_html(build_card(post, make_hit(TEXT, ["отвод"])))
    assert "<a " not in chunk and "javascript:alert(&quot;x&quot;)" in chunk


def test_link_href_is_escaped() -> None:
    post = make_post(TEXT, link='https://t.me/x/1?a=1&b="2"')
    (chunk,) = render_html(build_card(post, make_hit(TEXT, ["отвод"])))
    assert '<a href="https://t.me/x/1?a=1&amp;b=&quot;2&quot;">' in chunk
    _check_html(chunk)


def test_long_post_splits_under_limit_without_breaking_markup() -> None:
    words = ["<отвод>", "&войск", "эвакуация", "👍🏽", "a&amp;b", "текст"]
    text = " ".join(words[i % len(words)] for i in range(3000))
    spans = [(m.start(), m.end()) for m in re.finditer("<отвод>|эвакуация", text)]
    hit = make_hit(text, ["<отвод>"])
    card = build_card(make_post(text), hit, max_chars=len(text))
    card = replace(card, excerpt=build_excerpt(text, spans, len(text)))
    chunks = render_html(card)
    assert len(chunks) > 3
    rebuilt = ""
    for chunk in chunks:
        assert len(chunk) <= 4096
        assert len(chunk.encode("utf-16-le")) // 2 <= 4096
        rebuilt += _check_html(chunk).text
    assert text in rebuilt  # nothing lost or duplicated at the cuts


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet="ab <>&;\"'\nё👍", min_size=0, max_size=400),
    limit=st.integers(min_value=60, max_value=300),
    data=st.data(),
)
def test_split_property(text: str, limit: int, data: st.DataObject) -> None:
    spans = data.draw(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), max_size=5))
    post = make_post(text or "x")
    hit = make_hit("x", [])
    card = build_card(post, hit, max_chars=10_000)
    card = replace(card, excerpt=build_excerpt(post.text, spans, 10_000))
    rebuilt = ""
    for chunk in render_html(card, limit=limit):
        assert len(chunk.encode("utf-16-le")) // 2 <= limit
        rebuilt += _check_html(chunk).text
    assert "".join(post.text.split()) in "".join(rebuilt.split())


def test_terminal_control_characters_neutralised() -> None:
    text = "отвод \x1b[2J\x1b]0;pwned\x07 войск"
    rendered = render_text(build_card(make_post(text), make_hit(text, ["отвод"])), color=True)
    assert "\x1b[2J" not in rendered and "\x07" not in rendered
    # Nor through the header (a topic or rule id from the rules file, a channel title).
    hit = make_hit(text, ["отвод"], topic="withdrawal\x1b[2J", rule_id="r\x1b]0;x\x07")
    rendered = render_text(build_card(make_post(text, channel_title="T\x1b[5m"), hit), color=True)
    head = rendered.splitlines()[0]
    assert head.startswith("\x1b[1m[HIGH]") and head.endswith("\x1b[0m")
    assert "\x1b[2J" not in rendered and "\x07" not in rendered and "\x1b[5m" not in rendered


def test_card_from_stored_hit_matches_card_from_hit() -> None:
    post = make_post(TEXT)
    hit = make_hit(TEXT, ["отвод"], severity=Severity.LOW)
    stored = StoredHit(
        1,
        post,
        hit.rule_id,
        hit.topic,
        hit.severity,
        hit.route,
        tuple(hit.spans),
        tuple(hit.words),
        T0,
    )
    assert build_card(post, hit) == build_card(post, stored)
    assert html.unescape(render_html(build_card(post, stored))[0]).count("LOW") == 1
