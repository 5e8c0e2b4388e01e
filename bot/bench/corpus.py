"""Deterministic synthetic Telegram channel traffic for the benchmark.

Posts in Russian (~45 %), Ukrainian (~30 %) and English (~25 %), 200-3,000 characters
(log-normal-ish, mean ~800). Two kinds of channel (see MIXES):

* military bloggers: front-line summaries, strikes, air defence, losses, fundraising
  reports with card numbers, weather, politics, quotes, hashtags, emoji and links. Some
  carry one sentence about troops withdrawing or an evacuation in a war context, in many
  word forms, a third of those disguised (typos, Latin look-alike letters, zero-width
  characters, spaced-out letters); some a hard negative instead (вывод средств, выводы,
  эвакуатор, a flood evacuation, withdrawal of funds);
* everyday channels (bot.bench.general): city news, weather, sport, shopping, recipes,
  crypto, films, travel — what a retro-hunt over a large export mostly reads.

The default "mixed" stream is the benchmark's: ~10 % of the posts from military channels
(4 % relevant, 2 % hard negatives, 4 % plain), 90 % everyday traffic. "military" is
milblogger channels only (10 % relevant, 6 % hard negatives).

The vocabulary is large on purpose: hundreds of generated village names declined in
every case, a hundred surnames, numbers, dates, card numbers and a sprinkling of
typos give tens of thousands of distinct word forms, so per-word caches in the matcher
fill the way they do on real channels instead of after the first few posts.

Everything is driven by one seeded `random.Random`: the same (n, seed) gives the same
posts on every machine and Python version.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

LANG_WEIGHTS = (("ru", 45), ("uk", 30), ("en", 25))
RELEVANT_SHARE = 0.10
HARD_NEGATIVE_SHARE = 0.06
MIN_LEN = 200
MAX_LEN = 3000
# ln-normal length: exp(mu + sigma²/2) ≈ 740 before the last sentence overshoots the target.
_LEN_MU = 6.43
_LEN_SIGMA = 0.6
_TYPO_RATE = 0.04  # share of filler sentences with one misspelt word
_DISGUISE_RATE = 0.35  # share of relevant sentences whose key word is disguised
_EPOCH = datetime(2024, 2, 1, 6, 0, tzinfo=UTC)

Slot = Callable[[random.Random], str]


class Generated(NamedTuple):
    """One generated post with what was planted in it (for tests and hit-rate context)."""

    post: dict[str, object]
    lang: str
    kind: str  # "relevant", "hard_negative", "plain" (military channels) or "general"


# ----------------------------------------------------------------------------- places
# Case forms: nominative, genitive, dative, accusative, instrumental, locative.
_CASES = ("nom", "gen", "dat", "acc", "ins", "loc")
_RU_PATTERNS: dict[str, tuple[int, tuple[str, ...]]] = {
    "m": (0, ("", "а", "у", "", "ом", "е")),
    "ka": (1, ("а", "и", "е", "у", "ой", "е")),
    "o": (1, ("о", "а", "у", "о", "ым", "е")),
    "ja": (2, ("ия", "ии", "ии", "ию", "ией", "ии")),
    "inv": (0, ("", "", "", "", "", "")),
}
_UK_PATTERNS: dict[str, tuple[int, tuple[str, ...]]] = {
    "m": (0, ("", "а", "у", "", "ом", "у")),
    "ka": (2, ("ка", "ки", "ці", "ку", "кою", "ці")),
    "e": (1, ("е", "ого", "ому", "е", "им", "ому")),
    "ja": (2, ("ія", "ії", "ії", "ію", "ією", "ії")),
    "inv": (0, ("", "", "", "", "", "")),
}


def _decline(word: str, pattern: str, table: dict[str, tuple[int, tuple[str, ...]]]) -> tuple[str, ...]:
    cut, endings = table[pattern]
    stem = word[: len(word) - cut] if cut else word
    return tuple(stem + e for e in endings)


class Place(NamedTuple):
    ru: tuple[str, ...]
    uk: tuple[str, ...]
    en: str


def _place(ru: str | tuple[str, ...], uk: str | tuple[str, ...], en: str) -> Place:
    def forms(spec: str | tuple[str, ...], table: dict[str, tuple[int, tuple[str, ...]]]) -> tuple[str, ...]:
        if isinstance(spec, tuple):
            return spec
        word, _, pattern = spec.partition("/")
        return _decline(word, pattern, table)

    return Place(forms(ru, _RU_PATTERNS), forms(uk, _UK_PATTERNS), en)


REAL_PLACES: tuple[Place, ...] = (
    _place("Покровск/m", "Покровськ/m", "Pokrovsk"),
    _place("Торецк/m", "Торецьк/m", "Toretsk"),
    _place("Купянск/m", "Куп'янськ/m", "Kupiansk"),
    _place("Волчанск/m", "Вовчанськ/m", "Vovchansk"),
    _place("Мирноград/m", "Мирноград/m", "Myrnohrad"),
    _place("Угледар/m", "Вугледар/m", "Vuhledar"),
    _place("Бахмут/m", "Бахмут/m", "Bakhmut"),
    _place("Херсон/m", "Херсон/m", "Kherson"),
    _place("Курск/m", "Курськ/m", "Kursk"),
    _place("Белгород/m", "Бєлгород/m", "Belgorod"),
    _place("Лиман/m", "Лиман/m", "Lyman"),
    _place("Северск/m", "Сіверськ/m", "Siversk"),
    _place("Донецк/m", "Донецьк/m", "Donetsk"),
    _place("Токмак/m", "Токмак/m", "Tokmak"),
    _place("Авдеевка/ka", "Авдіївка/ka", "Avdiivka"),
    _place("Красногоровка/ka", "Красногорівка/ka", "Krasnohorivka"),
    _place("Константиновка/ka", "Костянтинівка/ka", "Kostiantynivka"),
    _place("Горловка/ka", "Горлівка/ka", "Horlivka"),
    _place("Новопавловка/ka", "Новопавлівка/ka", "Novopavlivka"),
    _place("Марьинка/ka", "Мар'їнка/ka", "Marinka"),
    _place("Работино/o", "Роботине/e", "Robotyne"),
    _place("Курахово/o", "Курахове/e", "Kurakhove"),
    _place("Селидово/o", "Селидове/e", "Selydove"),
    _place("Сватово/o", "Сватове/e", "Svatove"),
    _place("Очеретино/o", "Очеретине/e", "Ocheretyne"),
    _place(
        ("Часов Яр", "Часова Яра", "Часову Яру", "Часов Яр", "Часовым Яром", "Часовом Яре"),
        ("Часів Яр", "Часового Яру", "Часовому Яру", "Часів Яр", "Часовим Яром", "Часовому Яру"),
        "Chasiv Yar",
    ),
    _place(
        ("Кременная", "Кременной", "Кременной", "Кременную", "Кременной", "Кременной"),
        ("Кремінна", "Кремінної", "Кремінній", "Кремінну", "Кремінною", "Кремінній"),
        "Kreminna",
    ),
    _place(
        ("Харьков", "Харькова", "Харькову", "Харьков", "Харьковом", "Харькове"),
        ("Харків", "Харкова", "Харкову", "Харків", "Харковом", "Харкові"),
        "Kharkiv",
    ),
    _place(
        ("Гуляйполе", "Гуляйполя", "Гуляйполю", "Гуляйполе", "Гуляйполем", "Гуляйполе"),
        ("Гуляйполе", "Гуляйполя", "Гуляйполю", "Гуляйполе", "Гуляйполем", "Гуляйполі"),
        "Huliaipole",
    ),
    _place(
        ("Орехов", "Орехова", "Орехову", "Орехов", "Ореховом", "Орехове"),
        ("Оріхів", "Оріхова", "Оріхову", "Оріхів", "Оріховом", "Оріхові"),
        "Orikhiv",
    ),
    _place(
        ("Запорожье", "Запорожья", "Запорожью", "Запорожье", "Запорожьем", "Запорожье"),
        ("Запоріжжя", "Запоріжжя", "Запоріжжю", "Запоріжжя", "Запоріжжям", "Запоріжжі"),
        "Zaporizhzhia",
    ),
    _place(
        ("Крынки", "Крынок", "Крынкам", "Крынки", "Крынками", "Крынках"),
        ("Кринки", "Кринок", "Кринкам", "Кринки", "Кринками", "Кринках"),
        "Krynky",
    ),
    _place(
        ("Мелитополь", "Мелитополя", "Мелитополю", "Мелитополь", "Мелитополем", "Мелитополе"),
        ("Мелітополь", "Мелітополя", "Мелітополю", "Мелітополь", "Мелітополем", "Мелітополі"),
        "Melitopol",
    ),
    _place(
        ("Суджа", "Суджи", "Судже", "Суджу", "Суджей", "Судже"),
        ("Суджа", "Суджі", "Суджі", "Суджу", "Суджею", "Суджі"),
        "Sudzha",
    ),
)

# Places abroad where Russian forces are based; only some sentences mention them.
FOREIGN_PLACES: tuple[Place, ...] = (
    _place("Тартус/m", "Тартус/m", "Tartus"),
    _place("Хмеймим/m", "Хмеймім/m", "Hmeimim"),
    _place("Сирия/ja", "Сирія/ja", "Syria"),
    _place("Ливия/ja", "Лівія/ja", "Libya"),
    _place("Нигер/inv", "Нігер/inv", "Niger"),
    _place("Мали/inv", "Малі/inv", "Mali"),
    _place("Бамако/inv", "Бамако/inv", "Bamako"),
    _place("Латакия/ja", "Латакія/ja", "Latakia"),
)

# Village names: prefix + root + "ка", declined; uk and en spellings go along.
_VILLAGE_PREFIXES = (
    ("", "", ""), ("Ново", "Ново", "Novo"), ("Старо", "Старо", "Staro"), ("Мало", "Мало", "Malo"),
    ("Велико", "Велико", "Velyko"), ("Красно", "Красно", "Krasno"), ("Бело", "Біло", "Bilo"),
    ("Верхне", "Верхньо", "Verkhnio"), ("Нижне", "Нижньо", "Nyzhnio"), ("Зелено", "Зелено", "Zeleno"),
    ("Степно", "Степово", "Stepovo"), ("Червоно", "Червоно", "Chervono"),
)
_VILLAGE_ROOTS = (
    ("александров", "олександрів", "oleksandriv"), ("михайлов", "михайлів", "mykhailiv"),
    ("павлов", "павлів", "pavliv"), ("петров", "петрів", "petriv"), ("иванов", "іванів", "ivaniv"),
    ("григоров", "григорів", "hryhoriv"), ("андреев", "андріїв", "andriiv"),
    ("васильев", "василів", "vasyliv"), ("николаев", "миколаїв", "mykolaiv"),
    ("семенов", "семенів", "semeniv"), ("дмитров", "дмитрів", "dmytriv"),
    ("сергеев", "сергіїв", "serhiiv"), ("федоров", "федорів", "fedoriv"),
    ("степанов", "степанів", "stepaniv"), ("романов", "романів", "romaniv"),
    ("богданов", "богданів", "bohdaniv"), ("тарасов", "тарасів", "tarasiv"),
    ("максимов", "максимів", "maksymiv"), ("калинов", "калинів", "kalyniv"),
    ("березов", "березів", "bereziv"), ("дубров", "дубрів", "dubriv"), ("липов", "липів", "lypiv"),
    ("вишнев", "вишнів", "vyshniv"), ("гаврилов", "гаврилів", "havryliv"),
    ("марков", "марків", "markiv"), ("зайцев", "зайців", "zaitsiv"), ("волков", "вовків", "vovkiv"),
    ("орлов", "орлів", "orliv"), ("соколов", "соколів", "sokoliv"), ("голубов", "голубів", "holubiv"),
    ("лебедев", "лебедів", "lebediv"), ("журавлев", "журавлів", "zhuravliv"),
    ("карлов", "карлів", "karliv"), ("кириллов", "кирилів", "kyryliv"),
    ("ульянов", "уляників", "ulianykiv"), ("тимофеев", "тимофіїв", "tymofiiv"),
)


def _village(prefix: tuple[str, str, str], root: tuple[str, str, str]) -> Place:
    ru = (prefix[0] + root[0] if prefix[0] else root[0]).capitalize() + "ка"
    uk = (prefix[1] + root[1] if prefix[1] else root[1]).capitalize() + "ка"
    en = (prefix[2] + root[2] if prefix[2] else root[2]).capitalize() + "ka"
    return _place(ru + "/ka", uk + "/ka", en)


VILLAGES: tuple[Place, ...] = tuple(_village(p, r) for p in _VILLAGE_PREFIXES for r in _VILLAGE_ROOTS)

# Direction adjectives: "на Покровском направлении" / "на Покровському напрямку".
_DIRS_RU = ("Покровском", "Купянском", "Запорожском", "Краснолиманском", "Торецком", "Времевском",
            "Харьковском", "Херсонском", "Северском", "Кураховском", "Южнодонецком", "Курском",
            "Белгородском", "Артемовском", "Авдеевском", "Ореховском")
_DIRS_UK = ("Покровському", "Куп'янському", "Запорізькому", "Лиманському", "Торецькому",
            "Харківському", "Херсонському", "Сіверському", "Курахівському", "Краматорському",
            "Гуляйпільському", "Оріхівському", "Вовчанському", "Часовоярському")
_DIRS_EN = ("Pokrovsk", "Kupiansk", "Zaporizhzhia", "Lyman", "Toretsk", "Kharkiv", "Kherson",
            "Siversk", "Kurakhove", "Kramatorsk", "Huliaipole", "Orikhiv", "Vovchansk", "Kursk")
_REGIONS_RU_INS = ("Белгородской областью", "Курской областью", "Брянской областью", "Крымом",
                   "Черным морем", "Азовским морем", "Ростовской областью", "Воронежской областью",
                   "Московской областью", "Липецкой областью")
_REGIONS_UK_INS = ("Київщиною", "Харківщиною", "Одещиною", "Дніпропетровщиною", "Сумщиною",
                   "Миколаївщиною", "Полтавщиною", "Черкащиною", "Житомирщиною", "Львівщиною")
_REGIONS_EN = ("Kyiv region", "Kharkiv region", "Odesa region", "Dnipropetrovsk region", "Sumy region",
               "Belgorod region", "Kursk region", "Bryansk region", "Crimea", "the Black Sea")

# ----------------------------------------------------------------------------- people
_RU_SURNAMES = ["Кузнецов", "Смирнов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов", "Петров", "Волков", "Соловьев", "Васильев", "Зайцев", "Павлов", "Семенов", "Голубев", "Виноградов", "Богданов", "Воробьев", "Федоров", "Михайлов", "Беляев", "Тарасов", "Белов", "Комаров", "Орлов", "Киселев", "Макаров", "Андреев", "Ковалев", "Ильин", "Гусев", "Титов", "Кузьмин", "Кудрявцев", "Баранов", "Куликов", "Алексеев", "Степанов", "Яковлев", "Сорокин", "Сергеев", "Романов", "Захаров", "Борисов", "Королев", "Герасимов", "Пономарев", "Григорьев", "Лазарев", "Медведев", "Ершов", "Никитин", "Соболев", "Рябов", "Поляков", "Цветков", "Данилов", "Жуков", "Фролов", "Журавлев", "Николаев", "Крылов", "Максимов", "Сидоров", "Осипов", "Белоусов", "Федотов", "Дорофеев", "Егоров", "Матвеев", "Бобров", "Дмитриев", "Калинин", "Анисимов", "Петухов", "Антонов", "Тимофеев", "Никифоров", "Веселов", "Филиппов", "Марков", "Большаков", "Суханов", "Миронов", "Ширяев", "Александров", "Коновалов", "Шестаков", "Казаков", "Ефимов", "Денисов", "Громов", "Фомин", "Давыдов", "Мельников", "Щербаков", "Блинов", "Колесников"]
_UK_SURNAMES = ["Шевченко", "Бондаренко", "Коваленко", "Бойко", "Ткаченко", "Кравченко", "Олійник", "Шевчук", "Поліщук", "Коваль", "Лисенко", "Марченко", "Руденко", "Савченко", "Мельник", "Петренко", "Кравчук", "Гончаренко", "Мороз", "Павленко", "Левченко", "Харченко", "Карпенко", "Литвиненко", "Ковальчук", "Мартинюк", "Романюк", "Сидоренко", "Швець", "Тимошенко", "Онищенко", "Пономаренко", "Ничипорук", "Гаврилюк", "Дмитренко", "Костенко", "Юрченко", "Савчук", "Кушнір", "Тарасенко", "Зінченко", "Клименко", "Остапчук", "Приходько", "Павлюк", "Вакуленко", "Герасименко", "Степаненко", "Федоренко", "Гуменюк", "Дячук", "Білик", "Захарченко", "Осадчий", "Рибак", "Головко", "Яковенко"]
_RU_FIRST = ["Алексей", "Андрей", "Сергей", "Дмитрий", "Игорь", "Олег", "Евгений", "Виктор", "Павел", "Роман", "Артем", "Максим", "Никита", "Денис", "Илья", "Кирилл", "Антон", "Владимир", "Николай", "Юрий"]
_UK_FIRST = ["Олександр", "Андрій", "Сергій", "Дмитро", "Ігор", "Олег", "Євген", "Віктор", "Павло", "Роман", "Артем", "Максим", "Микита", "Денис", "Ілля", "Кирило", "Антон", "Володимир", "Микола", "Юрій", "Тарас", "Богдан"]
_CALLSIGNS_RU = ("Гром", "Тайфун", "Шторм", "Байкал", "Алтай", "Лис", "Кедр", "Север", "Волга", "Дон",
                 "Бес", "Грач", "Медведь", "Док", "Сапсан", "Кузя", "Молот", "Орел", "Ветер", "Туман")
_CALLSIGNS_UK = ("Борсук", "Чорний", "Вовк", "Тесла", "Кіборг", "Сокіл", "Хорс", "Мольфар", "Скіф",
                 "Лелека", "Шаман", "Бобер", "Професор", "Козак", "Дніпро", "Кум", "Грек", "Тур")
_POLITICIANS_RU = ("Песков", "Захарова", "Лавров", "Белоусов", "Герасимов", "Зеленский", "Байден",
                   "Трамп", "Макрон", "Эрдоган", "Орбан", "Шольц", "Сырский", "Буданов", "Медведев")
_POLITICIANS_UK = ("Зеленський", "Сирський", "Буданов", "Умєров", "Сибіга", "Єрмак", "Шмигаль",
                   "Стефанчук", "Залужний", "Байден", "Трамп", "Макрон", "Шольц", "Рютте")
_POLITICIANS_EN = ("Zelensky", "Putin", "Biden", "Trump", "Macron", "Scholz", "Erdogan", "Austin",
                   "Blinken", "Stoltenberg", "Rutte", "Peskov", "Zakharova", "Syrskyi", "Budanov")

_TRANSLIT = dict(zip(
    "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяыэё'",
    ["a", "b", "v", "h", "g", "d", "e", "ie", "zh", "z", "y", "i", "i", "i", "k", "l", "m", "n", "o",
     "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "iu", "ia", "y", "e", "e", ""],
    strict=True,
))


def translit(word: str) -> str:
    """Romanise a Cyrillic name roughly the way English-language channels spell it."""
    out = "".join(_TRANSLIT.get(ch, ch) for ch in word.lower())
    return out[:1].upper() + out[1:]


# ----------------------------------------------------------------------------- numbers
_RU_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
              "сентября", "октября", "ноября", "декабря")
_UK_MONTHS = ("січня", "лютого", "березня", "квітня", "травня", "червня", "липня", "серпня",
              "вересня", "жовтня", "листопада", "грудня")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


def _big(rng: random.Random) -> str:
    return f"{rng.randint(120, 950_000):,}".replace(",", " ")


def _en_big(rng: random.Random) -> str:
    return f"{rng.randint(120, 950_000):,}"


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }".replace(" ", "")


def _rand_id(rng: random.Random, n: int, alphabet: str = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789_-") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


_CHANNELS = {
    "ru": ("frontovaya_svodka", "voenkor_zametki", "donbass_dnevnik", "severnyi_veter_z",
           "artilleriya_segodnya", "dronovody_otryad", "z_karta_boev", "yuzhnyi_front_info",
           "pvo_novosti_24", "sbor_dlya_svoih", "okopnaya_pravda", "shtorm_z_kanal"),
    "uk": ("front_zvedennia", "kyiv_operatyvnyi", "osint_ua_karta", "dronarnia_zbory",
           "skhidnyi_front_ua", "pivden_operatyvno", "zsu_shchodennyk", "kharkiv_live_ua",
           "okopni_notatky", "volonterka_zbir"),
    "en": ("war_monitor_en", "osint_frontline", "ukraine_war_map", "defense_digest",
           "conflict_tracker_daily", "sahel_security_watch", "mideast_military_brief",
           "black_sea_watch"),
}

_EMOJI = ("⚡️", "❗️", "🔥", "💥", "📍", "📌", "🎥", "✅", "❌", "⚠️", "🙏", "💪", "🫡", "‼️", "🚨",
          "➡️", "🗺", "🛩", "🚀", "🎯", "🕯", "👇", "🇷🇺", "🇺🇦", "🇺🇸", "🇸🇾", "🤝", "😡", "🤔", "📊")


# ----------------------------------------------------------------------------- slots
def _pick(seq: tuple[str, ...] | list[str]) -> Slot:
    return lambda rng: rng.choice(seq)


def _place_slot(lang: str, case: str, villages_only: bool = False, foreign: bool = False) -> Slot:
    i = _CASES.index(case)

    def slot(rng: random.Random) -> str:
        if foreign:
            pool = FOREIGN_PLACES
        else:
            pool = VILLAGES if villages_only or rng.random() < 0.55 else REAL_PLACES
        place = rng.choice(pool)
        return place.en if lang == "en" else getattr(place, lang)[i]

    return slot


def _ru_surname(case: str) -> Slot:
    endings = {"nom": "", "gen": "а", "dat": "у", "ins": "ым", "loc": "е"}

    def slot(rng: random.Random) -> str:
        name = rng.choice(_RU_SURNAMES)
        return name + endings[case]

    return slot


def _common(lang: str) -> dict[str, Slot]:
    s: dict[str, Slot] = {
        "n": lambda r: str(r.randint(2, 60)),
        "k": lambda r: str(r.randint(1, 250)),
        "big": _en_big if lang == "en" else _big,
        "km": lambda r: f"{r.randint(1, 14)}{'.' if lang == 'en' else ','}{r.randint(1, 9)}",
        "time": lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
        "pct": lambda r: str(r.randint(3, 97)),
        "temp": lambda r: str(r.randint(-18, 34)),
        "d4": lambda r: f"{r.randint(0, 9999):04d}",
        "emoji": _pick(_EMOJI),
        "tme": lambda r: f"https://t.me/{r.choice(_CHANNELS[r.choice(('ru', 'uk', 'en'))])}/{r.randint(100, 99999)}",
        "yt": lambda r: f"https://youtu.be/{_rand_id(r, 11)}",
        "xlink": lambda r: f"https://x.com/{_rand_id(r, r.randint(5, 12), 'abcdefghijklmnopqrstuvwxyz_0123456789')}/status/{r.randint(10**18, 10**19 - 1)}",
        "handle": lambda r: "@" + r.choice(_CHANNELS[lang]),
    }
    for case in _CASES:
        s[f"place_{case}"] = _place_slot(lang, case)
        s[f"village_{case}"] = _place_slot(lang, case, villages_only=True)
        s[f"abroad_{case}"] = _place_slot(lang, case, foreign=True)
    return s


_RU_EQUIP_ACC = ("танк Т-72Б3", "танк Т-90М", "БМП-2", "БМП-3", "бронетранспортер", "гаубицу М777",
                 "САУ «Краб»", "САУ «Богдана»", "РСЗО HIMARS", "РСЗО «Град»", "пикап", "РЭБ «Буковель»",
                 "антенну Starlink", "БТР-82А", "танк Leopard", "БМП Bradley", "бронемашину MaxxPro",
                 "ЗРК «Бук»", "РЛС", "миномет", "гаубицу Д-30", "Stryker", "Т-80БВМ", "МТ-ЛБ")
_RU_EQUIP_PL_GEN = ("танков", "БМП", "бронемашин", "артиллерийских орудий", "автомобилей", "пикапов",
                    "минометов", "станций РЭБ", "антенн Starlink", "беспилотников", "РСЗО", "САУ",
                    "единиц бронетехники", "мотоциклов", "багги")
_RU_ITEMS_ACC = ("тепловизор", "квадроцикл", "генератор", "дрон Mavic 3T", "пикап", "станцию Starlink",
                 "рации Motorola", "аптечки", "бронежилеты", "РЭБ «Чистое небо»", "FPV-дроны",
                 "прицел", "окопные свечи", "бензопилу", "зарядную станцию EcoFlow", "буханку")
_RU_UNITS_GEN = ("{k}-й мотострелковой бригады", "{k}-го мотострелкового полка", "{k}-й бригады морской пехоты",
                 "{k}-й гвардейской дивизии", "{k}-го отдельного штурмового батальона",
                 "{k}-й артиллерийской бригады", "отряда «{callsign}»", "{k}-го полка ВДВ",
                 "батальона «{callsign}»", "{k}-й ОМСБр")
_RU_WEATHER = ("дождь", "туман", "мокрый снег", "гололед", "ясно", "сильный ветер", "облачно",
               "морось", "жара", "метель", "переменная облачность", "заморозки")
_RU_QUOTES = ("Держимся, пацаны, все нормально", "Птички работают без остановки",
              "Связь есть, снабжение есть, настроение боевое", "Ночью было шумно, но отработали хорошо",
              "Передайте спасибо всем, кто собирал на дроны", "Главное сейчас — логистика",
              "Противник лезет малыми группами, по три-пять человек", "Без РЭБа здесь не выжить",
              "Ждем погоду, в такой туман птички не летают")

_UK_EQUIP_ACC = ("танк Т-72Б3", "танк Т-90М", "БМП-2", "БМП-3", "бронетранспортер", "гаубицю Д-30",
                 "САУ «Акація»", "РСЗВ «Град»", "пікап", "станцію РЕБ", "БТР-82А", "ЗРК «Тор»",
                 "РЛС", "міномет", "Т-80БВМ", "МТ-ЛБ", "вантажівку «Урал»", "ЗРК «Панцир»",
                 "САУ «Мста-С»", "РСЗВ «Торнадо»")
_UK_EQUIP_PL_GEN = ("танків", "ББМ", "артилерійських систем", "автомобілів", "мінометів",
                    "станцій РЕБ", "безпілотників", "РСЗВ", "одиниць бронетехніки", "мотоциклів")
_UK_ITEMS_ACC = ("тепловізор", "квадроцикл", "генератор", "дрон Mavic 3T", "пікап", "Starlink",
                 "рації", "аптечки", "бронежилети", "РЕБ", "FPV-дрони", "приціл", "окопні свічки",
                 "бензопилу", "зарядну станцію EcoFlow", "турнікети", "наземний дрон")
_UK_UNITS_GEN = ("{k} ОМБр", "{k} ОШБ", "{k}-ї окремої механізованої бригади", "{k}-го окремого батальйону",
                 "{k}-ї бригади ТрО", "{k}-ї артилерійської бригади", "підрозділу «{callsign}»",
                 "{k}-ї десантно-штурмової бригади", "{k} ОБрМП", "батальйону «{callsign}»")
_UK_WEATHER = ("дощ", "туман", "мокрий сніг", "ожеледиця", "ясно", "сильний вітер", "хмарно",
               "мряка", "спека", "хуртовина", "мінлива хмарність", "заморозки")
_UK_QUOTES = ("Тримаємось, все буде Україна", "Пташки працюють без зупинки",
              "Зв'язок є, БК є, настрій бойовий", "Вночі було гучно, але відпрацювали добре",
              "Передайте дяку всім, хто збирав на дрони", "Головне зараз — логістика",
              "Ворог лізе малими групами, по три-п'ять людей", "Без РЕБу тут не вижити",
              "Чекаємо погоду, в такий туман пташки не літають")

_EN_EQUIP = ("a T-72B3 tank", "a T-90M tank", "a BMP-2", "a BMP-3", "an armored personnel carrier",
             "a 2S19 Msta-S", "a Grad MLRS", "a Tor air defense system", "a Buk launcher",
             "a Pantsir system", "an ammunition truck", "a Leopard 2A6", "a Bradley IFV",
             "an M777 howitzer", "a HIMARS launcher", "a Krab SPG", "a BTR-82A", "an MT-LB")
_EN_ITEMS = ("thermal scopes", "Mavic 3T drones", "a pickup truck", "Starlink terminals", "radios",
             "first aid kits", "body armor", "EW systems", "FPV drones", "generators",
             "trench candles", "a chainsaw", "an EcoFlow power station", "tourniquets")
_EN_UNITS = ("the {ordinal} Separate Mechanized Brigade", "the {ordinal} Assault Brigade",
             "the {ordinal} Motor Rifle Regiment", "the {ordinal} Guards Division",
             "the {ordinal} Marine Brigade", "the {ordinal} Airborne Assault Brigade",
             "the {ordinal} Artillery Brigade", "the {ordinal} Territorial Defense Brigade")
_EN_WEATHER = ("rain", "fog", "sleet", "ice", "clear skies", "strong wind", "overcast",
               "drizzle", "heat", "snowstorm", "patchy clouds", "frost")


def _slots(lang: str) -> dict[str, Slot]:
    s = _common(lang)
    if lang == "ru":
        months = _RU_MONTHS
        s.update({
            "dir": _pick(_DIRS_RU),
            "region_ins": _pick(_REGIONS_RU_INS),
            "equip_acc": _pick(_RU_EQUIP_ACC),
            "equip_pl": _pick(_RU_EQUIP_PL_GEN),
            "item_acc": _pick(_RU_ITEMS_ACC),
            "unit_gen": lambda r: r.choice(_RU_UNITS_GEN).format(k=r.randint(1, 250), callsign=r.choice(_CALLSIGNS_RU)),
            "weather": _pick(_RU_WEATHER),
            "quote": _pick(_RU_QUOTES),
            "callsign": _pick(_CALLSIGNS_RU),
            "first": _pick(_RU_FIRST),
            "surname": _ru_surname("nom"),
            "surname_gen": _ru_surname("gen"),
            "surname_dat": _ru_surname("dat"),
            "politician": _pick(_POLITICIANS_RU),
            "card": lambda r: f"2202 20{r.randint(10, 99)} {r.randint(0, 9999):04d} {r.randint(0, 9999):04d}",
            "money": lambda r: _big(r) + " ₽",
        })
    elif lang == "uk":
        months = _UK_MONTHS
        s.update({
            "dir": _pick(_DIRS_UK),
            "region_ins": _pick(_REGIONS_UK_INS),
            "equip_acc": _pick(_UK_EQUIP_ACC),
            "equip_pl": _pick(_UK_EQUIP_PL_GEN),
            "item_acc": _pick(_UK_ITEMS_ACC),
            "unit_gen": lambda r: r.choice(_UK_UNITS_GEN).format(k=r.randint(1, 250), callsign=r.choice(_CALLSIGNS_UK)),
            "weather": _pick(_UK_WEATHER),
            "quote": _pick(_UK_QUOTES),
            "callsign": _pick(_CALLSIGNS_UK),
            "first": _pick(_UK_FIRST),
            "surname": _pick(_UK_SURNAMES),
            "surname_gen": _pick(_UK_SURNAMES),
            "surname_dat": _pick(_UK_SURNAMES),
            "politician": _pick(_POLITICIANS_UK),
            "card": lambda r: f"5375 41{r.randint(10, 99)} {r.randint(0, 9999):04d} {r.randint(0, 9999):04d}",
            "money": lambda r: _big(r) + " грн",
        })
    else:
        months = _EN_MONTHS
        s.update({
            "dir": _pick(_DIRS_EN),
            "region": _pick(_REGIONS_EN),
            "equip": _pick(_EN_EQUIP),
            "item": _pick(_EN_ITEMS),
            "unit": lambda r: r.choice(_EN_UNITS).format(ordinal=_ordinal(r.randint(1, 250))),
            "weather": _pick(_EN_WEATHER),
            "surname": lambda r: translit(r.choice(_UK_SURNAMES + _RU_SURNAMES)),
            "politician": _pick(_POLITICIANS_EN),
            "money": lambda r: "$" + _en_big(r),
        })
    if lang == "en":
        s["date"] = lambda r: f"{r.choice(months)} {r.randint(1, 28)}"
    else:
        s["date"] = lambda r: f"{r.randint(1, 28)} {r.choice(months)}"
    return s


# ----------------------------------------------------------------------------- templates
# Categories of everyday traffic; a post type mixes them with its own weights.
_T: dict[str, dict[str, tuple[str, ...]]] = {
    "ru": {
        "front": (
            "На {dir} направлении противник {n} раз пытался атаковать позиции наших подразделений в районе {place_gen}.",
            "Штурмовые группы {unit_gen} продвинулись на {km} км западнее {place_gen}.",
            "Бои идут на окраинах {place_gen}, ситуация динамичная.",
            "В районе {place_gen} отражены {n} атаки противника при поддержке бронетехники.",
            "Противник накапливает силы у {place_gen}, фиксируем подвоз боеприпасов.",
            "По {place_dat} работает наша артиллерия, уничтожен {equip_acc}.",
            "Наши подразделения закрепляются на северной окраине {place_gen}.",
            "Карта боевых действий на {date}: изменения в районе {place_gen} и {village_gen}.",
            "Освобожден населенный пункт {village_nom}, идет зачистка.",
            "Бойцы {unit_gen} взяли под контроль лесополосу между {village_ins} и {place_ins}.",
            "Противник перебросил к {place_dat} свежую бригаду, бои продолжаются.",
            "На {dir} направлении без существенных изменений, идут позиционные бои.",
            "Продвижение в районе {village_gen} подтверждается объективным контролем.",
            "ВСУ контратаковали у {village_gen}, атака отбита с потерями для противника.",
            "Южнее {place_gen} наши ребята заняли {n} опорных пункта.",
            "Мотострелки {unit_gen} вышли к административной границе у {village_gen}.",
        ),
        "strike": (
            "Ночью ВКС нанесли удар по пункту временной дислокации ВСУ в {place_loc}.",
            "Расчет «Искандера» поразил скопление техники под {place_ins}: уничтожено {n} единиц.",
            "Авиация отработала ФАБ-500 с УМПК по опорникам противника в {village_loc}.",
            "Зафиксированы прилеты по {place_dat}, есть попадание в склад боеприпасов.",
            "«Ланцет» поразил {equip_acc} в районе {village_gen}.",
            "Операторы FPV-дронов {unit_gen} уничтожили {equip_acc} и {n} блиндажей.",
            "Удар «Геранями» по объектам энергетики в {place_loc}, видео очевидцев в комментариях.",
            "Наша артиллерия накрыла позиции минометчиков противника у {village_gen}.",
            "В {time} по {place_dat} прилетело {n} ракет, информация о последствиях уточняется.",
            "Разведчики вскрыли позицию {equip_pl} у {village_gen}, цель передана артиллерии.",
        ),
        "air": (
            "Над {region_ins} за ночь сбито {n} беспилотников самолетного типа.",
            "В {place_loc} объявлена воздушная тревога, работает ПВО.",
            "Средства ПВО перехватили {n} ракет ATACMS и {n} снарядов HIMARS.",
            "Дежурные средства ПВО сбили {n} украинских БПЛА над {region_ins}.",
            "Угроза применения БПЛА сохраняется, будьте внимательны.",
        ),
        "losses": (
            "Противник потерял до {n} военнослужащих, {n} танков и {n} артиллерийских орудий.",
            "За сутки уничтожено {n} {equip_pl} противника.",
            "По данным штаба группировки, потери ВСУ на {dir} направлении составили до {big} человек.",
            "Вечная память погибшим, соболезнования родным. 🕯",
            "В плен сдались {n} украинских военнослужащих, видео допроса в комментариях.",
        ),
        "fund": (
            "Сбор на {item_acc} для {unit_gen}: собрано {money} из {money}.",
            "Карта: {card}, получатель {first} {surname}.",
            "Спасибо всем, кто помог! Отчет с фото в комментариях.",
            "Ребята с позывным «{callsign}» просят {item_acc}, срочно.",
            "Закрыли сбор на {item_acc}, передали в {unit_gen}, отчет ниже.",
            "Осталось собрать {money}, любая сумма важна.",
            "Передали {n} единиц: {item_acc} и {item_acc}.",
            "Реквизиты для перевода в закрепе, криптой тоже можно.",
        ),
        "weather": (
            "Погода на {dir} направлении: {weather}, ночью до {temp} градусов.",
            "В районе {place_gen} третий день {weather}, грунтовки развезло, техника вязнет.",
            "Прогноз на {date}: {weather}, видимость плохая, птички почти не летают.",
        ),
        "politics": (
            "{politician} заявил, что переговоры возможны только с учетом реалий на земле.",
            "Госдеп объявил о новом пакете военной помощи на {n} млн долларов.",
            "В Брюсселе обсуждают {n}-й пакет санкций.",
            "{politician} в очередной раз пригрозил ударами по центрам принятия решений.",
            "Министр обороны провел совещание по вопросам снабжения войск.",
            "Пресс-секретарь Кремля {politician} отказался комментировать слухи.",
            "Выборы в США могут изменить расклад, считают эксперты.",
            "Ситуация в {abroad_loc}: боевики продвигаются, наши советники на месте.",
            "Спутниковые снимки {abroad_gen} за {date}: самолеты на стоянках, без изменений.",
            "По словам {surname_gen}, поставки снарядов сократились на {pct}%.",
        ),
        "misc": (
            "Видео в комментариях.",
            "Подписывайтесь, чтобы не пропустить важное.",
            "Репост приветствуется.",
            "Информация уточняется.",
            "Ждем подтверждения от объективного контроля.",
            "Источник: {tme}",
            "Полное видео: {yt}",
            "Наш резервный канал: {handle}",
            "Прямой эфир в {time} по Москве.",
        ),
        "quote": (
            "Боец с позывным «{callsign}» передает: «{quote}».",
            "«{quote}», — рассказал командир роты {surname}.",
            "Пишет подписчик из {village_gen}: «{quote}».",
        ),
        "headline": (
            "Сводка на {date}", "Главное за ночь", "Хроника специальной военной операции",
            "Обстановка на {dir} направлении", "Срочно", "Отчет по сбору",
            "Коротко о событиях дня", "Карта на {time}",
        ),
        "tags": ("#сводка", "#СВО", "#карта", "#сбор", "#ПВО", "#новости", "#фронт", "#видео",
                 "#Донбасс", "#Курск", "#Покровск", "#Запорожье", "#аналитика", "#важное"),
        "subscribe": ("👉 Подписаться на {handle}", "Подписывайтесь: {handle}", "{handle} — без цензуры"),
    },
    "uk": {
        "front": (
            "На {dir} напрямку ворог {n} разів намагався атакувати позиції наших підрозділів у районі {place_gen}.",
            "Штурмові групи {unit_gen} просунулися на {km} км західніше {place_gen}.",
            "Бої тривають на околицях {place_gen}, ситуація динамічна.",
            "У районі {place_gen} відбито {n} атак противника за підтримки бронетехніки.",
            "Ворог накопичує сили біля {place_gen}, фіксуємо підвезення боєприпасів.",
            "По {place_dat} працює наша артилерія, знищено {equip_acc}.",
            "Карта бойових дій на {date}: зміни в районі {place_gen} та {village_gen}.",
            "Бійці {unit_gen} зайняли посадку між {village_ins} і {place_ins}.",
            "Окупанти перекинули до {place_gen} свіжу бригаду, бої тривають.",
            "На {dir} напрямку без суттєвих змін, тривають позиційні бої.",
            "Противник контратакував біля {village_gen}, атаку відбито.",
            "Південніше {place_gen} наші хлопці зачистили {n} опорники.",
            "Росіяни намагаються прорватися до {village_gen} малими піхотними групами.",
            "Генштаб: від початку доби відбулося {n} бойових зіткнень.",
        ),
        "strike": (
            "Уночі ворог атакував {place_acc} ударними БпЛА, є влучання в інфраструктуру.",
            "Сили оборони уразили склад боєприпасів окупантів у {place_loc}.",
            "Росіяни скинули {n} КАБів на {village_acc} та околиці.",
            "Оператори FPV-дронів {unit_gen} знищили {equip_acc} і {n} бліндажів.",
            "Наша артилерія накрила мінометну позицію ворога біля {village_gen}.",
            "О {time} по {place_dat} прилетіло {n} ракет, інформація щодо наслідків уточнюється.",
            "Розвідники виявили позицію {equip_pl} біля {village_gen}, ціль передано артилерії.",
            "Повітряні сили завдали удару по пункту управління противника в {place_loc}.",
        ),
        "air": (
            "Над {region_ins} збито {n} шахедів та {n} крилатих ракет.",
            "У {place_loc} повітряна тривога, працює ППО.",
            "Мобільні вогневі групи збили {n} ударних БпЛА типу «Шахед».",
            "Загроза застосування балістики з півночі, будьте в укриттях.",
        ),
        "losses": (
            "Загальні бойові втрати противника за добу: {n} танків, {n} ББМ, {n} артсистем.",
            "За добу знищено {n} {equip_pl} ворога.",
            "Втрати окупантів на {dir} напрямку склали до {big} осіб.",
            "Вічна пам'ять полеглим захисникам. 🕯",
            "У полон здалися {n} російських військових, відео в коментарях.",
        ),
        "fund": (
            "Збір на {item_acc} для {unit_gen}: зібрано {money} з {money}.",
            "Банка: {card}, отримувач {first} {surname}.",
            "Дякуємо всім, хто долучився! Звіт з фото в коментарях.",
            "Хлопці з позивним «{callsign}» просять {item_acc}, терміново.",
            "Закрили збір на {item_acc}, передали в {unit_gen}, звіт нижче.",
            "Залишилось зібрати {money}, кожна гривня важлива.",
            "Передали {n} одиниць: {item_acc} та {item_acc}.",
            "Реквізити в закріпі, PayPal теж працює.",
        ),
        "weather": (
            "Погода на {dir} напрямку: {weather}, вночі до {temp} градусів.",
            "У районі {place_gen} третій день {weather}, ґрунтовки розмило, техніка грузне.",
            "Прогноз на {date}: {weather}, видимість погана, пташки майже не літають.",
        ),
        "politics": (
            "{politician} заявив, що переговори можливі лише з позиції сили.",
            "Держдеп оголосив про новий пакет військової допомоги на {n} млн доларів.",
            "У Брюсселі обговорюють {n}-й пакет санкцій.",
            "{politician} провів нараду щодо постачання боєприпасів.",
            "Верховна Рада ухвалила законопроєкт про мобілізацію в першому читанні.",
            "За словами {surname_gen}, постачання снарядів скоротилися на {pct}%.",
            "Партнери обіцяють нові системи ППО до кінця року, каже {politician}.",
            "Ситуація в {abroad_loc}: бойовики просуваються, російські радники на місці.",
        ),
        "misc": (
            "Відео в коментарях.",
            "Підписуйтесь, щоб не пропустити важливе.",
            "Поширення вітається.",
            "Інформація уточнюється.",
            "Чекаємо підтвердження.",
            "Джерело: {tme}",
            "Повне відео: {yt}",
            "Наш резервний канал: {handle}",
        ),
        "quote": (
            "Боєць з позивним «{callsign}» передає: «{quote}».",
            "«{quote}», — розповів командир роти {surname}.",
            "Пише підписник з {village_gen}: «{quote}».",
        ),
        "headline": (
            "Зведення на {date}", "Головне за ніч", "Ситуація на {dir} напрямку", "Терміново",
            "Звіт по збору", "Коротко про події дня", "Карта на {time}",
        ),
        "tags": ("#зведення", "#ЗСУ", "#карта", "#збір", "#ППО", "#новини", "#фронт", "#відео",
                 "#Донеччина", "#Харківщина", "#Покровськ", "#Запоріжжя", "#аналітика", "#важливо"),
        "subscribe": ("👉 Підписатися: {handle}", "Підписуйтесь: {handle}", "{handle} — без цензури"),
    },
    "en": {
        "front": (
            "On the {dir} axis, Russian forces attacked {n} times near {place_nom}.",
            "Geolocated footage shows Ukrainian infantry advancing {km} km west of {place_nom}.",
            "Fighting continues on the outskirts of {place_nom}; the situation remains fluid.",
            "{unit} repelled {n} assaults near {village_nom} supported by armor.",
            "Russian troops are massing near {place_nom}, with ammunition trucks seen on the roads.",
            "Artillery hit {equip} near {village_nom}, according to the unit's channel.",
            "Map update for {date}: changes around {place_nom} and {village_nom}.",
            "Small infantry groups keep probing positions south of {place_nom}.",
            "The General Staff reports {n} combat engagements over the past day.",
            "No significant changes on the {dir} front, positional fighting continues.",
            "Claims of a breakthrough near {village_nom} remain unconfirmed.",
        ),
        "strike": (
            "Overnight, Russia launched {n} Shahed drones and {n} missiles at {place_nom}.",
            "A Ukrainian strike hit an ammunition depot in {place_nom}, secondary explosions visible.",
            "Glide bombs were dropped on {village_nom} and nearby settlements.",
            "FPV drone operators of {unit} destroyed {equip} and {n} dugouts.",
            "At {time} local time, explosions were reported in {place_nom}.",
            "Satellite imagery from {date} shows damage to the airfield's fuel storage.",
            "A Lancet loitering munition struck {equip} near {village_nom}.",
        ),
        "air": (
            "Air defense shot down {n} drones over the {region} overnight.",
            "An air raid alert was declared in {place_nom}.",
            "Patriot batteries intercepted {n} ballistic missiles, officials said.",
            "Mobile fire groups downed {n} Shahed-type drones.",
        ),
        "losses": (
            "Estimated losses: {n} tanks, {n} armored vehicles and {n} artillery systems in a day.",
            "Visually confirmed losses near {place_nom} now exceed {big} pieces of equipment.",
            "Rest in peace to the fallen. 🕯",
            "{n} soldiers surrendered near {village_nom}, according to the brigade.",
        ),
        "fund": (
            "Fundraiser for {item} for {unit}: {money} of {money} collected.",
            "Thanks to everyone who donated! Receipts and photos in the comments.",
            "The guys from {unit} urgently need {item}.",
            "We delivered {item} and {item} to the front line this week.",
            "Donate via PayPal or crypto, details in the pinned post.",
            "Only {money} left to go, every dollar counts.",
        ),
        "weather": (
            "Weather on the {dir} front: {weather}, down to {temp} °C at night.",
            "Third day of {weather} around {place_nom}; dirt roads are mud, vehicles get stuck.",
            "Forecast for {date}: {weather} and poor visibility, few drones in the air.",
        ),
        "politics": (
            "{politician} said negotiations are only possible from a position of strength.",
            "The State Department announced a new ${n} million military aid package.",
            "EU ministers are discussing the {ordinal_n} sanctions package.",
            "{politician} met defense ministers to discuss air defense deliveries.",
            "Congress is still debating the supplemental funding bill.",
            "According to {surname}, shell deliveries dropped by {pct}% this month.",
            "{politician} again threatened strikes on decision-making centers.",
            "Satellite images of {abroad_nom} from {date} show aircraft parked as usual.",
            "Africa Corps instructors are still in {abroad_nom}, local sources say.",
        ),
        "misc": (
            "Video in the comments.",
            "Follow for more updates.",
            "Please share.",
            "Details to follow.",
            "Awaiting confirmation.",
            "Source: {xlink}",
            "Full video: {yt}",
            "Backup channel: {handle}",
        ),
        "quote": (
            "A soldier with the call sign {surname} told us: \"We are holding, morale is fine.\"",
            "\"Without EW you don't survive here,\" said a company commander.",
            "\"Drones are working nonstop,\" a source in {unit} said.",
        ),
        "headline": (
            "Daily update, {date}", "Overnight summary", "Situation on the {dir} front", "BREAKING",
            "Fundraiser report", "Key events of the day", "Map as of {time}",
        ),
        "tags": ("#Ukraine", "#Russia", "#OSINT", "#UkraineWar", "#Map", "#Donbas", "#Kursk",
                 "#Syria", "#Sahel", "#AirDefense", "#Update", "#Breaking"),
        "subscribe": ("👉 Follow {handle}", "Subscribe: {handle}", "{handle} — independent OSINT"),
    },
}

_POST_TYPES: dict[str, dict[str, int]] = {
    "summary": {"front": 6, "strike": 4, "air": 2, "losses": 2, "weather": 1, "misc": 1, "quote": 1},
    "fundraising": {"fund": 7, "front": 1, "quote": 2, "misc": 1},
    "politics": {"politics": 7, "front": 1, "strike": 1, "misc": 1},
    "mixed": {"front": 2, "strike": 2, "air": 1, "losses": 1, "fund": 1, "weather": 1, "politics": 2,
              "misc": 1, "quote": 1},
}
_POST_TYPE_WEIGHTS = (("summary", 45), ("fundraising", 15), ("politics", 15), ("mixed", 25))

# -------------------------------------------------------------------- planted sentences
# ⟨…⟩ marks the key word a disguise may hit (typo, homoglyph, zero-width, spacing).
_RELEVANT: dict[str, tuple[str, ...]] = {
    "ru": (
        "Российские войска ⟨выводят⟩ из {place_gen}, колонны идут на восток.",
        "Начался ⟨вывод⟩ войск из {place_gen}.",
        "Начался ⟨вывод⟩ подразделений из {place_gen} на новые позиции.",
        "По данным источников, ВСУ ⟨отошли⟩ с позиций у {place_gen} на заранее подготовленные рубежи.",
        "Противник ⟨отступил⟩ из {village_gen}, наши штурмовики заходят в населенный пункт.",
        "Из Тартуса ⟨вывозят⟩ технику и боеприпасы, у причала два больших десантных корабля.",
        "Идет ⟨эвакуация⟩ мирных жителей из {place_gen}: обстрелы не прекращаются.",
        "Объявлена принудительная ⟨эвакуация⟩ семей с детьми из {n} населенных пунктов из-за обстрелов.",
        "Подразделения ⟨отведены⟩ на новые позиции западнее {place_gen}.",
        "Командование приняло решение о ⟨перегруппировке⟩ войск на {dir} направлении.",
        "⟨Эвакуировали⟩ раненых бойцов с позиций под {place_ins} под огнем противника.",
        "Наши ⟨уходят⟩ из {village_gen}, держаться там больше нечем.",
        "Гарнизон ⟨покинул⟩ {place_acc} ночью, чтобы не попасть в окружение.",
        "Группировку ⟨выводят⟩ из {place_gen}, техника уже грузится на платформы.",
        "Войска РФ ⟨вывели⟩ с левого берега Днепра, сообщает {handle}.",
        "ВСУ ⟨отводят⟩ подразделения от {place_gen}, фиксируем движение колонн.",
        "Идет ⟨вывод⟩ контингента с авиабазы Хмеймим, борта Ил-76 улетают каждые два часа.",
        "В {place_loc} продолжается ⟨эвакуация⟩ населения из-за постоянных ударов дронов.",
        "ВС РФ ⟨отступают⟩ из-под {village_gen}, бросая технику.",
        "Идет ⟨вывод⟩ российских военных из {abroad_gen}, говорят местные источники.",
    ),
    "uk": (
        "Сили оборони ⟨відійшли⟩ з {place_gen} на більш вигідні рубежі.",
        "Розпочато ⟨виведення⟩ військ з {place_gen}.",
        "Окупанти ⟨відводять⟩ підрозділи від {place_gen}.",
        "Триває ⟨евакуація⟩ цивільних з {place_gen}: ворог щодня обстрілює місто.",
        "Оголошено обов'язкову ⟨евакуацію⟩ родин з дітьми з {n} населених пунктів громади через обстріли.",
        "Командування ухвалило рішення ⟨відвести⟩ підрозділи з {village_gen}.",
        "Росіяни ⟨виводять⟩ техніку з {place_gen}, колони рухаються на схід.",
        "Наші ⟨відступили⟩ з {village_gen}, щоб зберегти особовий склад.",
        "Росіяни ⟨вивели⟩ війська з правобережжя Херсонщини.",
        "Під обстрілами ⟨евакуювали⟩ поранених з позицій біля {place_gen}.",
        "Гарнізон ⟨залишив⟩ {place_acc}, щоб уникнути оточення.",
        "У {place_loc} продовжується ⟨евакуація⟩ населення через постійні удари КАБами.",
        "Росія ⟨виводить⟩ війська з {abroad_gen}, пишуть місцеві ЗМІ.",
    ),
    "en": (
        "Russia is ⟨pulling⟩ its troops out of {place_nom}, according to satellite imagery.",
        "Ukrainian forces ⟨withdrew⟩ from {place_nom} to avoid encirclement.",
        "⟨Evacuation⟩ of civilians from {place_nom} continues under heavy shelling.",
        "The US military began ⟨withdrawing⟩ troops from Niger.",
        "Units were ⟨pulled⟩ back from {village_nom} overnight.",
        "Authorities ordered the mandatory ⟨evacuation⟩ of families with children from {place_nom} due to constant shelling.",
        "Russian troops ⟨retreated⟩ from positions near {village_nom}.",
        "Russia is ⟨withdrawing⟩ air defense systems and helicopters from Hmeimim air base.",
        "The garrison ⟨abandoned⟩ {place_nom} after weeks of encirclement, troops left the town.",
        "Wounded soldiers were ⟨evacuated⟩ from frontline positions near {place_nom} under fire.",
        "Il-76 transports are flying equipment out of Syria as the ⟨withdrawal⟩ accelerates.",
        "Russia is ⟨withdrawing⟩ its forces from {abroad_nom}, local sources report.",
    ),
}
_HARD_NEGATIVE: dict[str, tuple[str, ...]] = {
    "ru": (
        "Вывод средств с карты занимает до трех дней, реквизиты в закрепе.",
        "Выводы делайте сами.",
        "Какие выводы из этого можно сделать? Пока никаких.",
        "Эвакуатор увез машину с обочины у {place_gen}.",
        "В {place_loc} из-за паводка началась эвакуация жителей прибрежных улиц.",
        "Вывести пятна с формы поможет обычное хозяйственное мыло.",
        "Из-за утечки газа эвакуировали жильцов пятиэтажки на улице Ленина.",
        "Службу эвакуаторов в {place_loc} снова критикуют за цены.",
        "Сделаем выводы после подтверждения.",
        "Вывести деньги с биржи удалось только через неделю.",
    ),
    "uk": (
        "Вивести кошти з банки можна після закриття збору.",
        "Висновки робіть самі.",
        "Через повінь у {place_loc} евакуювали мешканців кількох вулиць.",
        "Евакуатор забрав авто з парковки біля ТЦ.",
        "Через витік газу евакуювали мешканців багатоповерхівки.",
        "Виведення коштів з картки займає до доби.",
    ),
    "en": (
        "Withdrawal of funds from the donation account takes three business days.",
        "Draw your own conclusions.",
        "Flood evacuation orders were issued for low-lying areas after the river burst its banks.",
        "Residents were evacuated after a gas leak in an apartment building.",
        "The tow truck took the car away before the owner came back.",
        "You can withdraw money from the fund only after the audit.",
    ),
}

# Latin look-alikes for Cyrillic letters and back (the homoglyph disguise).
_TO_LATIN = {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "к": "k", "і": "i"}
_TO_CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у"}
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u00ad", "\u2060")
_KEY = re.compile(r"⟨([^⟩]+)⟩")
_SLOT = re.compile(r"\{(\w+)\}")


def _typo(word: str, rng: random.Random) -> str:
    """One realistic slip: swapped, dropped, doubled or confused letter."""
    if len(word) < 4:
        return word
    i = rng.randint(1, len(word) - 2)
    how = rng.randrange(4)
    if how == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if how == 1:
        return word[:i] + word[i + 1 :]
    if how == 2:
        return word[:i] + word[i] + word[i:]
    confusions = {"и": "ы", "ы": "и", "е": "и", "а": "о", "о": "а", "ц": "с", "і": "и", "e": "i", "a": "e", "i": "e"}
    for j in range(i, len(word)):
        if word[j] in confusions:
            return word[:j] + confusions[word[j]] + word[j + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _disguise(word: str, rng: random.Random) -> str:
    how = rng.randrange(4)
    if how == 0:
        return _typo(word, rng)
    if how == 1:
        table = _TO_CYRILLIC if word.isascii() else _TO_LATIN
        chars = list(word)
        spots = [i for i, ch in enumerate(chars) if i > 0 and ch in table]
        for i in rng.sample(spots, min(len(spots), rng.randint(1, 2))):
            chars[i] = table[chars[i]]
        return "".join(chars)
    if how == 2:
        i = rng.randint(1, len(word) - 1)
        return word[:i] + rng.choice(_ZERO_WIDTH) + word[i:]
    if len(word) <= 9:
        return rng.choice((" ", ".", "-")).join(word.lower())
    return _typo(word, rng)


def _misspell_one(sentence: str, rng: random.Random) -> str:
    words = list(re.finditer(r"[^\W\d_]{6,}", sentence))
    if not words:
        return sentence
    m = rng.choice(words)
    return sentence[: m.start()] + _typo(m.group(), rng) + sentence[m.end() :]


class _Filler:
    """Fills `{slot}` placeholders of one language's templates."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.slots = _slots(lang)
        self.slots["ordinal_n"] = lambda r: _ordinal(r.randint(8, 19))

    def fill(self, template: str, rng: random.Random) -> str:
        return _SLOT.sub(lambda m: self.slots[m.group(1)](rng), template)


