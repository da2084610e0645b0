"""reference.py: the gold pool checked like a test set and written as the reference subset (id, text, label)."""

from __future__ import annotations

import pandas as pd
import pytest

from labelgate.contract import stable_id
from labelgate.errors import BadInputError
from labelgate.reference import main, reference_subset


def test_subset_keeps_ids_or_derives_them():
    gold = pd.DataFrame({"id": [1, 2], "text": ["a", "b"], "label": ["x", "y"], "extra": [0, 0]})
    assert reference_subset(gold).to_dict("list") == {"id": ["1", "2"], "text": ["a", "b"], "label": ["x", "y"]}
    assert reference_subset(gold.drop(columns=["id"]))["id"].tolist() == [stable_id("a"), stable_id("b")]


def test_main_checks_the_pool_and_writes_the_subset(workdir):
    (workdir / "gold.csv").write_text("text,label\nhello,positive\nbye,negative\n")
    subset = main(workdir / "gold.csv", workdir / "gold.parquet", labels=("negative", "neutral", "positive"))
    assert pd.read_parquet(workdir / "gold.parquet").to_dict("list") == subset.to_dict("list") and len(subset) == 2


@pytest.mark.parametrize("content, message", [
    ("text,gold\nhello,positive\n", "the gold pool needs columns 'text' and 'label'"),
    ("text,label\nhello,angry\n", "gold label not in the label set"),
])
def test_bad_pool_writes_nothing(workdir, content, message):
    (workdir / "gold.csv").write_text(content)
    with pytest.raises(BadInputError, match=message):
        main(workdir / "gold.csv", workdir / "gold.parquet", labels=("negative", "positive"))
    assert not (workdir / "gold.parquet").exists()


def test_cli_reference_matches_the_demo_subset(repo, workdir, cli):
    result = cli("reference", repo / "data/demo/pool_gold.csv", "--out", workdir / "gold.parquet")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "reference: 2000 gold-labelled rows"
    written = pd.read_parquet(workdir / "gold.parquet")
    assert written.columns.tolist() == ["id", "text", "label"] and written["id"].is_unique
