"""Hand-written caption-style sentences with our own reference translations (not from any corpus)."""

from __future__ import annotations

SAMPLES: dict[str, list[str]] = {
    "en": [
        "A man in a blue shirt is riding a bicycle down the street.",
        "Two children are playing with a ball in the park.",
        "A woman is sitting on a bench and reading a book.",
        "A black dog is running through the snow.",
        "A group of people are standing in front of a building.",
        "A young girl is swimming in the pool.",
    ],
    "de": [
        "Ein Mann in einem blauen Hemd fährt mit dem Fahrrad die Straße entlang.",
        "Zwei Kinder spielen im Park mit einem Ball.",
        "Eine Frau sitzt auf einer Bank und liest ein Buch.",
        "Ein schwarzer Hund rennt durch den Schnee.",
        "Eine Gruppe von Menschen steht vor einem Gebäude.",
        "Ein junges Mädchen schwimmt im Schwimmbecken.",
    ],
    "fr": [
        "Un homme en chemise bleue fait du vélo dans la rue.",
        "Deux enfants jouent avec un ballon dans le parc.",
        "Une femme est assise sur un banc et lit un livre.",
        "Un chien noir court dans la neige.",
        "Un groupe de personnes se tient devant un bâtiment.",
        "Une jeune fille nage dans la piscine.",
    ],
    "zh": [
        "一个穿着蓝色衬衫的男人在街上骑自行车。",
        "两个孩子在公园里玩球。",
        "一个女人坐在长椅上看书。",
        "一只黑狗在雪地里奔跑。",
        "一群人站在一栋建筑前面。",
        "一个小女孩在游泳池里游泳。",
    ],
}
