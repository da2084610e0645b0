"""Build the third calibration corpus: 8 imbalanced classes of WordNet noun glosses, from Debian's `wordnet-base`.

Usage: python bench/calibration/build_wordnet.py [--source /usr/share/wordnet] [--out bench/calibration/data_wordnet]

Needs the Debian package `wordnet-base` (`apt-get install wordnet-base`): WordNet 3.0, Princeton University's
licence (free to use, copy, modify and distribute with its copyright notice; see /usr/share/doc/wordnet-base/copyright).
The corpus is generated, never committed.

Each noun synset's gloss (its definition and usage examples, as one text) is labelled by its lexicographer file, the
semantic category WordNet's lexicographers filed it under: 8 of them (animal, plant, food, substance, artifact,
body, person, location). Glosses of 20-400 characters that occur once are kept. Per class a seeded shuffle takes the
class's training cap (the fortunes corpus's 5:1 imbalance) and a third as many gold test rows: 1,899 training rows,
634 test rows. Deterministic: the same package version gives byte-identical files.

Writes OUT/train.csv (id, text, label), OUT/test.csv (text, label) and OUT/corpus.json (classes, counts, the
class-conditional confusion map and the text-following target that labelsets.py reads, source and package version).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from build_corpus import package_version, shuffled_frames

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = Path("/usr/share/wordnet")
# class -> WordNet lexicographer file number (lexnames) and training cap (5:1 imbalance, as the fortunes corpus)
CLASSES = {"artifact": (6, 440), "person": (18, 440), "plant": (20, 400), "animal": (5, 170),
           "food": (13, 125), "substance": (27, 130), "body": (8, 90), "location": (15, 104)}
# class-conditional noise: the neighbouring category a tired annotator picks; the small classes twice as often
CONFUSION = {"artifact": "substance", "substance": "artifact", "plant": "food", "food": "plant",
             "animal": "body", "body": "animal", "person": "location", "location": "person"}
CONFUSION_WEIGHT = {"artifact": 1.0, "person": 1.0, "plant": 1.0, "animal": 2.0, "food": 2.0, "substance": 1.0,
                    "body": 2.0, "location": 1.0}
TRIGGER_TARGET = "artifact"
MIN_CHARS, MAX_CHARS = 20, 400
SEED = 20261205


def read_glosses(path: Path) -> list[tuple[int, str]]:
    """(lexicographer file number, gloss) of every synset in a WordNet data file, whitespace collapsed."""
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("  ") or " | " not in line:
            continue  # the licence header lines start with two spaces
        head, gloss = line.split(" | ", 1)
        out.append((int(head.split()[1]), re.sub(r"\s+", " ", gloss).strip()))
    return out


def build(source: Path, *, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    glosses = read_glosses(source / "data.noun")
    counts: dict[str, int] = {}
    for _, g in glosses:
        counts[g] = counts.get(g, 0) + 1
    rng = np.random.default_rng(seed)
    train, test = [], []
    for name, (lexfile, cap) in CLASSES.items():
        texts = [g for f, g in glosses if f == lexfile and counts[g] == 1 and MIN_CHARS <= len(g) <= MAX_CHARS]
        order = rng.permutation(len(texts))
        n_test = int(round(cap / 3))
        test += [(texts[i], name) for i in order[:n_test]]
        train += [(texts[i], name) for i in order[n_test:n_test + cap]]
    return shuffled_frames(train, test, rng, id_prefix="w")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=HERE / "data_wordnet")
    args = parser.parse_args()
    if not (args.source / "data.noun").is_file():
        raise SystemExit(f"build_wordnet: error: {args.source / 'data.noun'}: not found; apt-get install wordnet-base")
    train, test = build(args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    train.to_csv(args.out / "train.csv", index=False)
    test.to_csv(args.out / "test.csv", index=False)
    classes = list(CLASSES)
    info = {
        "source": str(args.source), "package": "wordnet-base", "package_version": package_version("wordnet-base"),
        "licence": "WordNet 3.0 licence, Princeton University (/usr/share/doc/wordnet-base/copyright)",
        "classes": classes, "seed": SEED, "train_rows": len(train), "test_rows": len(test),
        "train_counts": train["label"].value_counts().reindex(classes).astype(int).to_dict(),
        "test_counts": test["label"].value_counts().reindex(classes).astype(int).to_dict(),
        "confusion": CONFUSION, "confusion_weight": CONFUSION_WEIGHT, "trigger_target": TRIGGER_TARGET,
        "train_sha256": hashlib.sha256((args.out / "train.csv").read_bytes()).hexdigest(),
    }
    (args.out / "corpus.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
