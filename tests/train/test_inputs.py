"""train/inputs.py: which table a training stage reads, and its label set."""

from __future__ import annotations

import pytest

from labelgate.errors import BadInputError
from labelgate.train.inputs import subset_table, training_inputs


def test_subset_table_prefers_the_given_table_then_parquet(tmp_path):
    assert subset_table("raw", tmp_path, tmp_path / "mine.csv") == tmp_path / "mine.csv"
    assert subset_table("raw", tmp_path) == tmp_path / "raw.parquet"  # absent: read_table names it
    (tmp_path / "raw.csv").write_text("id,text,label\n")
    assert subset_table("raw", tmp_path) == tmp_path / "raw.csv"
    (tmp_path / "raw.parquet").write_text("")
    assert subset_table("raw", tmp_path) == tmp_path / "raw.parquet"


def test_training_inputs_label_set(tmp_path):
    (tmp_path / "raw.csv").write_text("id,text,label\n1,a,x\n2,b,y\n")
    (tmp_path / "test.csv").write_text("text,label\nc,z\n")
    inputs = training_inputs("raw", {}, subsets_dir=tmp_path, test=tmp_path / "test.csv")
    assert inputs.labels == ("x", "y", "z") and inputs.train_path == tmp_path / "raw.csv"
    assert inputs.train.columns.tolist() == ["id", "text", "label"] and len(inputs.test) == 1
    assert training_inputs("raw", {"base": {"labels": ["y", "x", "z"]}}, subsets_dir=tmp_path,
                           test=tmp_path / "test.csv").labels == ("y", "x", "z")
    (tmp_path / "one.csv").write_text("id,text,label\n1,a,x\n")
    (tmp_path / "test1.csv").write_text("text,label\nc,x\n")
    with pytest.raises(BadInputError, match="need at least two classes"):
        training_inputs("one", {}, subsets_dir=tmp_path, test=tmp_path / "test1.csv")


def test_stale_outputs_are_those_of_subsets_and_seeds_no_longer_configured(tmp_path):
    import json

    from labelgate.train.inputs import remove_stale, stale_outputs

    for subset, seed in [("raw", 0), ("raw", 1), ("raw", 2), ("cleanlab", 0), ("gold", 0)]:
        run = tmp_path / "models" / subset / f"seed_{seed}"
        run.mkdir(parents=True)
        (run / "run.json").write_text("{}")
    (tmp_path / "models" / "mine").mkdir()  # not a labelgate run folder: left alone
    curves = tmp_path / "curves"
    curves.mkdir()
    for name, subset in [("raw.json", "raw"), ("cleanlab.json", "cleanlab"), ("gated.json", "raw")]:
        (curves / name).write_text(json.dumps({"subset": subset, "points": []}))
    (curves / "notes.json").write_text("{}")  # no points: not a curve
    subsets = tmp_path / "subsets"
    subsets.mkdir()
    for name in ("raw.parquet", "raw.json", "cleanlab.parquet", "cleanlab.json", "gold.parquet"):
        (subsets / name).write_text("x")
    params = {"filter": {"strategies": ["raw", "entropy"]}, "train": {"seeds": [0, 1]}}
    found = stale_outputs(params, models=tmp_path / "models", curves=curves, subsets_dir=subsets)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "models/cleanlab", "models/raw/seed_2", "curves/cleanlab.json", "subsets/cleanlab.json",
        "subsets/cleanlab.parquet"]
    assert remove_stale(found) == found and not any(p.exists() for p in found)
    assert (tmp_path / "models" / "gold" / "seed_0").exists() and (tmp_path / "models" / "mine").exists()
    # without filter.strategies in params nothing can be called stale
    assert stale_outputs({}, models=tmp_path / "models", curves=curves, subsets_dir=subsets) == []
    # no reference subset configured: gold's outputs are stale too
    params["evaluate"] = {"reference": ""}
    assert [p.name for p in stale_outputs(params, models=tmp_path / "models", curves=curves,
                                          subsets_dir=subsets)] == ["gold", "gold.parquet"]