_FILLERS: dict[str, _Filler] = {}


def _filler(lang: str) -> _Filler:
    if lang not in _FILLERS:
        _FILLERS[lang] = _Filler(lang)
    return _FILLERS[lang]


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...] | list[tuple[str, int]]) -> str:
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for name, w in pairs:
        x -= w
        if x < 0:
            return name
    return pairs[-1][0]


def _target_length(rng: random.Random) -> int:
    while True:
        n = int(rng.lognormvariate(_LEN_MU, _LEN_SIGMA))
        if MIN_LEN <= n <= MAX_LEN - 150:
            return n


def _planted(lang: str, kind: str, rng: random.Random) -> str:
    filler = _filler(lang)
    pool = _RELEVANT[lang] if kind == "relevant" else _HARD_NEGATIVE[lang]
    sentence = filler.fill(rng.choice(pool), rng)
    disguise = kind == "relevant" and rng.random() < _DISGUISE_RATE
    return _KEY.sub(lambda m: _disguise(m.group(1), rng) if disguise else m.group(1), sentence)


def _compose(lang: str, kind: str, channel: str, rng: random.Random) -> str:
    """One post: optional headline, paragraphs or a bullet list, planted sentence, footer."""
    filler = _filler(lang)
    t = _T[lang]
    cats = _POST_TYPES[_weighted(rng, _POST_TYPE_WEIGHTS)]
    cat_pairs = tuple(cats.items())
    target = _target_length(rng)

    header = ""
    if rng.random() < 0.5:
        header = f"{rng.choice(_EMOJI)} {filler.fill(rng.choice(t['headline']), rng)}"
        if rng.random() < 0.25:
            header = header.upper()
        header += rng.choice(("\n\n", "\n", ": "))
    footer_parts = []
    if rng.random() < 0.6:
        footer_parts.append(" ".join(rng.sample(t["tags"], rng.randint(1, 4))))
    if rng.random() < 0.25:
        footer_parts.append(rng.choice(t["subscribe"]).replace("{handle}", "@" + channel))
    footer = ("\n\n" + "\n".join(footer_parts)) if footer_parts else ""
    planted = _planted(lang, kind, rng) if kind != "plain" else ""

    budget = target - len(header) - len(footer) - len(planted)
    sentences: list[str] = []
    used = 0
    while used < budget or not sentences:
        cat = _weighted(rng, cat_pairs)
        s = filler.fill(rng.choice(t[cat]), rng)
        if rng.random() < _TYPO_RATE:
            s = _misspell_one(s, rng)
        if rng.random() < 0.08:
            s = f"{rng.choice(_EMOJI)} {s}"
        sentences.append(s)
        used += len(s) + 1
    if planted:
        sentences.insert(rng.randint(0, len(sentences)), planted)

    if rng.random() < 0.2 and len(sentences) >= 3:
        body = "\n".join(f"{rng.choice(('▪️', '•', '🔹', '—'))} {s}" for s in sentences)
    else:
        paragraphs: list[str] = []
        i = 0
        while i < len(sentences):
            k = rng.randint(1, 4)
            paragraphs.append(" ".join(sentences[i : i + k]))
            i += k
        body = "\n\n".join(paragraphs)
    text = header + body + footer
    # Very long lines of templates can overshoot: drop whole sentences from the end.
    while len(text) > MAX_LEN and len(sentences) > 1:
        victim = len(sentences) - 1 if sentences[-1] != planted else len(sentences) - 2
        sentences.pop(victim)
        text = header + " ".join(sentences) + footer
    while len(text) < MIN_LEN:
        text += " " + filler.fill(rng.choice(t["misc"]), rng)
    return text[:MAX_LEN]


