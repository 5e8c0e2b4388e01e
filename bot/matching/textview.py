"""One byte per character: a normalised post as bytes, and class views of those bytes.

Python spends ~30 ns per character in any per-character loop or Unicode regex, which
is more than the whole Aho-Corasick scan costs. So the matcher looks at a post through
views made by C-level calls only: `encode` maps every character to one byte (an 8-bit
code page holding ASCII, lower-case Russian/Ukrainian letters and the punctuation that
posts use; anything else becomes "?"), and `bytes.translate` turns those bytes into the
views below. Offsets in every view are offsets in the normalised text.

* word view (`words`): letters and digits keep a byte of their own, apostrophes are
  "'", everything else is a space. Words are the runs between spaces; terms are
  searched as " form".
* word starts (`starts`): letters, digits and apostrophes are "a", everything else
  " "; counting b" a" counts words.
* sentence marks (`sentences`): line breaks and list bullets are "N", sentence
  punctuation "." and white space " ", hyphens "-"; a sentence ends at every "N" and
  at every "." run followed by " " or "N".
* scripts: Cyrillic letters "c", Latin letters "l" (mixed-script words show as "cl").

Letters outside the code page (Latin with diacritics, other scripts) count as
punctuation here: no term is written in them.
"""

from __future__ import annotations

import codecs

# Slots 0x80-0xFF: the lower-case letters of Russian/Ukrainian/Belarusian (upper case is
# gone after case folding), then the punctuation, bullets and spaces posts use.
_LETTERS_HIGH = (
    [chr(c) for c in range(0x0430, 0x0460)]  # а…я, ѐ…џ (ё і ї є ј ѕ ў …)
    + ["ґ"]
)
_SENTENCE_PUNCT = ".!;:…"  # "?" is mapped to "!" before encoding (see encode)
_BREAKS = "\n•▪◾●►➖"
_SPACES = " \t\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_OTHER_HIGH = "’ʼ‘«»—–‐‑‒―−“”„№·◦‣⁃\u2028\u2029\u202f\u205f\u3000\u2009\u200a\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2000\u2001\u1680•▪◾●►➖…\xa0\x85"

_decoding = [chr(b) if b < 0x80 else "" for b in range(256)]
_high = list(dict.fromkeys(_LETTERS_HIGH + list(_OTHER_HIGH)))
assert len(_high) <= 128, len(_high)
for _i, _ch in enumerate(_high):
    _decoding[0x80 + _i] = _ch
# Unused slots decode to private-use characters that never occur in normalised text.
_decoding = [ch or chr(0xE000 + i) for i, ch in enumerate(_decoding)]
_ENCODING_MAP = codecs.charmap_build("".join(_decoding))
_BYTE = {ch: i for i, ch in enumerate(_decoding)}

LETTER_BYTES = frozenset(
    [_BYTE[c] for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + [_BYTE[c] for c in _LETTERS_HIGH]
)
CYRILLIC_BYTES = frozenset(_BYTE[c] for c in _LETTERS_HIGH)
LATIN_BYTES = frozenset(_BYTE[c] for c in "abcdefghijklmnopqrstuvwxyz")
_YO, _E = _BYTE["ё"], _BYTE["е"]


def _table(mapping: dict[int, int], default: int) -> bytes:
    return bytes(mapping.get(b, default) for b in range(256))


APOSTROPHE_BYTES = frozenset(_BYTE[c] for c in "'’ʼ")
# Apostrophes belong to words ("обов'язково", "russia's") and are all written "'".
WORDS_TABLE = _table(
    {**{b: (_E if b == _YO else b) for b in LETTER_BYTES}, **{b: ord("'") for b in APOSTROPHE_BYTES}}, 0x20
)
STARTS_TABLE = _table({b: ord("a") for b in LETTER_BYTES | APOSTROPHE_BYTES}, 0x20)
SENTENCES_TABLE = _table(
    {
        **{_BYTE[c]: ord(" ") for c in _SPACES if c in _BYTE},
        **{_BYTE[c]: ord(".") for c in _SENTENCE_PUNCT},
        **{_BYTE[c]: ord("N") for c in _BREAKS},
        **{_BYTE[c]: ord("-") for c in "-‐‑"},
    },
    ord("a"),
)
# Letters only (not digits) as "a", everything else " ".
LETTERS_TABLE = _table({b: ord("a") for b in CYRILLIC_BYTES | LATIN_BYTES}, 0x20)
SCRIPTS_TABLE = _table({**{b: ord("c") for b in CYRILLIC_BYTES}, **{b: ord("l") for b in LATIN_BYTES}}, 0x20)


def encode(text: str) -> bytes:
    """One byte per character of text; characters outside the code page become b"?".

    A literal "?" is written as "!" first (both end sentences), so that b"?" only ever
    stands for "some other character" (an emoji, a letter of another script).
    """
    if "?" in text:
        text = text.replace("?", "!")
    return codecs.charmap_encode(text, "replace", _ENCODING_MAP)[0]


def encode_word(word: str) -> str:
    """A term word (or form) spelled in the word view's alphabet."""
    return encode(word).translate(WORDS_TABLE).decode("latin-1")


def words_view(codes: bytes) -> str:
    """The word view of encoded text, framed by one space on each side (offset + 1)."""
    return (b" " + codes.translate(WORDS_TABLE) + b" ").decode("latin-1")


def starts_view(codes: bytes) -> bytes:
    """The word-start view, framed like words_view."""
    return b" " + codes.translate(STARTS_TABLE) + b" "


def sentences_view(codes: bytes) -> bytes:
    """The sentence-mark view, framed like words_view."""
    return b" " + codes.translate(SENTENCES_TABLE) + b" "
