"""Small data the tests make themselves: a toy language pair and a tiny exported bundle."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from model.config import CorpusSpec, load_config

ROOT = Path(__file__).resolve().parent.parent
TINY_CONFIG = ROOT / "model" / "configs" / "tiny.yaml"

_WORDS = [
    "the",
    "a",
    "dog",
    "cat",
    "man",
    "woman",
    "runs",
    "sits",
    "on",
    "in",
    "red",
    "blue",
    "big",
    "small",
    "house",
    "street",
    "ball",
    "child",
    "plays",
    "with",
    "green",
    "car",
    "tree",
    "near",
]


def toy_translation(sentence: str) -> str:
    """A deterministic 'German': every word reversed and capitalised, order kept."""
    return " ".join(word[::-1].capitalize() for word in sentence.split())


def write_toy_corpus(directory: Path, pairs: int, seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    english = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 7))) for _ in range(pairs)]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "toy.en").write_text("\n".join(english) + "\n")
    (directory / "toy.de").write_text("\n".join(toy_translation(s) for s in english) + "\n")
    return {"en": str(directory / "toy.en"), "de": str(directory / "toy.de")}


_TOY_HANZI = dict(zip(_WORDS, "这一狗猫男女跑坐上里红蓝大小房街球孩玩和绿车树近", strict=True))


def toy_chinese(sentence: str) -> str:
    """A deterministic 'Chinese': one character per word, no spaces, and 。 for a final period."""
    words = sentence.rstrip(".").split()
    return "".join(_TOY_HANZI[word] for word in words) + ("。" if sentence.endswith(".") else "")


def write_toy_chinese_corpus(directory: Path, pairs: int, seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    english = [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 7))) + rng.choice(["", "."]) for _ in range(pairs)
    ]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "toy.en").write_text("\n".join(english) + "\n")
    (directory / "toy.zh").write_text("\n".join(toy_chinese(s) for s in english) + "\n")
    return {"en": str(directory / "toy.en"), "zh": str(directory / "toy.zh")}


def tiny_zh_config(workdir: Path, steps: int = 240):
    """The tiny network on the toy Chinese, both directions: a second bundle (`tiny-zh`) for the CJK tests."""
    config = _tiny(workdir, steps, write_toy_chinese_corpus, "zh", seeds=(3, 4))
    config.name = "tiny-zh"
    return config


def tiny_config(workdir: Path, steps: int = 240):
    return _tiny(workdir, steps, write_toy_corpus, "de", seeds=(1, 2))


CorpusWriter = Callable[[Path, int, int], dict[str, str]]


def _tiny(workdir: Path, steps: int, write: CorpusWriter, other: str, seeds: tuple[int, int]):
    """tiny.yaml on a toy corpus of English and `other`, both directions."""
    config = load_config(TINY_CONFIG)
    train_paths = write(workdir / "data" / "train", 600, seeds[0])
    valid_paths = write(workdir / "data" / "valid", 30, seeds[1])
    directions = [f"en-{other}", f"{other}-en"]
    config.data.train = [CorpusSpec(kind="pair", paths=train_paths, directions=directions)]
    config.data.valid = [CorpusSpec(kind="pair", paths=valid_paths, directions=directions)]
    config.output_dir = str(workdir / "run")
    config.train.max_steps = steps
    return config
