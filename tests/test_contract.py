"""contract.py: strict table reading in every format, the one label-set resolver and the gold test set reader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelgate.contract import LabelTable, read_table, read_test_table, resolve_labels, stable_id
from labelgate.errors import BadInputError, ConfigError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


class TestReadTable:
    @pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
    def test_formats_read_alike(self, tmp_path, suffix):
        frame = pd.DataFrame({"text": ["a", "5"], "llm_label": ["x", "y"], "llm_prob_x": [0.9, 0.2]})
        path = tmp_path / f"t{suffix}"
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        elif suffix == ".jsonl":
            frame.to_json(path, orient="records", lines=True)
        else:
            frame.to_parquet(path, index=False)
        read = read_table(path)
        assert read["text"].tolist() == ["a", "5"] and read["llm_label"].tolist() == ["x", "y"]
        assert pd.to_numeric(read["llm_prob_x"]).tolist() == [0.9, 0.2]

    def test_blank_and_numeric_label_cells(self, tmp_path):
        path = write(tmp_path / "t.jsonl", '{"text": 5, "llm_label": "  "}\n{"text": "b", "llm_label": 1.5}\n')
        read = read_table(path)
        assert read["text"].tolist() == ["5", "b"]
        assert pd.isna(read["llm_label"][0]) and read["llm_label"][1] == "1.5"

    def test_object_in_a_text_column_names_row_and_column(self, tmp_path):
        path = write(tmp_path / "t.jsonl", '{"text": "a"}\n{"text": ["a", "b"]}\n')
        with pytest.raises(BadInputError, match=r"t.jsonl: row 2: column 'text': expected a string, found list"):
            read_table(path)

    @pytest.mark.parametrize("name, content, message", [
        ("t.txt", "text\na\n", "unsupported table format '.txt'; use .csv, .parquet or .jsonl"),
        ("t.csv", "", "file is empty"),
        ("t.csv", "text,text\na,b\n", "column 'text': duplicate column name in header"),
        ("t.csv", "text,llm_label\na,b,c\n", "row 1: expected 2 fields, found 3"),
    ])
    def test_refusals(self, tmp_path, name, content, message):
        with pytest.raises(BadInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_table(write(tmp_path / name, content))

    def test_missing_file_and_folder(self, tmp_path):
        with pytest.raises(BadInputError, match="file not found"):
            read_table(tmp_path / "absent.csv")
        with pytest.raises(BadInputError, match="is a folder"):
            read_table(tmp_path)


class TestResolveLabels:
    def test_option_wins_and_gets_the_params_checks(self):
        assert resolve_labels(("a", "b"), option=" x, y ") == ("x", "y")
        with pytest.raises(ConfigError, match="--labels: labels must be unique"):
            resolve_labels(option="x,x")

    def test_configured_before_the_table(self):
        frame = pd.DataFrame({"llm_label": ["q"], "llm_prob_q": [1.0]})
        assert resolve_labels(("a", "b"), frame) == ("a", "b")

    def test_probability_columns_in_order_else_sorted_labels_used(self):
        frame = pd.DataFrame({"llm_label": ["b", "a"], "gold_label": [None, "c"], "annotator_x": ["d", None]})
        assert resolve_labels((), frame) == ("a", "b", "c", "d")
        frame["llm_prob_z"], frame["llm_prob_a"] = 0.5, 0.5
        assert resolve_labels((), frame) == ("z", "a")

    def test_other_columns_of_several_tables(self):
        train = pd.DataFrame({"label": ["b", "a"]})
        test = pd.DataFrame({"label": ["c", np.nan]})
        assert resolve_labels((), train, test, columns=("label",)) == ("a", "b", "c")
        assert resolve_labels(("z", "y"), train, columns=("label",)) == ("z", "y")

    def test_labels_from_tables_or_params(self):  # the training stages' label set (formerly train.resolve_labels)
        a = pd.DataFrame({"label": ["b", "a"]})
        b = pd.DataFrame({"label": ["c"]})
        assert resolve_labels((), a, b, columns=("label",)) == ("a", "b", "c")
        assert resolve_labels(("z", "y"), a, columns=("label",)) == ("z", "y")

    def test_required(self):
        with pytest.raises(ConfigError, match="no label set: set base.labels"):
            resolve_labels((), required=True)
        with pytest.raises(BadInputError, match=r"need at least two classes, found \['a'\]"):
            resolve_labels((), pd.DataFrame({"label": ["a", "a"]}), columns=("label",), required=True)
        assert resolve_labels((), pd.DataFrame({"llm_label": ["a"]})) == ("a",)  # not required: validate says why


class TestReadTestTable:
    def test_columns_pass_through_in_file_order(self, tmp_path):
        path = write(tmp_path / "test.csv", "id,text,label\n2,b,y\n1,a,x\n")
        frame = read_test_table(path)
        assert frame.columns.tolist() == ["id", "text", "label"] and frame["text"].tolist() == ["b", "a"]

    def test_missing_column_and_value(self, tmp_path):
        with pytest.raises(BadInputError, match="column 'label': required column missing from the gold test set"):
            read_test_table(write(tmp_path / "a.csv", "text\nx\n"))
        path = write(tmp_path / "b.csv", "text,label\nx,a\ny,\n")
        with pytest.raises(BadInputError, match="b.csv: row 2: column 'label': missing value"):
            read_test_table(path)
        assert read_test_table(path, complete=False)["label"].isna().tolist() == [False, True]


def test_label_table_views():
    frame = pd.DataFrame({"id": ["1", "2"], "text": ["a", "b"], "llm_label": ["x", None], "llm_prob_x": [0.7, 0.4],
                          "llm_prob_y": [0.3, 0.6], "gold_label": [None, "y"], "audit_weight": [np.nan, 2.0],
                          "annotator_empty": [None, None]})
    table = LabelTable(frame=frame, labels=("x", "y"), path="t")
    assert table.prob_columns == ["llm_prob_x", "llm_prob_y"] and table.has_probs and table.has_gold
    assert table.annotator_columns == []
    assert table.label_codes().tolist() == [0, -1] and table.label_codes("gold_label").tolist() == [-1, 1]
    np.testing.assert_array_equal(table.probabilities(), [[0.7, 0.3], [0.4, 0.6]])
    assert np.isnan(table.audit_weights()[0]) and table.audit_weights()[1] == 2.0
    assert stable_id("a") == stable_id("a") != stable_id("b") and len(stable_id("a")) == 16
