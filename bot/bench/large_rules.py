"""A large, realistic rules file for the benchmark: 1,000+ terms across 100+ rules.

An OSINT desk's watch list grows far beyond two topics: weapons, units, places, actions
and their exclusions, in Russian, Ukrainian and English. `large_rules_yaml()` writes such a
file in the format of config/rules.yaml — lemma words, phrases, a few "exact" quoted
forms, prefixes*, `~1` typo terms, `<place>` and `@include` — with hand-written concept
lists, one concept per front sector built from the corpus generator's village names (so
the generated posts do mention them), and `n_rules` rules drawn with a seeded
`random.Random` from condition templates using NEAR/n, WITHIN/n, OR, AND NOT, NOT NEAR
and `unless`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

from bot.bench.corpus import FOREIGN_PLACES, REAL_PLACES, VILLAGES, Place

# name, description, ru, uk, en — terms separated by ", "; "quoted" = exact form,
# trailing * = prefix, ~1 = at most one typo.
_GROUPS: tuple[tuple[str, str, str, str, str], ...] = (
    # ---------------------------------------------------------------- weapons
    ("artillery", "Tube artillery and mortars.",
     "артиллерия, гаубица, САУ, миномет, снаряд, контрбатарейная борьба, \"Д-30\", \"Мста-С\", "
     "Гиацинт, Акация, Пион, \"М777\", Краб, Цезарь, \"PzH 2000\", \"152-мм\", \"155-мм\", артдивизион",
     "артилерія, гаубиця, САУ, міномет, снаряд, контрбатарейна боротьба, Богдана, \"М777\", Краб, "
     "Цезар, \"155-мм\", артдивізіон, арта",
     "artillery, howitzer, howitzers, mortar, mortars, shells, counter-battery fire, \"M777\", "
     "\"Caesar\", \"PzH 2000\", \"Krab\", \"155mm\", self-propelled gun, \"2S19\", \"Msta-S\""),
    ("mlrs", "Multiple rocket launchers.",
     "РСЗО, реактивная система залпового огня, Град, Ураган, Смерч, Торнадо, \"ТОС-1А\", Солнцепек, "
     "Буратино, HIMARS, Хаймарс, \"M270\", MLRS, ракеты GMLRS",
     "РСЗВ, реактивна система залпового вогню, Град, Ураган, Смерч, Торнадо, Солнцепьок, HIMARS, "
     "Хаймарс, \"M270\", Вампір",
     "MLRS, HIMARS, \"M270\", GMLRS, multiple rocket launcher, rocket launcher, Grad, Uragan, Smerch, "
     "Tornado, \"TOS-1A\", thermobaric"),
    ("missiles", "Missiles and their launchers.",
     "ракета, Искандер, Калибр, Кинжал, Циркон, Оникс, \"Х-101\", \"Х-22\", \"Х-59\", ATACMS, "
     "Storm Shadow, Шторм Шэдоу, SCALP, баллистическая ракета, крылатая ракета, Орешник, \"Точка-У\", "
     "Нептун, Taurus",
     "ракета, Іскандер, Калібр, Кинджал, Циркон, Онікс, \"Х-101\", \"Х-22\", ATACMS, Storm Shadow, "
     "балістична ракета, крилата ракета, Нептун, Паляниця, Фламінго, Орєшнік",
     "missile, missiles, Iskander, Kalibr, Kinzhal, Zircon, Oniks, \"Kh-101\", \"Kh-22\", ATACMS, "
     "Storm Shadow, SCALP, ballistic missile, cruise missile, Oreshnik, Neptune, Taurus"),
    ("attack_drones", "Strike drones and loitering munitions.",
     "Шахед, Герань, Ланцет, FPV, дрон-камикадзе, барражирующий боеприпас, Баба-Яга, \"Герань-2\", "
     "ударный БПЛА, дрон на оптоволокне, оптоволокно, дрон-перехватчик, сброс",
     "Шахед, Шахеди, Герань, Ланцет, FPV, дрон-камікадзе, Баба-Яга, ударний БпЛА, дрон на оптоволокні, "
     "дрон-перехоплювач, скид, Лютий",
     "Shahed, Shaheds, Geran, Lancet, FPV, kamikaze drone, loitering munition, Baba Yaga, "
     "fiber-optic drone, interceptor drone, strike drone, Lyutyi"),
    ("recon_drones", "Reconnaissance drones.",
     "Орлан, \"Орлан-10\", Мавик, Mavic, Суперкам, Supercam, ZALA, Зала, разведывательный БПЛА, "
     "птичка, квадрокоптер, крыло",
     "Орлан, Мавік, Mavic, Суперкам, ZALA, розвідувальний БпЛА, пташка, квадрокоптер, крило",
     "Orlan, \"Orlan-10\", Mavic, Supercam, ZALA, reconnaissance drone, recon drone, quadcopter"),
    ("air_defence", "Air defence systems.",
     "ПВО, ЗРК, Панцирь, Тор, Бук, \"С-300\", \"С-400\", \"С-500\", Patriot, Пэтриот, IRIS-T, NASAMS, "
     "Стрела, Игла, ПЗРК, мобильная огневая группа, зенитный",
     "ППО, ЗРК, Панцир, Тор, Бук, \"С-300\", \"С-400\", Patriot, Петріот, IRIS-T, NASAMS, Гепард, "
     "ПЗРК, мобільна вогнева група, зенітний",
     "air defense, air defence, SAM, Pantsir, Tor, Buk, \"S-300\", \"S-400\", Patriot, IRIS-T, NASAMS, "
     "Gepard, MANPADS, Stinger, mobile fire group"),
    ("tanks", "Tanks.",
     "танк, \"Т-72\", \"Т-72Б3\", \"Т-80\", \"Т-80БВМ\", \"Т-90\", \"Т-90М\", \"Т-62\", \"Т-55\", "
     "Леопард, Leopard, Абрамс, Abrams, Челленджер, танкист, бронетехника",
     "танк, \"Т-72\", \"Т-80\", \"Т-90\", \"Т-64\", Леопард, Leopard, Абрамс, Abrams, Челенджер, "
     "танкіст, бронетехніка",
     "tank, tanks, \"T-72\", \"T-80\", \"T-90\", \"T-62\", \"T-64\", Leopard, Abrams, Challenger, "
     "armor, armour, armored vehicles"),
    ("ifv_apc", "Infantry fighting vehicles and personnel carriers.",
     "БМП, БТР, БМД, \"МТ-ЛБ\", Брэдли, Bradley, Страйкер, Stryker, Мардер, MaxxPro, бронемашина, "
     "бронеавтомобиль, Тигр, Тайфун, ББМ",
     "БМП, БТР, БМД, \"МТ-ЛБ\", Бредлі, Bradley, Страйкер, Мардер, MaxxPro, бронемашина, ББМ, Козак",
     "IFV, APC, BMP, BTR, \"MT-LB\", Bradley, Stryker, Marder, MaxxPro, M113, armored vehicle, "
     "infantry fighting vehicle"),
    ("aircraft", "Combat and transport aircraft.",
     "самолет, истребитель, бомбардировщик, штурмовик, \"Су-25\", \"Су-34\", \"Су-35\", \"Су-24\", "
     "\"Ту-95\", \"Ту-22М3\", \"Ту-160\", \"А-50\", \"Ил-76\", \"Ан-124\", \"F-16\", Мираж, Грипен",
     "літак, винищувач, бомбардувальник, штурмовик, \"Су-25\", \"Су-34\", \"Су-27\", \"МіГ-29\", "
     "\"Ту-95\", \"Ту-22М3\", \"А-50\", \"F-16\", Міраж",
     "aircraft, fighter jet, bomber, \"Su-25\", \"Su-34\", \"Su-35\", \"Tu-95\", \"Tu-22M3\", "
     "\"Tu-160\", \"A-50\", \"Il-76\", \"F-16\", Mirage, Gripen, \"C-17\", \"C-130\""),
    ("helicopters", "Helicopters.",
     "вертолет, \"Ка-52\", \"Ми-8\", \"Ми-28\", \"Ми-24\", \"Ми-35\", Аллигатор, вертушка",
     "гелікоптер, вертоліт, \"Ка-52\", \"Мі-8\", \"Мі-24\", \"Мі-28\", вертушка",
     "helicopter, helicopters, \"Ka-52\", \"Mi-8\", \"Mi-24\", \"Mi-28\", Alligator, gunship"),
    ("naval", "Warships, submarines and naval drones.",
     "корабль, фрегат, корвет, крейсер, подлодка, подводная лодка, БДК, большой десантный корабль, "
     "катер, морской дрон, безэкипажный катер, флот, ЧФ, Черноморский флот, Адмирал Макаров",
     "корабель, фрегат, корвет, крейсер, підводний човен, ВДК, катер, морський дрон, Magura, "
     "Sea Baby, флот, Чорноморський флот",
     "warship, frigate, corvette, cruiser, submarine, landing ship, naval drone, sea drone, "
     "Magura, Sea Baby, Black Sea Fleet, fleet, navy"),
    ("glide_bombs", "Guided glide bombs.",
     "КАБ, УМПК, ФАБ, \"ФАБ-500\", \"ФАБ-1500\", \"ФАБ-3000\", управляемая авиабомба, авиабомба, "
     "планирующая бомба, ОДАБ",
     "КАБ, КАБи, УМПК, ФАБ, \"ФАБ-500\", \"ФАБ-1500\", керована авіабомба, авіабомба",
     "glide bomb, glide bombs, KAB, UMPK, \"FAB-500\", \"FAB-1500\", \"FAB-3000\", guided bomb, "
     "JDAM, GBU"),
    ("ew", "Electronic warfare.",
     "РЭБ, радиоэлектронная борьба, глушилка, подавитель, Поле, Буковель, Красуха, Житель, "
     "Тирада, окопный РЭБ, детектор дронов",
     "РЕБ, радіоелектронна боротьба, глушилка, подавлювач, Буковель, Нота, детектор дронів, Пластун",
     "electronic warfare, EW, jammer, jammers, jamming, spoofing, GPS jamming, drone detector, Krasukha"),
    ("ammunition", "Ammunition and its depots.",
     "боеприпасы, БК, снаряды, патроны, мины, склад боеприпасов, арсенал, детонация, "
     "снарядный голод, боекомплект",
     "боєприпаси, БК, снаряди, набої, міни, склад боєприпасів, арсенал, детонація, снарядний голод",
     "ammunition, ammo, shells, rounds, munitions, ammunition depot, arsenal, secondary explosions, "
     "shell hunger"),
    ("logistics", "Supply lines, roads, bridges, rail and fuel.",
     "логистика, снабжение, подвоз, трасса, мост, переправа, понтон, железная дорога, эшелон, "
     "топливо, горючее, цистерна, Крымский мост, Керченский мост, дорога жизни, сухопутный коридор",
     "логістика, постачання, підвезення, траса, міст, переправа, понтон, залізниця, ешелон, пальне, "
     "цистерна, Кримський міст, дорога життя",
     "logistics, supply line, supply lines, resupply, bridge, crossing, pontoon, railway, rail, "
     "train, fuel, Crimean Bridge, Kerch Bridge, land corridor, main supply route"),
    # ---------------------------------------------------------------- who
    ("units", "Unit types.",
     "бригада, полк, батальон, рота, взвод, дивизия, корпус, армия, ОМСБр, ОШБ, ОМБр, ОДШБр, ВДВ, "
     "морская пехота, спецназ, штурмовой отряд, Шторм Z, Шторм V, мотострелки, десантники, ДШБ",
     "бригада, полк, батальйон, рота, взвод, дивізія, корпус, армія, ОМБр, ОШБ, ОДШБр, ДШВ, "
     "морська піхота, спецпризначенці, штурмовий загін, ТрО, Нацгвардія, ССО",
     "brigade, regiment, battalion, company, platoon, division, corps, army, marines, airborne, "
     "special forces, assault detachment, Storm Z, National Guard, Territorial Defense, SSO"),
    ("formations", "Named formations and private armies.",
     "Вагнер, ЧВК Вагнер, Африканский корпус, Ахмат, Азов, Кракен, Да Винчи, Эдельвейс, "
     "Русич, Пятнашка, Спарта, Сомали, Легион Свобода России, РДК, Конвой, Редут",
     "Вагнер, Африканський корпус, Ахмат, Азов, Кракен, Третя штурмова, Хартія, Да Вінчі, "
     "Легіон Свобода Росії, РДК, Ахіллес, Мадяр, Птахи Мадяра",
     "Wagner, Wagner Group, Africa Corps, Akhmat, Azov, Kraken, Third Assault, Khartia, Rusich, "
     "Sparta, Somalia, Freedom of Russia Legion, RDK, Redut, Madyar"),
    ("commanders", "Commanders and ranks.",
     "командир, комбриг, комбат, командующий, генерал, полковник, подполковник, майор, начштаба, "
     "начальник штаба, замкомандира, Генштаб, Герасимов, Белоусов, Сырский",
     "командир, комбриг, комбат, командувач, генерал, полковник, підполковник, майор, начштабу, "
     "Генштаб, Сирський, Буданов, Умєров",
     "commander, brigade commander, battalion commander, general, colonel, lieutenant colonel, "
     "major, chief of staff, General Staff, Gerasimov, Syrskyi, Budanov"),
    ("troops", "Armed forces and soldiers in general.",
     "войска, военные, военнослужащий, солдат, боец, контрактник, мобилизованный, штурмовик, "
     "контингент, группировка, подразделение, личный состав, ВСУ, ВС РФ, ВКС, ВМФ, наши",
     "війська, військові, військовослужбовець, солдат, боєць, мобілізований, штурмовик, контингент, "
     "угруповання, підрозділ, особовий склад, ЗСУ, ЗС РФ, окупанти, росіяни, наші",
     "troops, forces, soldiers, servicemen, personnel, contingent, units, infantry, "
     "Ukrainian forces, Russian forces, military, AFU"),
    # ---------------------------------------------------------------- actions
    ("attack", "Offensive action.",
     "штурм, наступление, прорыв, атака, продвижение, штурмовать, наступать, атаковать, "
     "продвинуться, прорваться, контрнаступление, контратака, натиск, вклиниться",
     "штурм, наступ, прорив, атака, просування, штурмувати, наступати, атакувати, просунутися, "
     "прорватися, контрнаступ, контратака",
     "assault, offensive, breakthrough, attack, attacks, attacked, advance, advanced, advancing, "
     "counteroffensive, counterattack, push, storming, broke through"),
    ("defend", "Defensive action and fortifications.",
     "оборона, удерживать, удержать, окоп, траншея, фортификация, укрепрайон, опорник, "
     "опорный пункт, минное поле, зубы дракона, блиндаж, рубеж",
     "оборона, утримувати, утримати, окоп, траншея, фортифікація, укріпрайон, опорник, "
     "опорний пункт, мінне поле, зуби дракона, бліндаж, рубіж",
     "defense, defence, hold, holding, trench, trenches, fortification, fortifications, "
     "strongpoint, minefield, dragon's teeth, dugout, defensive line"),
    ("strike", "Strikes and hits.",
     "удар, прилет, поражение, поразить, нанести удар, обстрел, обстрелять, бомбардировка, "
     "накрыть, отработать, массированный удар, комбинированный удар, взрыв",
     "удар, приліт, ураження, уразити, завдати удару, обстріл, обстріляти, бомбардування, "
     "накрити, відпрацювати, масований удар, комбінований удар, вибух",
     "strike, strikes, struck, hit, shelling, shelled, bombardment, bombing, barrage, massive strike, "
     "combined strike, explosion, explosions"),
    ("shot_down", "Interceptions.",
     "сбить, сбит, сбито, перехватить, перехват, уничтожить в воздухе, отразить атаку, подавить",
     "збити, збито, перехопити, перехоплення, знешкодити, відбити атаку, подавити",
     "shot down, shoot down, downed, intercepted, intercept, interception, neutralized"),
    ("destroyed", "Destroyed or damaged.",
     "уничтожить, уничтожен, поразить, подбить, подбит, сжечь, сгореть, вывести из строя, "
     "повредить, трофей, затрофеить, минус",
     "знищити, знищено, уразити, підбити, спалити, згоріти, вивести з ладу, пошкодити, трофей, "
     "затрофеїти, мінус",
     "destroyed, destroy, damaged, knocked out, burned, burnt, disabled, captured intact, trophy, "
     "write-off"),
    ("captured", "Ground taken.",
     "взять, взят, захватить, освободить, освобожден, занять, зачистить, зачистка, "
     "взять под контроль, водрузить флаг, закрепиться",
     "взяти, захопити, звільнити, звільнено, зайняти, зачистити, зачистка, взяти під контроль, "
     "закріпитися, прапор",
     "captured, capture, liberated, liberate, took control, taken, seized, cleared, "
     "raised the flag, secured"),
    ("encirclement", "Encirclement.",
     "окружение, котел, полуокружение, клещи, оперативное окружение, огневой мешок, "
     "замкнуть кольцо, отрезать",
     "оточення, котел, напівоточення, кліщі, оперативне оточення, вогневий мішок, відрізати",
     "encirclement, encircled, pocket, cauldron, semi-encirclement, pincer, cut off, "
     "fire control of the road"),
    ("casualties", "People killed, wounded, captured, missing.",
     "погибнуть, погибший, убит, ранен, раненый, пленный, плен, пропавший без вести, двухсотый, "
     "трехсотый, груз 200, потери, безвозвратные потери, военнопленный",
     "загинути, загиблий, вбитий, поранений, полонений, полон, зниклий безвісти, двохсотий, "
     "трьохсотий, втрати, безповоротні втрати, військовополонений",
     "killed, killed in action, KIA, wounded, WIA, prisoner, prisoners of war, POW, POWs, "
     "missing in action, MIA, casualties, losses, fatalities"),
    ("mobilisation", "Mobilisation and recruitment.",
     "мобилизация, повестка, военкомат, призыв, призывник, контракт, добровольцы, мобик, "
     "частичная мобилизация, вербовка, рекрутинг",
     "мобілізація, повістка, ТЦК, військкомат, призов, призовник, контракт, добровольці, "
     "бусифікація, рекрутинг, ухилянт",
     "mobilization, mobilisation, conscription, draft, draftees, recruitment, recruits, "
     "volunteers, contract soldiers, call-up, TCC"),
    ("rotation", "Rotation, reinforcement, reserves.",
     "ротация, пополнение, резерв, резервы, переброска, подкрепление, смена, отпуск, "
     "перебросить, подтянуть резервы",
     "ротація, поповнення, резерв, резерви, перекидання, підкріплення, заміна, відпустка, "
     "перекинути, підтягнути резерви",
     "rotation, reinforcements, reserves, reserve, redeploy, redeployed, relief, "
     "brought up reserves, rotated"),
    ("pullout", "Withdrawing, pulling back, retreating.",
     "\"вывод\", \"вывода\", \"выводом\", вывести, выводить, отвод, отвести, отводить, отход, отойти, "
     "отходить, отступление, отступить, отступать, покинуть, оставить, бегство, передислокация, "
     "перегруппировка, свернуть присутствие",
     "виведення, вивести, виводити, відведення, відвести, відводити, відхід, відійти, відходити, "
     "відступ, відступити, відступати, залишити, покинути, передислокація, перегрупування",
     "withdraw, withdrawal, withdrawing, withdrew, withdraw~1, pullout, pull out, pulled out, "
     "pull back, pulled back, retreat, retreated, drawdown, abandon, abandoned, left the town"),
    ("evac", "Evacuation.",
     "эвакуация, эвакуировать, эвакуироваться, эвакуированный, эвакуац*, эвакомероприятия, "
     "вывезти людей, гуманитарный коридор",
     "евакуація, евакуювати, евакуюватися, евакуйований, евакуац*, гуманітарний коридор, "
     "вивезти людей",
     "evacuation, evacuate, evacuated, evacuees, evacuat*, humanitarian corridor, NEO"),
    ("sabotage", "Sabotage and partisans.",
     "диверсия, ДРГ, диверсант, партизаны, подрыв, поджог, релейный шкаф, рельсовая война, "
     "теракт, взрывное устройство, СВУ",
     "диверсія, ДРГ, диверсант, партизани, підрив, підпал, релейна шафа, теракт, вибуховий пристрій",
     "sabotage, saboteurs, partisans, sabotage group, arson, railway sabotage, IED, bomb plot"),
    ("border", "Borders and border guards.",
     "граница, госграница, погранзастава, пограничник, приграничье, приграничный, КПП, "
     "пункт пропуска, буферная зона, санитарная зона",
     "кордон, держкордон, прикордонник, прикордоння, прикордонний, КПП, пункт пропуску, "
     "буферна зона, ДПСУ",
     "border, border guards, borderland, checkpoint, border crossing, buffer zone, frontier"),
    ("intel", "Intelligence and security services.",
     "разведка, ГРУ, ГУР, СБУ, ФСБ, СВР, агент, шпион, госизмена, задержан, спецоперация, "
     "перехват переговоров, радиоперехват",
     "розвідка, ГУР, СБУ, ФСБ, агент, шпигун, держзрада, затримано, спецоперація, "
     "радіоперехоплення, перехоплення",
     "intelligence, HUR, GUR, SBU, FSB, GRU, agent, spy, treason, detained, special operation, "
     "intercepted call, SIGINT"),
    ("comms", "Communications.",
     "связь, Starlink, Старлинк, спутниковая связь, рация, Motorola, Мотор, ретранслятор, "
     "мессенджер, Telegram",
     "зв'язок, Starlink, Старлінк, супутниковий зв'язок, рація, ретранслятор, Дельта",
     "comms, communications, Starlink, satellite link, radio, radios, repeater, Delta"),
    ("energy", "Energy infrastructure.",
     "энергосистема, ТЭЦ, ТЭС, ГЭС, подстанция, блэкаут, отключение света, графики отключений, "
     "энергетика, НПЗ, нефтебаза, нефтепровод",
     "енергосистема, ТЕЦ, ТЕС, ГЕС, підстанція, блекаут, відключення світла, графіки відключень, "
     "енергетика, НПЗ, нафтобаза, Укренерго",
     "power grid, energy system, power plant, thermal power plant, substation, blackout, "
     "power outages, refinery, oil depot, pipeline, energy infrastructure"),
    ("nuclear", "Nuclear sites and threats.",
     "ЗАЭС, Запорожская АЭС, Курская АЭС, АЭС, ядерное оружие, ЯО, МАГАТЭ, Росатом, "
     "ядерный удар, тактическое ядерное оружие",
     "ЗАЕС, Запорізька АЕС, АЕС, ядерна зброя, МАГАТЕ, Енергоатом, ядерний удар",
     "ZNPP, Zaporizhzhia nuclear plant, nuclear plant, nuclear weapons, IAEA, Rosatom, "
     "Energoatom, tactical nuclear, nuclear strike"),
    ("chemical", "Chemical weapons.",
     "хлорпикрин, отравляющее вещество, химическое оружие, газ, \"К-51\", \"РГ-ВО\", слезоточивый газ",
     "хлорпікрин, отруйна речовина, хімічна зброя, газ, \"К-51\", сльозогінний газ",
     "chloropicrin, chemical weapons, toxic agent, tear gas, CS gas, \"K-51\", OPCW"),
    ("aid", "Western military aid.",
     "пакет помощи, военная помощь, поставка, поставки, ленд-лиз, Рамштайн, коалиция, "
     "разрешение на удары, дальнобойное оружие",
     "пакет допомоги, військова допомога, постачання, ленд-ліз, Рамштайн, коаліція, "
     "дозвіл на удари, далекобійна зброя",
     "aid package, military aid, deliveries, shipment, lend-lease, Ramstein, coalition, "
     "long-range weapons, permission to strike, PDA, drawdown package"),
    # ---------------------------------------------------------------- where
    ("bases", "Military bases and installations.",
     "база, авиабаза, аэродром, военный аэродром, ПВД, пункт временной дислокации, полигон, "
     "штаб, пункт управления, казарма, военная часть, порт, причал, пункт базирования",
     "база, авіабаза, аеродром, ПТД, пункт тимчасової дислокації, полігон, штаб, "
     "пункт управління, казарма, військова частина, порт, причал",
     "base, air base, airbase, airfield, training ground, headquarters, HQ, command post, "
     "barracks, port, naval base, pier"),
    ("naval_places", "Seas, naval bases, the Crimea.",
     "Черное море, Азовское море, Севастополь, Новороссийск, Крым, Керчь, Феодосия, Саки, "
     "Бельбек, Джанкой, Каспийск, Змеиный",
     "Чорне море, Азовське море, Севастополь, Новоросійськ, Крим, Керч, Феодосія, Саки, Бельбек, "
     "Джанкой, Зміїний",
     "Black Sea, Sea of Azov, Sevastopol, Novorossiysk, Crimea, Kerch, Feodosia, Saky, Belbek, "
     "Dzhankoi, Snake Island"),
    ("directions", "Front directions.",
     "Покровское направление, Купянское направление, Запорожское направление, Курское направление, "
     "Краснолиманское направление, Торецкое направление, Времевский выступ, Кураховское направление, "
     "Харьковское направление, Херсонское направление, Южнодонецкое направление",
     "Покровський напрямок, Куп'янський напрямок, Запорізький напрямок, Лиманський напрямок, "
     "Торецький напрямок, Курахівський напрямок, Харківський напрямок, Херсонський напрямок, "
     "Краматорський напрямок",
     "Pokrovsk direction, Kupiansk direction, Zaporizhzhia front, Kursk direction, Lyman direction, "
     "Toretsk direction, Kurakhove front, Kharkiv front, Kherson front, Pokrovsk axis"),
    ("regions", "Oblasts and regions.",
     "Донбасс, ДНР, ЛНР, Донецкая область, Луганская область, Запорожская область, "
     "Херсонская область, Харьковская область, Белгородская область, Курская область, "
     "Брянская область, Сумская область, <place>",
     "Донбас, Донеччина, Луганщина, Запоріжжя, Херсонщина, Харківщина, Сумщина, Бєлгородщина, "
     "Курщина, Брянщина, Дніпропетровщина, <place>",
     "Donbas, Donetsk Oblast, Luhansk Oblast, Zaporizhzhia Oblast, Kherson Oblast, Kharkiv Oblast, "
     "Belgorod Oblast, Kursk Oblast, Bryansk Oblast, Sumy Oblast, Dnipropetrovsk Oblast"),
    ("strategic_targets", "High-value targets.",
     "НПЗ, нефтебаза, склад, арсенал, завод, военный завод, оборонный завод, мост, плотина, "
     "дамба, РЛС, радар, штаб, логистический узел, командный пункт, аэродром",
     "НПЗ, нафтобаза, склад, арсенал, завод, оборонний завод, міст, дамба, РЛС, радар, штаб, "
     "логістичний вузол, командний пункт, аеродром",
     "refinery, oil depot, depot, arsenal, plant, defense plant, factory, bridge, dam, radar, "
     "headquarters, logistics hub, command post, airfield"),
    # ---------------------------------------------------------------- exclusions
    ("games_media", "Games, films, history, parades, drills — not live events.",
     "игра, компьютерная игра, фильм, сериал, кино, учения, реконструкция, музей, парад, "
     "годовщина, история, исторический, ретро, Великая Отечественная, WarThunder, World of Tanks",
     "гра, комп'ютерна гра, фільм, серіал, кіно, навчання, реконструкція, музей, парад, "
     "річниця, історія, історичний, Друга світова",
     "game, video game, film, movie, series, drill, exercise, exercises, reenactment, museum, "
     "parade, anniversary, history, historical, World War II, War Thunder"),
    ("finance", "Money talk: funds, cards, banks, exchanges.",
     "средства, деньги, карта, счет, банк, биржа, криптовалюта, кэшбэк, вклад, вывод средств, "
     "выводы, \"выводы\", кредит, ипотека",
     "кошти, гроші, картка, рахунок, банк, біржа, криптовалюта, кешбек, депозит, виведення коштів, "
     "висновки, кредит",
     "funds, money, card, account, bank, exchange, crypto, cashback, deposit, withdrawal of funds, "
     "conclusions, loan, mortgage, ATM"),
    ("civil_emergency", "Peacetime emergencies.",
     "наводнение, паводок, подтопление, ливень, пожар, лесной пожар, утечка газа, смерч, ураган, "
     "землетрясение, снегопад, эвакуатор, штрафстоянка, ДТП",
     "повінь, паводок, підтоплення, злива, пожежа, лісова пожежа, витік газу, ураган, землетрус, "
     "снігопад, евакуатор, ДТП",
     "flood, flooding, wildfire, fire, gas leak, storm, hurricane, earthquake, tornado, snowstorm, "
     "tow truck, car crash"),
    ("fundraising", "Fundraisers (their own numbers and cards).",
     "сбор, донат, реквизиты, собрать, закрыть сбор, отчет, перевод, Сбербанк, Тинькофф, "
     "поддержать, помочь ребятам",
     "збір, донат, реквізити, зібрати, закрити збір, звіт, банка, монобанка, Приват, підтримати, "
     "допомогти хлопцям",
     "fundraiser, donate, donation, donations, PayPal, receipts, crowdfunding, support the guys, "
     "Patreon, collected"),
)


def _split(terms: str) -> list[str]:
    return [t.strip() for t in terms.split(", ") if t.strip()]


_PLAIN = re.compile(r"^[^\W_][\w'’ʼ\- .~*]*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _yaml_term(term: str) -> str:
    """A term as a flow-sequence item: quoted ones stay quoted (= exact), the rest plain."""
    if term.startswith('"') and term.endswith('"'):
        return term
    if term.startswith("<") and term.endswith(">"):
        return term
    if not _PLAIN.match(term) or term.lower() in _RESERVED or re.fullmatch(r"[\d.\- ]+", term):
        raise ValueError(f"term {term!r} cannot be written as a plain YAML scalar")
    return term


def _flow(items: Iterable[str], indent: int, width: int = 100) -> str:
    """`[a, b, c]` wrapped at `width` with continuation lines under the first item."""
    lines: list[str] = []
    line = "["
    for item in items:
        piece = item + ","
        if len(line) + len(piece) + 1 > width - indent and line.strip("[ "):
            lines.append(line.rstrip())
            line = " " * (indent + 1)
        line += piece + " "
    lines.append(line.rstrip().rstrip(",") + "]")
    return "\n".join(lines)


def _sq(text: str) -> str:
    """A YAML single-quoted scalar (conditions carry "exact" inline terms)."""
    return "'" + text.replace("'", "''") + "'"


def _sector_concepts(rng: random.Random, n_sectors: int = 24, per_sector: int = 6) -> list[tuple[str, str, list[str], list[str], list[str]]]:
    """One concept per front sector: a few villages + one real town, mixed term styles."""
    villages = list(VILLAGES)
    rng.shuffle(villages)
    towns = list(REAL_PLACES)
    out = []
    for s in range(n_sectors):
        chosen: list[Place] = villages[s * per_sector : (s + 1) * per_sector]
        town = towns[s % len(towns)]
        ru: list[str] = []
        uk: list[str] = []
        en: list[str] = []
        for v in chosen:
            style = rng.random()
            if style < 0.4:
                # Prefix: every case form ("Новоалександровк*": -а, -и, -е, -у, -ой).
                ru.append(v.ru[0][:-1] + "*")
                uk.append(v.uk[0][:-2] + "*")
            elif style < 0.9:
                ru.append(v.ru[0])
                uk.append(v.uk[0])
            else:
                ru.append(f'"{v.ru[0]}"')
                ru.append(f'"{v.ru[1]}"')
                uk.append(f'"{v.uk[0]}"')
            en.append(v.en)
        ru.append(town.ru[0])
        uk.append(town.uk[0])
        en.append(town.en)
        name = f"sector_{town.en.lower().replace(' ', '_').replace(chr(39), '')}_{s + 1:02d}"
        desc = f"Sector {s + 1}: {town.en} and nearby villages."
        out.append((name, desc, ru, uk, en))
    return out


_ACTIONS = {
    # action concept → topic
    "attack": "offensive", "captured": "offensive", "encirclement": "offensive",
    "strike": "strikes", "destroyed": "losses", "casualties": "losses", "shot_down": "air_defence",
    "mobilisation": "mobilisation", "rotation": "logistics", "sabotage": "sabotage",
    "pullout": "withdrawal", "evac": "evacuation", "defend": "defence",
}
_OBJECTS = ("artillery", "mlrs", "missiles", "attack_drones", "recon_drones", "air_defence", "tanks",
            "ifv_apc", "aircraft", "helicopters", "naval", "glide_bombs", "ew", "ammunition",
            "logistics", "units", "formations", "commanders", "troops", "comms", "energy",
            "nuclear", "chemical", "strategic_targets", "aid", "intel", "border")
_WHERE = ("bases", "naval_places", "directions", "regions", "strategic_targets", "foreign")
_NEGATIVES = ("games_media", "finance", "civil_emergency", "fundraising")
_TOPICS = {
    "withdrawal": "Forces pulling out of a place, base or sector.",
    "evacuation": "Evacuation of people or equipment in a war context.",
    "offensive": "Assaults, advances, ground taken, encirclements.",
    "defence": "Defensive lines and fortifications under pressure.",
    "strikes": "Missile, drone, bomb and artillery strikes.",
    "losses": "Destroyed equipment and casualties.",
    "air_defence": "Interceptions and air defence activity.",
    "mobilisation": "Mobilisation, conscription, recruitment.",
    "logistics": "Rotation, reserves, supply lines.",
    "sabotage": "Sabotage, partisans, saboteur groups.",
}
_INLINE = ("'котел'", "'прорыв'", "'оточення'", "'breakthrough'", '"Покровск"', '"Курахово"',
           '"Pokrovsk"', "'Хмеймим'", "'Tartus'", "'колонна'", "'колона'", "'convoy'")


def large_rules_yaml(n_rules: int = 120, seed: int = 7) -> str:
    """A valid rules file with ≥ 1,000 terms across `n_rules` rules (deterministic per seed).

    Ten rules are hand-written (so at least ten come out); the rest are drawn from the
    condition templates. The concept lists do not depend on `n_rules`.
    """
    rng = random.Random(seed)
    groups: list[tuple[str, str, list[str], list[str], list[str]]] = [
        (name, desc, _split(ru), _split(uk), _split(en)) for name, desc, ru, uk, en in _GROUPS
    ]
    groups.append((
        "foreign", "Places abroad with Russian bases.",
        [p.ru[0] for p in FOREIGN_PLACES] + ["Африка", "Сахель", "Латакия", "Хама", "Дамаск"],
        [p.uk[0] for p in FOREIGN_PLACES] + ["Африка", "Сахель", "Дамаск"],
        [p.en for p in FOREIGN_PLACES] + ["Africa", "Sahel", "Damascus", "Hama"],
    ))
    sectors = _sector_concepts(rng)
    groups.extend(sectors)
    sector_names = [s[0] for s in sectors]

    out: list[str] = [
        "# Benchmark rules: a large watch list generated by bot/bench/large_rules.py.",
        f"# seed={seed}, rules={n_rules}. Same format as config/rules.yaml (see its header).",
        "",
        "version: 1",
        "",
        "defaults:",
        "  severity: medium",
        "  route: analysts",
        "  near: 6",
        "  fuzzy: 86",
        "",
        "routes:",
        "  analysts: default",
        "  naval_desk: \"-1001234567890\"",
        "  urgent: \"@urgent_alerts_demo\"",
        "",
        "topics:",
    ]
    for topic, desc in _TOPICS.items():
        out.append(f"  {topic}: {_sq(desc)}")
    out += ["", "concepts:"]
    for name, desc, ru, uk, en in groups:
        out.append(f"  {name}:")
        out.append(f"    description: {_sq(desc)}")
        for lang, terms in (("ru", ru), ("uk", uk), ("en", en)):
            if terms:
                uniq = list(dict.fromkeys(terms))
                prefix = f"    {lang}: "
                out.append(prefix + _flow((_yaml_term(t) for t in uniq), len(prefix)))
    # A concept made of others, like "@bases" in the shipped rules.
    out += [
        "  anywhere:",
        "    description: 'Any named place: sectors, bases, regions, abroad.'",
        "    any: [" + ", ".join(f'"@{n}"' for n in ("bases", "regions", "foreign", *sector_names[:8])) + "]",
        "",
        "rules:",
    ]

    rules: list[str] = []

    def rule(rid: str, topic: str, match: str, severity: str = "medium", unless: str | None = None,
             route: str | None = None, description: str = "") -> None:
        lines = [f"  - id: {rid}", f"    topic: {topic}", f"    severity: {severity}"]
        if route:
            lines.append(f"    route: {route}")
        if description:
            lines.append(f"    description: {_sq(description)}")
        lines.append(f"    match: {_sq(match)}")
        if unless:
            lines.append(f"    unless: {_sq(unless)}")
        rules.append("\n".join(lines))

    # Hand-written core rules, like the shipped file's.
    rule("withdrawal.troops_out", "withdrawal", "(pullout NOT NEAR/3 finance) NEAR/8 (troops OR units)",
         "high", description="A pullout word next to troops or units.")
    rule("withdrawal.from_place", "withdrawal", "(pullout NOT NEAR/6 finance) NEAR/6 anywhere",
         "medium", description="A pullout word with a place.")
    rule("withdrawal.from_sector", "withdrawal",
         "pullout NEAR/8 (" + " OR ".join(sector_names[:12]) + ")", "high")
    rule("withdrawal.equipment_out", "withdrawal",
         "(pullout NOT NEAR/3 finance) WITHIN/10 (air_defence OR aircraft OR helicopters OR tanks)", "medium")
    rule("evacuation.war", "evacuation", "(evac NOT WITHIN/15 civil_emergency) WITHIN/25 (strike OR troops OR attack)",
         "high", unless="evac NEAR/2 games_media")
    rule("evacuation.wounded", "evacuation", "evac NEAR/6 casualties", "medium")
    rule("offensive.encircled_sector", "offensive",
         "encirclement NEAR/10 (" + " OR ".join(sector_names[12:]) + ")", "critical", route="urgent")
    rule("strikes.naval", "strikes", "(strike OR destroyed) NEAR/8 (naval OR naval_places)", "high",
         route="naval_desk")
    rule("strikes.nuclear_site", "strikes", "strike NEAR/6 nuclear", "critical", route="urgent")
    rule("logistics.bridge_hit", "logistics", "(strike OR sabotage) NEAR/5 logistics", "high",
         unless="games_media OR fundraising")

    templates = (
        "{a} NEAR/{n} {b}",
        "({a} OR {a2}) NEAR/{n} {b}",
        "({a} NEAR/{n} {b}) WITHIN/{m} {w}",
        "({a} NOT NEAR/3 {neg}) NEAR/{n} {b}",
        "{a} AND {w} AND NOT {neg}",
        "{a} NEAR/{n} ({b} OR {b2})",
        "{a} NEAR/{n} {inline}",
        "({a} NOT NEAR/4 {neg}) WITHIN/{m} {w}",
        "{b} NEAR/{n} {a} NEAR/{m} {w}",
    )
    actions = list(_ACTIONS)
    ids: set[str] = set()
    i = 0
    while len(rules) < n_rules:
        i += 1
        a, a2 = rng.sample(actions, 2)
        b, b2 = rng.sample(_OBJECTS, 2)
        w = rng.choice((*_WHERE, *sector_names))
        neg = rng.choice(_NEGATIVES)
        tmpl = rng.choice(templates)
        expr = tmpl.format(a=a, a2=a2, b=b, b2=b2, w=w, neg=neg, n=rng.randint(3, 10),
                           m=rng.randint(8, 25), inline=rng.choice(_INLINE))
        topic = _ACTIONS[a]
        rid = f"{topic}.{a}_{b}_{i:03d}"
        if rid in ids:
            continue
        ids.add(rid)
        severity = rng.choices(("low", "medium", "high", "critical"), (3, 5, 3, 1))[0]
        unless = None
        if rng.random() < 0.2:
            unless = rng.choice((f"{neg}", f"{neg} NEAR/5 {a}", f"games_media AND NOT {b}"))
        route = rng.choice((None, None, None, "naval_desk", "urgent"))
        rule(rid, topic, expr, severity, unless=unless, route=route)
    out.extend(rules)
    return "\n".join(out) + "\n"


def count_terms(yaml_text: str) -> tuple[int, int, int]:
    """(terms written, concepts, rules) of a rules file, as the loader sees them."""
    from bot.rules import parse_rules

    rs = parse_rules(yaml_text, "<large rules>")
    return rs.written_terms, len(rs.concepts), len(rs.rules)
