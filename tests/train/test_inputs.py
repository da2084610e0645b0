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