# What share of posts is of which kind. "mixed" is the benchmark's stream: ~10 % of the
# posts come from military channels and carry rule terms (4 % relevant, 2 % hard
# negatives, 4 % plain war news), the rest is everyday Telegram traffic (bot.bench.general).
# "military" is milblogger channels only: nearly every post has war vocabulary.
MIXES: dict[str, tuple[tuple[str, float], ...]] = {
    "mixed": (("relevant", 0.04), ("hard_negative", 0.02), ("plain", 0.04), ("general", 0.90)),
    "military": (("relevant", RELEVANT_SHARE), ("hard_negative", HARD_NEGATIVE_SHARE),
                 ("plain", 1 - RELEVANT_SHARE - HARD_NEGATIVE_SHARE)),
}
MILITARY_KINDS = ("relevant", "hard_negative", "plain")

_GENERAL_CHANNELS = {
    "ru": ("moskva_segodnya", "pogoda_i_probki", "kripto_novosti_ru", "vkusno_doma", "kinopoisk_chat",
           "avto_rynok_ru", "skidki_i_promokody", "zdorovye_kazhdyi_den", "futbol_ru_live",
           "gadzhety_obzor", "puteshestviya_deshevo", "nedvizhimost_spb"),
    "uk": ("kyiv_misto_novyny", "pogoda_ukr", "kripto_ua", "smachno_vdoma", "kino_ua_chat",
           "avto_ua_rynok", "znyzhky_ua", "zdorovya_ua", "futbol_ua", "gadzhety_ua", "mandry_ua"),
    "en": ("city_daily_news", "weather_now_en", "crypto_digest", "home_cooking_club", "film_buffs",
           "car_deals_weekly", "deals_and_coupons", "healthy_living_tips", "football_live_en",
           "tech_gadgets_daily", "travel_cheap_en"),
}


