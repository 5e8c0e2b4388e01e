"""Every class of case in every language, against the shipped rules.

Complements tests/test_matcher.py (mostly Russian) with the Ukrainian and English
versions of each evasion and hard-negative family.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.compiled import compiled_matcher
from bot.matching import Matcher, Morphology
from bot.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
W = frozenset({"withdrawal"})
E = frozenset({"evacuation"})
NONE: frozenset[str] = frozenset()
ZW = "\u200b"


@pytest.fixture(scope="module")
def shipped(morph: Morphology) -> Matcher:
    return compiled_matcher(load_rules(ROOT / "config" / "rules.yaml"), morph)


CASES = [
    # inflection and aspect pairs
    ("uk-inflection-perfective", "Росія вивела війська з Сирії.", W),
    ("uk-inflection-imperfective", "Росія виводить війська з Сирії.", W),
    ("en-inflection-past", "The army withdrew its last units from the base.", W),
    # typos
    ("uk-typo", "Почалося виведеня військ із Сирії.", W),
    ("en-typo", "There will be no full withdrawl of troops from Syria.", W),
    # transliteration (Russian written in Latin letters)
    ("ru-translit-evac", "Na Hmeimime idet evakuatsiya, nashi uhodyat.", E | W),
    # homoglyphs: Latin letters inside Cyrillic words, Cyrillic inside Latin
    ("uk-homoglyph", "Оголосили евакуацiю жителів прикордоння через обстріли.", E),
    ("en-homoglyph", "Embassy staff evacu\u0430ted from Khartoum as fighting spread.", E),
    # zero-width characters inside words
    ("uk-zero-width", f"Окупанти ви{ZW}водять війська з правого берега.", W),
    ("en-zero-width", f"US troops with{ZW}draw from Niger this summer.", W),
    # spaced-out letters
    ("uk-spaced", "Оголошено е в а к у а ц і ю мешканців через обстріли.", E),
    ("en-spaced", "E V A C U A T I O N of embassy staff from Khartoum has begun.", E),
    # words hyphenated across a line break
    ("uk-hyphenation", "Окупанти ви-\nводять війська з Херсонщини.", W),
    ("en-hyphenation", "US troops with-\ndraw from Niger.", W),
    # denials are still withdrawal
    ("uk-denial", "Жодного виведення військ із Сирії немає, бази працюють.", W),
    ("en-denial", "Moscow denies any withdrawal of troops from Syria.", W),
    # euphemisms: "more favourable lines", and the enemy rolling back
    ("uk-better-lines", "Особовий склад переміщено на більш вигідні позиції на правому березі.", W),
    ("en-better-lines", "Troops were repositioned to more favourable lines west of the river.", W),
    ("ru-enemy-rolls-back", "Противник откатывается к границе, бросая технику.", W),
    ("ru-mission-over", "Миссия в Мали завершена, бойцы «Вагнера» возвращаются домой.", W),
    ("ru-disengagement", "Договорились о разведении сил: войска отводят на два километра.", W),
    ("uk-disengagement", "Почалося розведення сил: підрозділи відходять від лінії зіткнення.", W),
    ("en-winding-down", "US forces are winding down their presence in Iraq.", W),
    ("ru-business-presence", "Компания переходит к оптимизации присутствия на рынке.", NONE),
    ("ru-fighters-leave-cage", "Бойцы ММА вышли из клетки после третьего раунда.", NONE),
    ("ru-sport-retreat", "Наши отошли от провального первого тайма и забили дважды.", NONE),
    ("uk-sport-leave", "Наша збірна вийшла з групи чемпіонату Європи з першого місця.", NONE),
    ("ru-talks-then-pullout", "После раунда переговоров в Стамбуле Россия отводит войска от Киева.", W),
    ("en-final-withdrawal", "The final withdrawal of US troops from Afghanistan ended the war.", W),
    ("uk-enemy-rolls-back", "Ворог відкочується до кордону під вогнем наших дронів.", W),
    # front-line villages the dictionaries do not know (or, in Ukrainian, do not mark)
    ("ru-unknown-village", "Наши уходят из Зеленолебедевки, держаться там больше нечем.", W),
    ("uk-village-in-dictionary", "Гарнізон залишив Костянтинівку, щоб уникнути оточення.", W),
    ("uk-town", "Окупанти виводять підрозділи з Курахового.", W),
    ("uk-cash-is-no-village", "Ліміт на виведення готівки — 50 тис грн на місяць.", NONE),
    ("uk-trip-is-no-village", "Виведення коштів перед мандрівкою за кордон: інструкція.", NONE),
    # common slips in short words: a vowel written as heard, two letters swapped
    ("ru-vowel-slip", "Идет вывад контингента с авиабазы Хмеймим.", W),
    ("en-swapped-letters", "Russia is withrdawing its forces from Syria, sources say.", W),
    ("en-swapped-letters-evac", "Evacuaiton of civilians from Kupiansk continues under shelling.", E),
    # diplomats leaving a country at war
    ("en-ordered-departure", "State Dept orders departure of most US Embassy Kyiv staff as the invasion looms.", E),
    ("ru-embassy-relocates", "Посольство переезжает во Львов: Киев под ударами, сотрудников вывозят.", E),
    ("uk-embassy-relocates", "Посольство переїжджає до Львова через обстріли Києва.", E),
    ("ru-diplomats-walk-out", "Российские дипломаты покинули заседание Совбеза ООН по Украине.", NONE),
    ("en-embassy-moves-building", "The embassy moved to a new building downtown last spring.", NONE),
    # bases handed over (a withdrawal), not coordinates or a database
    ("ru-bases-handed-over", "Позиции и базы передаются «Африканскому корпусу», ребята едут домой.", W),
    ("en-base-handed-over", "The US handed over the base at Tower 22 to Jordanian forces.", W),
    ("ru-coordinates-handed-over", "Разведчики передали координаты позиций противника артиллерии.", NONE),
    ("ru-database-handed-over", "Хакеры передали базу данных клиентов журналистам.", NONE),
    ("ru-base-handed-to-authorities", "Авиабаза Хмеймим передана сирийским властям.", W),
    ("ru-target-handed-to-artillery", "Разведчики вскрыли позицию БМП, цель передана артиллерии.", NONE),
    ("ru-drones-delivered-to-positions", "Передали на позиции 5 дронов и два тепловизора. Спасибо!", NONE),
    ("ru-football-pass", "Гол забит после точной передачи с позиции правого защитника.", NONE),
    ("ru-fighter-reports", "Боец с позывным «Дон» передает: «Позиции держим, всё нормально».", NONE),
    ("en-prisoners-handed-over", "The prisoners were handed over at an airfield in the UAE.", NONE),
    # more diplomats: leaving a capital at war, not expelled or moving house
    ("ru-diplomats-leave-kyiv", "Дипломаты западных стран оставляют Киев.", E),
    ("ru-diplomat-recalled", "Латвия отозвала дипломата из Москвы в знак протеста.", NONE),
    ("ru-embassy-new-building", "Посольство Германии переехало в новое здание в Москве.", NONE),
    ("en-metro-package", "Kyiv metro station evacuated after a suspicious package was found.", NONE),
    # shapes that are no villages: slang, an adverb, a drink
    ("uk-adverb-is-no-village", "Наша збірна вчергове вийшла до фіналу чемпіонату Європи!", NONE),
    ("ru-cappuccino-is-no-village", "Как вывести пятна от капуччино с белой рубашки за пять минут.", NONE),
    ("ru-slang-is-no-village", "Отойти от такого кринжово снятого финала было трудно.", NONE),
    ("ru-left-a-village", "Российские войска вышли из Крынок.", W),
    # "under fire" is war, a fire at a plant is not
    ("en-under-fire", "Wounded soldiers were evacuated from frontline positions near Horlivka under fire.", E),
    ("en-plant-fire", "A fire at a chemical plant near the border forced the evacuation of 300 residents.", NONE),
    # proximity: NEAR stays in one sentence
    ("ru-proximity-split", "Вывод очевиден. Войска остаются на позициях до весны.", NONE),
    ("uk-proximity-split", "Висновок: війська залишаються на позиціях.", NONE),
    # hard negatives, Ukrainian and English
    ("uk-money", "Виведення коштів з картки затримали на два дні.", NONE),
    ("uk-conclusion", "Висновок простий: не тримайте всі гроші на одній картці.", NONE),
    ("uk-died", "Пішов з життя ветеран, доброволець 2014 року.", NONE),
    ("uk-tow-truck", "Евакуатори забирають авто з узбіч у Києві.", NONE),
    ("uk-entering", "Українські військові заходять у звільнені села.", NONE),
    ("uk-trains-depart", "Поїзди західного напрямку відходять із затримкою.", NONE),
    ("en-leaving-platform", "I'm leaving X for good; maps will be on Bluesky.", NONE),
    ("en-business-exit", "Carlsberg is leaving the Russian market after selling Baltika.", NONE),
    ("ru-business-positions", "Компания заняла более выгодные позиции на рынке смартфонов.", NONE),
    ("uk-business-positions", "Банк зайняв більш вигідні позиції на ринку кредитів.", NONE),
    ("en-business-positions", "Our fund moved to more favourable positions in bonds.", NONE),
    ("ru-prices-roll-back", "Цены на бензин откатились к уровню прошлого года.", NONE),
    ("en-hurricane", "Mandatory evacuation orders now cover parts of Tampa Bay.", NONE),
    ("en-aid-package", "New drawdown package: $425M of missiles and Bradleys for Ukraine.", NONE),
    ("en-advance", "Ukrainian units pushed 10 km past the border near Sudzha.", NONE),
    ("en-resupply", "An Il-76 flew Chkalovsky to Hmeimim again: the usual resupply run.", NONE),
    # a front-line town given up without saying who; villages known by their shape
    ("ru-town-given-up", "Сдали Новоалександровку, противник закрепляется на окраине.", W),
    ("ru-town-left-passive", "Новоалександровка оставлена, штурмовики отошли к ставку.", W),
    ("ru-town-exit-noun", "Выход из Кременной подтвердили в штабе группировки.", W),
    ("uk-town-exit-noun", "Вихід з Олександрівки підтвердили в Генштабі ЗСУ.", W),
    ("en-town-withdrawal", "Withdrawal from Bakhmut confirmed by the General Staff.", W),
    ("ru-exit-from-union", "Выход из Евросоюза снова обсуждают в парламенте.", NONE),
    ("ru-exams-in-front-town", "Выпускники сдали экзамены в Покровске без происшествий.", NONE),
    ("ru-thrown-at-town", "Наших бросили на Покровск, штурмуют окраины.", NONE),
    # the wounded and crews evacuated from the front
    ("ru-wounded-evacuated", "Раненых бойцов эвакуировали с позиций под огнём.", E),
    ("uk-wounded-evacuated", "Поранених бійців евакуювали з позицій під обстрілом.", E),
    ("en-medevac-front", "A medevac team flew wounded soldiers out of Chasiv Yar overnight.", E),
    ("en-medevac-hiker", "Medevac helicopter flew an injured hiker out of the Alps.", NONE),
    ("ru-medevac-patient", "Медэвакуация пациента из Норильска санавиацией прошла успешно.", NONE),
    # Ukrainian participles and stock phrases, units folding up, sea lift
    ("uk-participle-pulled-back", "Відведені з-під Курахового підрозділи поповнюють і відновлюють.", W),
    ("uk-presence-wound-down", "Росія згортає присутність у Лівії, транспортники летять щодня.", W),
    ("ru-garrison-folds-up", "Гарнизон сворачивается, колонна уходит к границе.", W),
    ("ru-sealift-loading", "На «Спарту IV» в Тартусе грузят технику и контейнеры.", W),
    # more ways to say it: ships gone, a unit led away, presence cut, checkpoints, the IDF
    ("ru-led-away", "Батальон увели из-под Торецка, на его место зашли мобики.", W),
    ("ru-presence-folding", "Идёт сворачивание присутствия на базе в Камышлы.", W),
    ("en-presence-cut", "Washington will cut troop presence in Syria by half.", W),
    ("en-checkpoint-handed-over", "Border guards handed over the checkpoint and left for home.", W),
    ("en-idf-out", "The IDF withdrew its brigades from Khan Younis.", W),
    # children taken out of a border town, not on holiday; equipment evacuated under fire
    ("ru-children-taken-out", "Из Грайворона вывезли последних детей.", E),
    ("ru-children-holiday", "Школа вывезла детей на отдых в Анапу.", NONE),
    ("ru-equipment-evacuated", "Эвакуация техники под огнём: тягач вытащил БМП из-под Часова Яра.", E),
    ("ru-wounded-no-pullout", "Наших раненых эвакуировали ночью с позиций.", E),
    # hard negatives: dividends, a drill, a flat let, an arms-control treaty
    ("ru-dividends", "Вывод дивидендов из России снова разрешили.", NONE),
    ("ru-drill", "На учениях отработан отвод подразделений под огнём.", NONE),
    ("ru-flat-let", "Сдали квартиру в Покровске ещё до войны.", NONE),
    ("ru-treaty-exit", "Выход из ДСНВ был неизбежен, заявил Медведев, обвинив американцев.", NONE),
    # places shaped like villages far from any front need a military word near
    ("ru-village-car-left", "Водитель сбил столб, оставил машину в Ивантеевке и скрылся.", NONE),
    ("ru-metro-exit", "Выход из метро Медведково закроют на ремонт до весны.", NONE),
    ("ru-airport-left", "Пассажиры покинули Шереметьево после отмены рейса.", NONE),
    ("ru-raisins", "Изюм лучше оставить на ночь в воде.", NONE),
    ("ru-village-left-military", "ВСУ покинули Новоалександровку, наши заходят с юга.", W),
    # peacetime evacuations in front-line regions; drills, launches, films, history
    ("ru-capital-flight", "Эвакуация капиталов в Казахстан продолжается, пишут банкиры.", NONE),
    ("ru-pepper-spray", "Школу в Курске эвакуировали из-за перцового баллончика.", NONE),
    ("ru-space-launch", "На время пуска с Байконура жителей эвакуируют из зоны падения.", NONE),
    ("uk-siren-test", "У Сумах перевірка сирен, евакуація не потрібна.", NONE),
    ("ru-history", "Сегодня годовщина: в 1941 году Красная армия оставила Киев.", NONE),
    ("ru-series", "Сериал об эвакуации из Кабула выйдет весной.", NONE),
    # ...but a fire a drone started is the war's
    ("ru-drone-fire", "После прилёта дрона загорелся дом, жильцов эвакуировали.", E),
    ("uk-drone-fire", "Після удару дрона спалахнула пожежа, мешканців евакуювали.", E),
    ("ru-medevac-wounded", "Медэвакуация раненых с позиций под Покровском продолжается.", E),
    # civil aviation, trading, waste
    ("en-airline-cargo", "The airline loaded its An-124 with a turbine for a power plant.", NONE),
    ("ru-last-flight-airport", "Последний борт из Внуково улетел в полночь, аэропорт закрыт на ремонт ВПП.", NONE),
    ("en-fund-positions", "The fund closed positions in chipmakers after the rally.", NONE),
    ("ru-waste", "Город закупил технику для переработки отходов.", NONE),
    # "переброшена … для усиления" is the official word for a pullout; extra units are not
    ("ru-redeployed-to-reinforce", "Группировка из-под Херсона переброшена на Запорожское направление для усиления обороны.", W),
    ("ru-reinforcements-in", "В Белгородскую область переброшены дополнительные подразделения.", NONE),
    # regions named by their oblast, mercenaries, rotations without replacement, ships moved
    ("ru-oblast-exit", "Выход частей ВСУ из Курской области идёт под огнём.", W),
    ("uk-mercenaries-leave", "Російські найманці залишають Малі, пишуть місцеві.", W),
    ("ru-no-replacement", "Две роты ушли на ротацию без замены, гарнизон тает.", W),
    ("en-rotated-out", "The brigade was rotated out of the sector and has not been replaced.", W),
    ("uk-ships-moved", "Кораблі перевели з Севастополя до Новоросійська.", W),
    ("en-sorties-out", "A surge of An-124 sorties out of Hmeimim overnight.", E),
    # companies and airlines pull out too; people flown out are no equipment leaving
    ("en-companies-out", "Over 1,000 companies have pulled out of Russia since 2022.", NONE),
    ("en-airline-out", "Ryanair pulls out of three regional airports next winter.", NONE),
    ("ru-citizens-flown-out", "Ил-76 вывезли из Хартума более 200 человек — граждан России.", E),
    ("ru-diplomats-flown-out", "Дипломатов вывозят бортом через Хмеймим, посольство закрыто.", E),
    # staff going home from a base, "out of" a country, an empty or abandoned base
    ("ru-base-staff-home", "Персонал авиабазы Кант убывает на Родину, базу готовят к передаче.", W),
    ("en-out-of-country", "French troops will be out of Chad by the end of January.", W),
    ("uk-base-empty", "Супутник: база в Тартусі порожня, кораблів біля причалу немає.", W),
    ("en-facility-abandoned", "The naval facility looks abandoned on the latest imagery.", W),
    ("en-grain-ships", "Cargo ships left Odesa with grain this morning.", NONE),
    # a proper name is no unit; a map is no bank card; evacuation groups evacuate
    ("en-united-kingdom", "The United Kingdom withdrew from the grain deal talks.", NONE),
    ("uk-map-updated", "ЗСУ вийшли з Мирнограда, карту оновлено.", W),
    ("uk-evacuation-group", "Евакуаційна група вивезла з Костянтинівки ще 12 людей під обстрілами.", E),
    # hromadas and districts by their adjectives, Israel as a war zone
    ("ru-district", "Идёт эвакуация жителей Суджанского района.", E),
    ("en-israel", "Canada evacuated 800 nationals from Israel this week.", E),
    # "уходим" needs no "мы"; contingents cut, bases closing, UN camps, the last C-17
    ("ru-we-leave", "Неужели уходим из Сирии? Пишут, что колонны уже у Тартуса.", W),
    ("ru-we-reach-border", "Мы выходим на границу противостояния в Европе.", NONE),
    ("uk-contingent-cut", "США скорочують контингент в Іраку, база закривається.", W),
    ("en-un-camp", "The UN camp at Kidal was abandoned as MINUSMA left.", W),
    ("en-last-c17", "The final C-17 left Kabul just before midnight.", W),
    # people flown or pulled out with words in between
    ("en-citizens-flown-out", "RAF transports flew 300 British citizens out of Lebanon.", E),
    ("en-embassy-staff-out", "The UK pulls embassy staff out of Kyiv.", E),
    ("en-festival", "Families get out and enjoy the fall festival downtown.", NONE),
    # the wounded and civilians taken out; fleets moved; an evacuation train; Kadyrovites
    ("ru-wounded-evacuation", "Эвакуация раненых из-под Кринок продолжается ночью.", E),
    ("ru-civilians-by-helicopter", "Вертолётами вывозят гражданских из Шебекино.", E),
    ("uk-fleet-moved", "Чорноморський флот переміщує кораблі з Севастополя до Новоросійська.", W),
    ("en-fleet-relocates", "The Black Sea Fleet relocates submarines from Sevastopol to Novorossiysk.", W),
    ("uk-evacuation-train", "Укрзалізниця призначила евакуаційний потяг з Краматорська.", E),
    ("uk-citizens-taken-out", "Ізраїль вивозить своїх громадян з Лівану спецрейсами.", E),
    ("uk-kadyrovites-left", "Кадирівці залишили позиції біля Білогорівки.", W),
]


# One-line posts whose wording the rules take, but with no word of war around them: the
# relevance stage keeps them quiet (stored, shown by /recent), as it does the fire, tow
# truck and escaped-animal posts of city news, which look the same to it.
QUIET_CASES = [
    ("uk-ships-gone", "Кораблі флоту пішли з Новоросійська до Туапсе.", W),
    ("uk-hromada", "Евакуйовано ще 20 дітей з Покровської громади.", E),
]


@pytest.mark.parametrize(("name", "text", "topics"), QUIET_CASES, ids=[c[0] for c in QUIET_CASES])
def test_thin_one_liners_are_kept_quiet(shipped: Matcher, name: str, text: str, topics: frozenset[str]) -> None:
    hits = shipped.match(text)
    assert frozenset(h.topic for h in hits) == topics  # the rules match …
    assert not any(h.alerts for h in hits)  # … but no alert goes out
    assert all(h.relevance is not None and h.relevance.score < h.relevance.threshold for h in hits)


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_case_class(shipped: Matcher, name: str, text: str, expected: frozenset[str]) -> None:
    hits = shipped.match(text)
    got = frozenset(h.topic for h in hits if h.alerts)  # what reaches the analysts
    assert got == expected, [(h.rule_id, [t.surface for t in h.terms]) for h in hits]
    for hit in hits:  # every highlighted span is a piece of the post as written
        for tm in hit.terms:
            assert text[tm.start : tm.end] == tm.surface
