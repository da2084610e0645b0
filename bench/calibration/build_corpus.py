"""Build the calibration corpus: 8 imbalanced topic classes of short texts from Debian's `fortunes` package.

Usage: python bench/calibration/build_corpus.py [--source /usr/share/games/fortunes] [--out bench/calibration/data]

Needs the Debian packages `fortunes` and `fortunes-min` (`apt-get install fortunes fortunes-min`), whose category
files (one epigram, quotation or joke per entry, entries separated by a line "%") are BSD-licensed (see
/usr/share/doc/fortunes/copyright and bench/calibration/README.md). The corpus is generated, never committed.

Each class is one category file. An entry is kept when, whitespace collapsed, it has 20-400 characters and occurs in
exactly one of the chosen categories. Per class, a seeded shuffle puts 25% in the gold test set and the rest, up to
the class's cap, in the training pool, giving about 1,900 training rows with 5:1 imbalance. Deterministic:
the same package version gives byte-identical files.

Writes OUT/train.csv (id, text, label: the gold label of every training row), OUT/test.csv (text, label) and
OUT/corpus.json (counts, source, package version).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = Path("/usr/share/games/fortunes")
# class -> category file; the training cap keeps the largest classes at 440 rows.
CLASSES = ("computers", "politics", "science", "startrek", "law", "food", "sports", "love")
TRAIN_CAP = 440
TEST_SHARE = 0.25
MIN_CHARS, MAX_CHARS = 20, 400
SEED = 20261126


def read_entries(path: Path) -> list[str]:
    """The entries of one fortune file, whitespace collapsed, in file order."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    entries = (re.sub(r"\s+", " ", e).strip() for e in re.split(r"\n%\n", raw))
    return [e for e in entries if e and e != "%"]


def build(source: Path, *, classes=CLASSES, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) frames; train has id, text, label; test has text, label."""
    per_class = {c: [e for e in dict.fromkeys(read_entries(source / c)) if MIN_CHARS <= len(e) <= MAX_CHARS]
                 for c in classes}
    seen: dict[str, int] = {}
    for texts in per_class.values():
        for t in texts:
            seen[t] = seen.get(t, 0) + 1
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in classes:
        texts = [t for t in per_class[c] if seen[t] == 1]
        order = rng.permutation(len(texts))
        n_test = int(round(TEST_SHARE * len(texts)))
        test += [(texts[i], c) for i in order[:n_test]]
        train += [(texts[i], c) for i in order[n_test:][:TRAIN_CAP]]
    return shuffled_frames(train, test, rng, id_prefix="f")


def shuffled_frames(train: list, test: list, rng: np.random.Generator, *,
                    id_prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(text, label) pairs as the training frame (shuffled, ids `<prefix>0000`...) and the test frame (shuffled)."""
    train_frame = pd.DataFrame(train, columns=["text", "label"])
    train_frame = train_frame.iloc[rng.permutation(len(train_frame))].reset_index(drop=True)
    train_frame.insert(0, "id", [f"{id_prefix}{i:04d}" for i in range(len(train_frame))])
    test_frame = pd.DataFrame(test, columns=["text", "label"])
    test_frame = test_frame.iloc[rng.permutation(len(test_frame))].reset_index(drop=True)
    return train_frame, test_frame


def package_version(name: str) -> str | None:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    missing = [c for c in CLASSES if not (args.source / c).is_file()]
    if missing:
        raise SystemExit(f"build_corpus: error: {args.source}: missing category files {missing}; "
                         "apt-get install fortunes fortunes-min")
    train, test = build(args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    train.to_csv(args.out / "train.csv", index=False)
    test.to_csv(args.out / "test.csv", index=False)
    info = {
        "source": str(args.source), "package": "fortunes", "package_version": package_version("fortunes"),
        "licence": "BSD (Debian copyright file /usr/share/doc/fortunes/copyright)",
        "classes": list(CLASSES), "seed": SEED,
        "train_rows": len(train), "test_rows": len(test),
        "train_counts": train["label"].value_counts().reindex(CLASSES).astype(int).to_dict(),
        "test_counts": test["label"].value_counts().reindex(CLASSES).astype(int).to_dict(),
        "train_sha256": hashlib.sha256((args.out / "train.csv").read_bytes()).hexdigest(),
    }
    (args.out / "corpus.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
