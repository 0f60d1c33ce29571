"""Writes the project's embedded default dataset, ``data/projects.csv``.

The rows are composed from the hand-written vocabulary and sentence patterns in
``data/vocabulary.yaml``, so the data is ours and deterministic (fixed seed). It is built to teach what real shared ML projects look like, not
to be easy: titles are paper titles, blog headlines, questions or bare repository names; about one
project in twelve has no description; descriptions run from a few words to several sentences;
most sentence patterns are shared by every tag, so the tag has to be read from the topic, not the
phrasing; some projects mention a second field (a BERT model served with Docker is still an NLP
project); and a few labels are wrong, as in any hand-tagged collection. The tag mix follows the
usual imbalance (mlops rarest). Conventions follow how ML projects are commonly tagged: speech,
audio generation, review-based recommendation and transformer internals count as language;
general deep-learning technique (training tricks, GANs, pruning, 3D) as vision; testing, CI and
ML-engineering practice as mlops; reinforcement learning, graphs, time series and tabular work
as "other".

    python data/generate.py
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

SEED = 42
COUNTS = {
    "natural-language-processing": 240,
    "computer-vision": 220,
    "other": 100,
    "mlops": 80,
}
TITLE_ONLY = 0.08  # share of projects without a description
SECOND_FIELD = 0.1  # share that also mentions another tag's topic
LABEL_NOISE = 0.01  # share whose tag is wrong
FIELD_SENTENCES = 0.2  # share of sentences only the project's field uses
VOCABULARY = Path(__file__).with_name("vocabulary.yaml")


@dataclass(frozen=True)
class Field:
    """What projects of one tag talk about: the lists a project's slots are drawn from."""

    tasks: list[str]
    models: list[str]
    data: list[str]
    tools: list[str]
    stems: list[str]  # invented project names: a stem and a suffix
    sentences: list[str]  # patterns only this field uses
    mentions: list[str]  # how a project of another field mentions this one


@dataclass(frozen=True)
class Vocabulary:
    fields: dict[str, Field]
    shared_sentences: list[str]
    titles: list[str]
    adjectives: list[str]
    name_suffixes: list[str]
    frameworks: list[str]

    @classmethod
    def load(cls, path: Path = VOCABULARY) -> Vocabulary:
        raw = yaml.safe_load(path.read_text())
        fields = {tag: Field(**lists) for tag, lists in raw.pop("fields").items()}
        return cls(fields=fields, **raw)


def _title_case(text: str) -> str:
    """Capitalize lowercase words (and each part of hyphenated ones), keep names like 3D or BERT."""
    return " ".join(
        "-".join(p.capitalize() if p.isalpha() and p.islower() else p for p in word.split("-"))
        for word in text.split()
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _slots(vocabulary: Vocabulary, field: Field, rng: random.Random) -> dict[str, str]:
    task = rng.choice(field.tasks)
    model, model2 = rng.sample(field.models, 2)
    name = rng.choice(field.stems) + rng.choice(vocabulary.name_suffixes)
    return {
        "task": task,
        "Task": _title_case(task),
        "model": model,
        "model2": model2,
        "data": rng.choice(field.data),
        "tool": rng.choice(field.tools),
        "framework": rng.choice(vocabulary.frameworks),
        "name": name,
        "slug": rng.choice(
            [f"{_slug(task)}-{rng.choice(['pytorch', 'tf', 'demo'])}", name.lower()]
        ),
        "adjective": rng.choice(vocabulary.adjectives),
        "fps": str(rng.choice([15, 24, 30, 60, 120])),
        "resolution": rng.choice(["224x224", "512x512", "640x640", "1024x1024"]),
        "score": f"{rng.uniform(35, 95):.1f}",
        "n": str(rng.randint(2, 12)),
        "k": str(rng.randint(8, 64)),
        "ms": str(rng.choice([20, 50, 100, 200])),
    }


def _sentence(pattern: str, slots: dict[str, str]) -> str:
    text = pattern.format(**slots)
    return text[0].upper() + text[1:]


def compose(vocabulary: Vocabulary, tag: str, rng: random.Random) -> tuple[str, str]:
    """One project of `tag`: a title and a description of zero to four sentences (plus, now and
    then, one that mentions another field)."""
    field = vocabulary.fields[tag]
    slots = _slots(vocabulary, field, rng)
    title = _sentence(rng.choice(vocabulary.titles), slots)
    if rng.random() < TITLE_ONLY:
        return title, ""
    count = rng.choices([1, 2, 3, 4], weights=[40, 35, 18, 7])[0]
    patterns = [
        rng.choice(
            field.sentences if rng.random() < FIELD_SENTENCES else vocabulary.shared_sentences
        )
        for _ in range(count)
    ]
    sentences = list(dict.fromkeys(_sentence(p, slots) for p in patterns))
    if rng.random() < SECOND_FIELD:
        other = vocabulary.fields[rng.choice([t for t in vocabulary.fields if t != tag])]
        mention = _sentence(rng.choice(other.mentions), _slots(vocabulary, other, rng))
        sentences.insert(rng.randint(1, len(sentences)), mention)
    return title, " ".join(sentences)


def generate(seed: int = SEED, vocabulary: Vocabulary | None = None) -> list[dict[str, str]]:
    vocabulary = vocabulary or Vocabulary.load()
    rng = random.Random(seed)
    titles: set[str] = set()
    rows: list[tuple[str, str, str]] = []
    for tag, count in COUNTS.items():
        while count:
            title, description = compose(vocabulary, tag, rng)
            if title in titles:
                continue
            titles.add(title)
            noisy = rng.random() < LABEL_NOISE
            written = rng.choice([t for t in COUNTS if t != tag]) if noisy else tag
            rows.append((title, description, written))
            count -= 1
    rng.shuffle(rows)
    start = datetime(2020, 2, 17, 6, 30)
    return [
        {
            "id": str(i + 1),
            "created_on": str(start + timedelta(hours=7 * i + rng.randint(0, 6))),
            "title": title,
            "description": description,
            "tag": tag,
        }
        for i, (title, description, tag) in enumerate(rows)
    ]


def main() -> None:
    out = Path(__file__).with_name("projects.csv")
    rows = generate()
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
