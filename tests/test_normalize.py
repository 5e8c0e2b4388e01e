"""normalize(): evasion undone (homoglyphs, invisible characters, spaced letters,
line-break hyphenation, case, ё, NFKC, combining marks) with exact offsets back into
the original text."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.matching.normalize import normalize
from bot.matching.textview import encode

WORD = re.compile(r"[^\W\d_]+")
ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def surfaces(original: str) -> list[str]:
    """The original substring behind every word of the normalised text."""
    n = normalize(original)
    out = []
    for m in WORD.finditer(n.text):
        a, b = n.to_original(m.start(), m.end())
        out.append(original[a:b])
    return out


# -- homoglyphs -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Latin look-alikes inside Cyrillic words fold to Cyrillic.
        ("вывoд", "вывод"),  # Latin o
        ("эвaкуaция", "эвакуация"),  # Latin a
        ("вывeли", "вывели"),  # Latin e
        ("cилы", "силы"),  # Latin c
        ("пеpедислокация", "передислокация"),  # Latin p
        ("xмеймим", "хмеймим"),  # Latin x
        ("вiйська", "війська"),  # Latin i in a Ukrainian word
        ("BЫBOД", "вывод"),  # upper-case Latin B, O
        ("РOCCИЯ", "россия"),
        # Cyrillic look-alikes inside Latin words fold to Latin.
        ("withdrаw", "withdraw"),  # Cyrillic а
        ("evасuation", "evacuation"),  # Cyrillic а, с
        ("trооps", "troops"),  # Cyrillic о
        ("rеtrеat", "retreat"),  # Cyrillic е
        ("еxit", "exit"),  # Cyrillic е
        ("Тrоорs", "troops"),  # Cyrillic Т, о, о, р
    ],
)
def test_homoglyphs_fold_to_the_word_script(text: str, expected: str) -> None:
    assert normalize(text).text == expected


@pytest.mark.parametrize(
    "text",
    ["cocoa", "paper", "сосоа", "рарер", "тартус", "хмеймим", "withdraw", "війська", "mi-8"],
)
def test_single_script_words_are_untouched(text: str) -> None:
    assert normalize(text).text == text


def test_homoglyph_folding_is_per_word() -> None:
    # A Cyrillic word with a Latin o next to a plain Latin word and a plain Cyrillic one.
    assert normalize("вывoд troops из Сирии").text == "вывод troops из сирии"


# -- invisible characters ----------------------------------------------------------------
@pytest.mark.parametrize("zw", ZW, ids=[f"U+{ord(c):04X}" for c in ZW])
def test_zero_width_characters_are_dropped(zw: str) -> None:
    assert normalize(f"эва{zw}куа{zw}ция").text == "эвакуация"
    assert normalize(f"with{zw}draw").text == "withdraw"
    assert normalize(f"{zw}вывод войск{zw}").text == "вывод войск"


def test_several_invisible_characters_in_a_row() -> None:
    assert normalize("вы\u200b\u200c\u200d\u2060\ufeff\u00adвод").text == "вывод"


# -- spaced-out letters ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("э в а к у а ц и я", "эвакуация"),
        ("W I T H D R A W", "withdraw"),
        ("в ы в о д войск", "вывод войск"),
        ("Начался в ы в о д войск", "начался вывод войск"),
        ("э.в.а.к.у.а.ц.и.я", "эвакуация"),
        ("в ы в о д  в о й с к", "вывод  войск"),  # a double space separates two words
        ("E V A C", "evac"),  # exactly four letters
        ("в-ы-в-о-д войск", "вывод войск"),
        ("в_ы_в_о_д", "вывод"),
        ("в*ы*в*о*д", "вывод"),
        ("в-ы в-о-д", "в-ы в-о-д"),  # mixed separators: not one spaced-out word
    ],
)
def test_spaced_out_letters_are_joined(text: str, expected: str) -> None:
    assert normalize(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "в и с",  # three single letters: ordinary words
        "Он пришёл в дом и с другом",
        "шёл в лес и с тех пор",
        "a b c",
        "я в",
    ],
)
def test_fewer_than_four_single_letters_are_not_joined(text: str) -> None:
    assert normalize(text).text == text.casefold().replace("ё", "е")


def test_numbers_between_single_letters_keep_the_identity_offsets() -> None:
    # "a 6.3-inch" is no spaced-out word: the text keeps its offsets (identity map).
    n = normalize("The band gets a 6.3-inch screen and a 5 x 3 cm case.")
    assert n.text == "the band gets a 6.3-inch screen and a 5 x 3 cm case."
    assert n.starts is None


# -- line-break hyphenation --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("покину-\nли", "покинули"),
        ("войска покину-\nли базу", "войска покинули базу"),
        ("эвакуа-  \n   ция", "эвакуация"),
        ("эвакуа-\r\nция", "эвакуация"),
        ("эвакуа\u2010\nция", "эвакуация"),  # U+2010 HYPHEN
        ("with-\ndrawal", "withdrawal"),
    ],
)
def test_line_break_hyphenation_is_undone(text: str, expected: str) -> None:
    assert normalize(text).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ил-76", "ил-76"),  # no line break: a real hyphen
        ("Ил-\n76", "ил-\n76"),  # a digit after the break: not a hyphenated word
        ("покину\nли", "покину\nли"),  # no hyphen: two words
        ("вывод -\nвойск", "вывод -\nвойск"),  # a dash after a space is not hyphenation
    ],
)
def test_other_hyphens_and_line_breaks_are_kept(text: str, expected: str) -> None:
    assert normalize(text).text == expected


# -- case, ё, NFKC, combining marks ------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ёлка", "елка"),
        ("ушёл", "ушел"),
        ("ВЫВОД ВОЙСК", "вывод войск"),
        ("Straße", "strasse"),
        ("Straße 🔥", "strasse 🔥"),  # with a character outside the code page
        ("Kſ", "ks"),  # long s folds to s
        ("\u212aherson", "kherson"),  # KELVIN SIGN
        ("ＥＶＡＣＵＡＴＩＯＮ", "evacuation"),  # fullwidth
        ("ｗｉｔｈｄｒａｗ", "withdraw"),
        ("ﬁre", "fire"),  # ligature
        ("и\u0306од", "йод"),  # и + combining breve composes to й
        ("Е\u0308лка", "елка"),  # Е + combining diaeresis is Ё, then е
        ("эвакуа\u0301ция\u200b", "эвакуация"),  # stress mark on the slow path
    ],
)
def test_case_yo_nfkc_and_combining_marks(text: str, expected: str) -> None:
    assert normalize(text).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("вы\u0301вод", "вывод"), ("Эвакуа\u0301ция посольства", "эвакуация посольства")],
)
def test_stress_marks_are_dropped_without_other_evasion(text: str, expected: str) -> None:
    # No other evasion in the text: the fast path must drop the mark too.
    assert normalize(text).text == expected


def test_lower_casing_agrees_with_full_folding_for_every_character() -> None:
    # The fast path lower-cases instead of case folding when every lower-cased character
    # is in the code page: for each such character both must give the same text.
    differ = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        low = ch.lower()
        if len(low) != 1 or (b"?" in encode(low) and low != "?"):
            continue
        folded = unicodedata.normalize("NFKC", ch).casefold().replace("ё", "е")
        got = normalize(f"({ch})").text
        if got not in (f"({low})".replace("ё", "е"), f"({folded})"):
            differ.append(hex(cp))
    assert differ == []
    # Characters outside the code page: "ß" must still fold with an emoji about.
    assert normalize("🔥 Groß").text == "🔥 gross"


# -- offsets -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("original", "expected_text", "expected_surfaces"),
    [
        ("Вывод войск", "вывод войск", ["Вывод", "войск"]),  # fast path: identity
        ("Эвакуaция посольства", "эвакуация посольства", ["Эвакуaция", "посольства"]),
        ("Вывoд вoйск из Сирии", "вывод войск из сирии", ["Вывoд", "вoйск", "из", "Сирии"]),
        ("withdrаwal of trооps", "withdrawal of troops", ["withdrаwal", "of", "trооps"]),
        ("эва\u200bку\u00adация", "эвакуация", ["эва\u200bку\u00adация"]),
        ("\u200bвывод\u200b войск", "вывод войск", ["вывод", "войск"]),
        ("э в а к у а ц и я посольства", "эвакуация посольства",
         ["э в а к у а ц и я", "посольства"]),
        ("Срочно: W I T H D R A W troops", "срочно: withdraw troops",
         ["Срочно", "W I T H D R A W", "troops"]),
        ("войска покину-\nли базу", "войска покинули базу", ["войска", "покину-\nли", "базу"]),
        ("Ёлки и ＥＶＡＣ", "елки и evac", ["Ёлки", "и", "ＥＶＡＣ"]),
        ("Straße вывoд", "strasse вывод", ["Straße", "вывoд"]),
        ("и\u0306од и\u0306од", "йод йод", ["и\u0306од", "и\u0306од"]),
        ("ﬁre вывoд", "fire вывод", ["ﬁre", "вывoд"]),
        ("В ы в о д\u200b вoйск", "вывод войск", ["В ы в о д", "вoйск"]),
        ("Вы\u0301вод войск", "вывод войск", ["Вы\u0301вод", "войск"]),
        ("в-ы-в-о-д войск", "вывод войск", ["в-ы-в-о-д", "войск"]),
    ],
)
def test_every_word_maps_back_to_its_original_surface(
    original: str, expected_text: str, expected_surfaces: list[str]
) -> None:
    n = normalize(original)
    assert n.text == expected_text
    assert n.original == original
    assert surfaces(original) == expected_surfaces


def test_to_original_of_a_multi_word_span() -> None:
    original = "Начался вывoд\u200b вoйск!"
    n = normalize(original)
    start = n.text.index("вывод войск")
    a, b = n.to_original(start, start + len("вывод войск"))
    assert original[a:b] == "вывoд\u200b вoйск"


# -- properties --------------------------------------------------------------------------
_TRICKY = st.lists(
    st.sampled_from(
        list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґ ЁЙ aeocpxiyABCwW .-\n\r\t76ßİﬁＥＶ")
        + ZW
        + ["\u0301", "\u0306", "\u0308", "-\n", " \n", "\u2010\n"]
    ),
    max_size=60,
).map("".join)


@PROPS
@given(st.one_of(st.text(max_size=80), _TRICKY))
def test_property_any_text_maps_inside_the_original(text: str) -> None:
    n = normalize(text)
    assert n.original == text
    previous = 0
    for i in range(len(n.text)):
        a, b = n.to_original(i, i + 1)
        assert 0 <= a < b <= len(text)
        assert a >= previous  # monotonic
        previous = a
    if n.text:
        a, b = n.to_original(0, len(n.text))
        assert 0 <= a <= b <= len(text)
    for m in WORD.finditer(n.text):
        a, b = n.to_original(m.start(), m.end())
        assert 0 <= a < b <= len(text)


SENTENCES = [
    "Начался вывод войск из Сирии.",
    "Эвакуация посольства из Бейрута из-за обстрелов!",
    "Окупанти виводять війська з Херсона.",
    "Russian troops are withdrawing from Hmeimim airbase.",
    "Вывoд вoйск продолжается.",  # homoglyphs already inside
    "э в а к у а ц и я дипломатов",  # spaced letters
    "войска покину-\nли базу",  # hyphenation
]


@PROPS
@given(
    st.sampled_from(SENTENCES),
    st.lists(st.tuples(st.integers(min_value=0, max_value=200), st.sampled_from(ZW)), max_size=8),
)
def test_property_zero_width_insertions_do_not_change_the_text(
    sentence: str, inserts: list[tuple[int, str]]
) -> None:
    chars = list(sentence)
    for pos, zw in inserts:
        chars.insert(pos % (len(chars) + 1), zw)
    assert normalize("".join(chars)).text == normalize(sentence).text


# Cyrillic letters and the Latin letters that look like them (after case folding).
_CYR_TO_LAT = {
    "а": "a", "в": "b", "с": "c", "е": "e", "н": "h", "к": "k", "м": "m",
    "о": "o", "р": "p", "т": "t", "х": "x", "у": "y",
}
WORDS = ["эвакуация", "вывод", "войска", "отступление", "посольство", "хмеймим",
         "тартус", "перегруппировка", "покинули", "сирии", "оставили", "база", "россия"]


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    word = draw(st.sampled_from(WORDS))
    replaceable = [i for i, ch in enumerate(word) if ch in _CYR_TO_LAT]
    # At least half the letters stay Cyrillic.
    limit = min(len(replaceable), len(word) // 2)
    picked: list[int] = []
    if replaceable:
        picked = draw(st.lists(st.sampled_from(replaceable), unique=True, max_size=limit))
    chars = list(word)
    for i in picked:
        chars[i] = _CYR_TO_LAT[chars[i]]
    text = "".join(chars)
    if draw(st.booleans()):
        text = text.upper()
    return word, text


@PROPS
@given(disguised(), st.sampled_from(["{}", "Срочно: {} сегодня", "{}!"]))
def test_property_latin_look_alikes_fold_back(pair: tuple[str, str], frame: str) -> None:
    word, text = pair
    assert normalize(frame.format(text)).text == normalize(frame.format(word)).text


@pytest.mark.parametrize("emoji", [1, 3, 16, 17, 40])
def test_evasion_is_undone_among_any_number_of_emoji(emoji: int) -> None:
    # Emoji send a post past the lower-casing fast path's first check: an invisible
    # character or a stress mark among any number of them is still undone.
    text = "🔥" * emoji + " Эва\u200bкуа\u0301ция посольства " + "⚡️" * emoji
    assert normalize(text).text == "🔥" * emoji + " эвакуация посольства " + "⚡️" * emoji