def generate_labelled(n: int, seed: int = 7, mix: str = "mixed") -> Iterator[Generated]:
    """Like `generate_posts`, with each post's language and kind: "relevant",
    "hard_negative" or "plain" (military channels) or "general" (everyday traffic)."""
    rng = random.Random(seed)
    langs = tuple(LANG_WEIGHTS)
    kinds = MIXES[mix]
    next_id: dict[str, int] = {}
    when = _EPOCH
    for _ in range(n):
        lang = _weighted(rng, langs)
        x = rng.random()
        kind = kinds[-1][0]
        for name, share in kinds:
            if x < share:
                kind = name
                break
            x -= share
        channel = rng.choice((_GENERAL_CHANNELS if kind == "general" else _CHANNELS)[lang])
        msg_id = next_id.get(channel) or rng.randint(1_000, 90_000)
        next_id[channel] = msg_id + rng.randint(1, 3)
        when += timedelta(seconds=rng.randint(5, 600))
        if kind == "general":
            from bot.bench.general import compose_general

            text = compose_general(lang, rng, _target_length(rng))
        else:
            text = _compose(lang, kind, channel, rng)
        post = {"id": msg_id, "channel": channel, "date": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "text": text}
        yield Generated(post, lang, kind)


def generate_posts(n: int, seed: int = 7, mix: str = "mixed") -> Iterator[dict[str, object]]:
    """`n` deterministic synthetic channel posts: {"id", "channel", "date", "text"} dicts."""
    for g in generate_labelled(n, seed, mix):
        yield g.post


def write_jsonl(path: str | Path, n: int, seed: int = 7, mix: str = "mixed") -> Path:
    """Write `n` generated posts as JSON Lines (the `milwatch scan` input format)."""
    p = Path(path)
    with p.open("w", encoding="utf-8") as fh:
        for post in generate_posts(n, seed, mix):
            fh.write(json.dumps(post, ensure_ascii=False) + "\n")
    return p


def vocabulary_size(texts: list[str]) -> int:
    """Distinct lower-cased word forms (as the matcher tokenises them) in some texts."""
    word = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*|\d+")
    return len({w for t in texts for w in word.findall(t.lower())})


__all__ = [
    "REAL_PLACES",
    "VILLAGES",
    "Generated",
    "generate_labelled",
    "generate_posts",
    "translit",
    "vocabulary_size",
    "write_jsonl",
]
