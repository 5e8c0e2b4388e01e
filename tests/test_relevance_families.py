"""The shipped configuration on whole posts: each false-alarm family seen on real channel
traffic stays quiet (stored, not alerted) or unmatched, and each family of real pullouts
and evacuations alerts — in Russian first, and in Ukrainian and English.

The posts are written for these tests in the shape the real false alarms had (a word
that reaches the rules: "сбежал из … в <town>", "в Москве эвакуировали …", "вывод из
России N млрд"); none is copied from a real channel.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.matching import Matcher, Morphology, build_matcher
from bot.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
W = frozenset({"withdrawal"})
E = frozenset({"evacuation"})
NONE: frozenset[str] = frozenset()

FILLER = (
    "Сегодня снова длинный разбор. Сначала про погоду: дожди, дороги развезло. "
    "Логистика работает с перебоями, подвоз идёт по ночам. Про цены на топливо напишу отдельно. "
    "Много вопросов в личке про сборы — отвечу всем. "
)

# (family, post) — the rules match these words, and the relevance stage keeps the hit
# quiet: stored and shown by /recent, never alerted. (Each one alerted before it.)
QUIETED = [
    ("ru-fire-self-evacuated", "В центре Москвы загорелась мансарда, жильцы успели эвакуироваться сами, "
     "пострадавших нет."),
    ("ru-mall-no-cause", "Торговый центр в Подольске эвакуировали, причины не называют, на месте полиция и "
     "кинологи."),
    ("ru-old-grenades-in-flat", "Из подмосковного дома эвакуировали 38 человек: сосед нашёл под полом "
     "гранаты времён войны."),
    ("ru-tow-truck", "В Москве эвакуировали Tesla, припаркованную на тротуаре у Патриарших."),
    ("ru-suspicious-backpack", "Библиотеку на Арбате эвакуировали из-за оставленного без присмотра "
     "рюкзака — Москва."),
    ("ru-planes-diverted", "На запасные аэродромы ушли 12 самолётов, Шереметьево закрыто из-за снегопада."),
    ("ru-money-out-of-russia", "Банкира обвиняют в выводе из России 3 млрд рублей через офшоры."),
    ("ru-road-takes-traffic-out", "Мэрия: новая развязка выведет поток машин из центра Химок уже к зиме."),
    ("ru-game", "В игре про выживание добавили режим эвакуации из осаждённого города: игроки выводят "
     "отряд с базы."),
    ("ru-tactical-move", "Противник отступил на пару сотен метров к лесополосе, но к вечеру "
     "контратаковал."),
]

# (family, post) — local exclusions in the rules themselves: these words are not a pullout
# (each one alerted before them).
EXCLUDED = [
    ("ru-animals-escaped", "Две ламы сбежали с фермы под Тулой и гуляют по трассе М-2."),
    ("ru-teenager-ran-away", "Подросток сбежал из дома в Подольске из-за ссоры с отчимом."),
    ("ru-conscript-deserted", "Срочник с карабином сбежал из воинской части под Выборгом, его ищут наряды."),
    ("ru-deserters-amnesty", "Украинских военнослужащих, самовольно покинувших части, освободят от "
     "ответственности."),
    ("ru-retreat-routes-cut", "Наши штурмовики перерезали противнику пути отхода из промзоны, ВСУ несут "
     "потери."),
    ("ru-anchor", "Военные моряки сообщили, что сухогруз бросил якорь у побережья Дании."),
    ("ru-verdict-upheld", "Апелляционный суд оставил в силе приговор военному из Воронежа."),
    ("ru-embassies-closed-for-a-day", "Посольства нескольких стран в Киеве приостановили работу на день "
     "из-за угрозы массированной атаки."),
]

# (family, post, topics that must alert)
TRUE_ALARMS = [
    ("ru-syria-pullout", "Россия начала вывод войск из Сирии: колонны идут к Хмеймиму, на авиабазе "
     "грузятся Ан-124.", W),
    ("ru-front-town-left", "ВСУ оставили Угледар. Генштаб сообщает об отводе подразделений на более "
     "выгодные рубежи.", W),
    ("ru-official-euphemism", "Минобороны: группировка войск переброшена с правого берега Днепра на левый "
     "для наращивания усилий на других направлениях.", W),
    ("ru-denial", "Песков опроверг сообщения о выводе российских военных с базы в Гюмри: «Никто никуда не "
     "уходит».", W),
    ("ru-base-handed-over", "Американские военные передали авиабазу в Ниамее армии Нигера и покинули "
     "страну.", W),
    ("ru-israel-lebanon", "По условиям перемирия Израиль выведет войска из южного Ливана в течение 60 "
     "дней, а «Хезболла» отведёт боевиков за Литани.", W),
    ("ru-evacuation-under-shelling", "Из-за обстрелов ВСУ в Белгородской области эвакуируют жителей "
     "приграничных сёл, автобусы идут в Старый Оскол.", E),
    ("ru-embassy-evacuated", "Посольство Франции в Хартуме эвакуировано: дипломатов вывезли военным бортом "
     "на фоне боёв в городе.", E),
    ("ru-wounded-evacuated", "Раненых бойцов эвакуировали с передовой под огнём дронов, всех довезли до "
     "госпиталя.", E),
    ("ru-milblogger-buried", FILLER + "Теперь главное: наши подразделения отошли из Работино на заранее "
     "подготовленные позиции, противник занял окраины.", W),
    ("uk-vuhledar", "ЗСУ вийшли з Вугледара, щоб уникнути оточення, повідомляє угруповання «Хортиця».", W),
    ("uk-forced-evacuation", "Через обстріли оголошено примусову евакуацію родин з дітьми з прифронтових "
     "сіл Харківщини.", E),
    ("en-niger", "The Pentagon confirmed that US troops will withdraw from Niger by September, ending "
     "drone operations from Agadez.", W),
    ("en-kharkiv-evacuation", "Thousands of civilians were evacuated from Kharkiv region as Russian "
     "shelling intensified along the border.", E),
]


@pytest.fixture(scope="module")
def shipped(morph: Morphology) -> Matcher:
    return build_matcher(load_rules(ROOT / "config" / "rules.yaml"), morph)


@pytest.mark.parametrize(("family", "text"), QUIETED, ids=[f for f, _ in QUIETED])
def test_false_alarm_family_is_kept_quiet(shipped: Matcher, family: str, text: str) -> None:
    hits = shipped.match(text)
    assert hits, "the rules no longer match this post: move it to EXCLUDED"
    alerting = [(h.rule_id, h.relevance) for h in hits if h.alerts]
    assert not alerting, alerting
    for hit in hits:  # stored with its reasons, for /recent and the operator
        assert hit.relevance is not None and any(e.weight < 0 for e in hit.relevance.evidence)


@pytest.mark.parametrize(("family", "text"), EXCLUDED, ids=[f for f, _ in EXCLUDED])
def test_false_alarm_family_is_excluded_by_the_rules(shipped: Matcher, family: str, text: str) -> None:
    assert [h.rule_id for h in shipped.match(text)] == []


@pytest.mark.parametrize(("family", "text", "topics"), TRUE_ALARMS, ids=[f for f, _, _ in TRUE_ALARMS])
def test_true_alarm_family_alerts(shipped: Matcher, family: str, text: str, topics: frozenset[str]) -> None:
    hits = shipped.match(text)
    assert frozenset(h.topic for h in hits if h.alerts) == topics, [
        (h.rule_id, h.relevance) for h in hits
    ]
