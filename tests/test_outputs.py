"""outputs.py: every output atomic, several outputs all or nothing, no output over an input, strict JSON input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelgate.errors import BadInputError
from labelgate.outputs import (
    atomic_dir,
    atomic_path,
    read_json,
    refuse_overwriting_inputs,
    table_suffix,
    write_json,
    write_outputs,
    write_table,
)


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_outputs_all_or_nothing(tmp_path):
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.raises(BadInputError, match="unsupported table format '.txt'"):
        write_outputs((tmp_path / "t.parquet", frame), (tmp_path / "t.txt", frame))
    assert list(tmp_path.iterdir()) == []
    write_outputs((tmp_path / "t.parquet", frame), (tmp_path / "s.json", {"n": np.int64(2), "x": np.arange(2)}))
    assert pd.read_parquet(tmp_path / "t.parquet").equals(frame)
    assert json.loads((tmp_path / "s.json").read_text()) == {"n": 2, "x": [0, 1]}


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_write_table_in_the_suffixs_format(tmp_path, suffix):
    from labelgate.contract import read_table

    write_table(tmp_path / f"t{suffix}", pd.DataFrame({"text": ["a", "b"]}))
    assert read_table(tmp_path / f"t{suffix}")["text"].tolist() == ["a", "b"]
    assert table_suffix(f"x{suffix.upper()}") == suffix


def test_atomic_dir_replaces_the_folder_as_a_whole(tmp_path):
    folder = tmp_path / "plots"
    folder.mkdir()
    (folder / "old.csv").write_text("x")
    with atomic_dir(folder) as tmp:
        (tmp / "new.csv").write_text("y")
    assert [p.name for p in folder.iterdir()] == ["new.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots"]


def test_an_output_on_an_input_is_refused(tmp_path):
    path = tmp_path / "a.csv"
    with pytest.raises(BadInputError, match="--out is the same file as LABELS"):
        refuse_overwriting_inputs({"LABELS": path}, {"--out": tmp_path / "." / "a.csv"})
    with pytest.raises(BadInputError, match="--summary is the same file as --out"):
        refuse_overwriting_inputs({}, {"--out": path, "--summary": path})
    refuse_overwriting_inputs({"LABELS": path, "--test": None}, {"--out": tmp_path / "b.csv", "--headline": None})


@pytest.mark.parametrize("content, message", [
    (None, "file not found"), ("{", "not valid JSON"), ("[1]", "expected a JSON object, found list")])
def test_read_json(tmp_path, content, message):
    path = tmp_path / "m.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BadInputError, match=message):
        read_json(path)
    write_json(path, {"a": 1})
    assert read_json(path) == {"a": 1}
