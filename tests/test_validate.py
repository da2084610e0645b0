"""Bad input: exit 2, one line naming file, row and column, and no output written."""

from __future__ import annotations

import pandas as pd
import pytest

GOOD_HEADER = "id,text,llm_label,llm_prob_negative,llm_prob_neutral,llm_prob_positive,annotator_v1,gold_label\n"
GOOD_ROWS = [
    "a1,great flight,positive,0.1,0.2,0.7,positive,positive\n",
    "a2,lost my bag,negative,0.8,0.1,0.1,negative,\n",
    "a3,flight at noon,neutral,0.2,0.6,0.2,neutral,\n",
]


def write(path, text: str | bytes):
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def with_row(row: str) -> str:
    return GOOD_HEADER + "".join(GOOD_ROWS) + row


CASES = {
    # name: (file content, expected fragments of the one-line message)
    "unknown label": (with_row("a4,meh,angry,0.2,0.6,0.2,neutral,\n"), ["row 4", "'llm_label'", "not in the label set"]),
    "empty text": (with_row('a4,"  ",neutral,0.2,0.6,0.2,neutral,\n'), ["row 4", "'text'", "empty text"]),
    "duplicate id": (with_row("a2,another text,neutral,0.2,0.6,0.2,neutral,\n"), ["rows 2, 4", "'id'", "duplicate id"]),
    "NaN probability": (with_row("a4,meh,neutral,NaN,0.6,0.2,neutral,\n"),
                        ["row 4", "'llm_prob_negative'", "NaN or empty"]),
    # NaN in a row whose other probabilities still sum to 1: only the NaN check can catch it
    "NaN probability, rest sums to 1": (with_row("a4,meh,neutral,NaN,0.4,0.6,neutral,\n"),
                                        ["row 4", "'llm_prob_negative'", "NaN or empty"]),
    "empty probability": (with_row("a4,meh,neutral,,0.6,0.2,neutral,\n"), ["row 4", "'llm_prob_negative'"]),
    "not normalised": (with_row("a4,meh,neutral,0.3,0.6,0.3,neutral,\n"), ["row 4", "llm_prob_*", "sum to 1"]),
    "probability above 1": (with_row("a4,meh,neutral,-0.5,1.5,0.0,neutral,\n"), ["row 4", "'llm_prob_"]),
    "non-numeric probability": (with_row("a4,meh,neutral,high,0.6,0.2,neutral,\n"),
                                ["row 4", "'llm_prob_negative'", "not a number"]),
    "unknown annotator label": (with_row("a4,meh,neutral,0.2,0.6,0.2,angry,\n"), ["row 4", "'annotator_v1'"]),
    "unknown gold label": (with_row("a4,meh,neutral,0.2,0.6,0.2,neutral,angry\n"), ["row 4", "'gold_label'"]),
    "ragged row": (with_row("a4,meh,neutral,0.2\n"), ["row 4", "expected 8 fields, found 4"]),
    "truncated in a quote": (with_row('a4,"cut off here'), ["row 4", "truncated"]),
    "truncated mid-row": (GOOD_HEADER + "".join(GOOD_ROWS) + "a4,meh,neutral,0.2,0.6,0.2,neutral,", ["row 4", "truncated"]),
    "missing column": ("id,text\n1,hello\n", ["column 'llm_label'", "required column missing"]),
    "probability for unknown label": ("text,llm_label,llm_prob_angry\nhi,neutral,1.0\n",
                                      ["column 'llm_prob_angry'", "outside the label set"]),
    "empty file": ("", ["file is empty"]),
    "audit weight missing on an audited row": (
        "id,text,llm_label,gold_label,audit_weight\na1,x,neutral,neutral,2.5\na2,y,neutral,positive,\n",
        ["row 2", "'audit_weight'", "needs an audit weight > 0"]),
    "audit weight not a number": ("id,text,llm_label,gold_label,audit_weight\na1,x,neutral,neutral,heavy\n",
                                  ["row 1", "'audit_weight'", "not a number"]),
}


@pytest.fixture()
def small(workdir):
    (workdir / "params.yaml").write_text("base:\n  labels: [negative, neutral, positive]\nvalidate:\n  min_rows: 1\n")
    return workdir


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_csv_exits_2_with_one_line_and_writes_nothing(small, cli, name):
    workdir = small
    content, fragments = CASES[name]
    path = write(workdir / "labels.csv", content)
    result = cli("validate", path, "--out", workdir / "out.parquet")
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "\n" not in message
    assert message.startswith("labelgate validate: error: ")
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert not (workdir / "out.parquet").exists()
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".out")] == []


def test_wrong_encoding(workdir, cli):
    path = write(workdir / "labels.csv", (GOOD_HEADER + "".join(GOOD_ROWS)).encode("utf-8") + "a4,caf\xe9,neutral,0.2,0.6,0.2,neutral,\n".encode("latin-1"))
    result = cli("validate", path)
    assert result.exit_code == 2
    assert "not valid UTF-8" in result.output and "file line 5" in result.output


def test_utf16_file_is_rejected(workdir, cli):
    path = write(workdir / "labels.csv", (GOOD_HEADER + "".join(GOOD_ROWS)).encode("utf-16"))
    result = cli("validate", path)
    assert result.exit_code == 2
    assert "UTF-8" in result.output


def test_truncated_parquet(workdir, cli):
    frame = pd.read_csv(write(workdir / "good.csv", GOOD_HEADER + "".join(GOOD_ROWS)))
    frame.to_parquet(workdir / "labels.parquet")
    data = (workdir / "labels.parquet").read_bytes()
    (workdir / "labels.parquet").write_bytes(data[: len(data) // 2])
    result = cli("validate", workdir / "labels.parquet")
    assert result.exit_code == 2
    assert "unreadable Parquet" in result.output


@pytest.mark.parametrize("name, content, fragments", [
    ("labels.jsonl", '{"text": "a", "llm_label": "neutral"}\n{"text": "b", "llm_la', ["row 2", "truncated"]),
    # without an id column, ids derive from the text: the same text twice is a duplicate id
    ("labels.csv", "text,llm_label\nhello,neutral\nhello,neutral\n", ["duplicate id", "rows 1, 2"]),
])
def test_bad_table_with_labels_option_exits_2(small, cli, name, content, fragments):
    result = cli("validate", write(small / name, content), "--labels", "negative,neutral,positive")
    assert result.exit_code == 2
    assert all(fragment in result.output for fragment in fragments)


def test_good_table_passes_and_is_normalised(workdir, cli):
    path = write(workdir / "labels.csv", GOOD_HEADER + "".join(GOOD_ROWS))
    (workdir / "params.yaml").write_text("validate:\n  min_rows: 1\n")
    result = cli("validate", path, "--out", workdir / "out.parquet")
    assert result.exit_code == 0, result.output
    out = pd.read_parquet(workdir / "out.parquet")
    assert list(out["id"]) == ["a1", "a2", "a3"]
    assert out["llm_prob_positive"].dtype == float
    assert out["gold_label"].isna().sum() == 2


def test_min_rows_from_params(workdir, cli):
    path = write(workdir / "labels.csv", GOOD_HEADER + "".join(GOOD_ROWS))
    result = cli("validate", path)  # the repo's params.yaml asks for at least 50 rows
    assert result.exit_code == 2
    assert "needs at least 50" in result.output


def test_unknown_params_key_is_a_usage_error(workdir, cli):
    path = write(workdir / "labels.csv", GOOD_HEADER + "".join(GOOD_ROWS))
    (workdir / "params.yaml").write_text("validate:\n  prob_tolerence: 0.1\n")
    result = cli("validate", path)
    assert result.exit_code == 2
    assert "unknown key(s) prob_tolerence" in result.output


@pytest.mark.parametrize("option, message", [("a,a", "labels must be unique"), ("a", "labels needs at least two classes")])
def test_labels_option_gets_the_params_checks(small, cli, option, message):
    path = write(small / "labels.csv", GOOD_HEADER + "".join(GOOD_ROWS))
    result = cli("validate", path, "--labels", option)
    assert result.exit_code == 2
    assert f"--labels: {message}" in result.output


def test_one_class_label_set_is_refused(workdir, cli):
    """Without base.labels the label set is inferred; a table whose labels are all one class cannot be gated."""
    (workdir / "params.yaml").write_text("validate:\n  min_rows: 1\n")
    write(workdir / "one.csv", "text,llm_label\nhello,positive\nworld,positive\n")
    result = cli("validate", workdir / "one.csv")
    assert result.exit_code == 2
    assert "label set ['positive'] has fewer than two classes" in result.stderr


def test_contract_suite_is_checked_before_the_table_is_read(workdir, cli):
    """A broken contract suite is reported first, even when the table is missing too."""
    path = workdir / "expectations" / "label_contract.json"
    path.write_text(path.read_text().replace(
        '"expect_column_values_to_be_unique"', '"expect_column_values_to_be_uniqe"'))
    result = cli("validate", workdir / "no_such_table.csv")
    assert result.exit_code == 2
    assert "label_contract.json: expectation 6 (expect_column_values_to_be_uniqe" in result.stderr


class TestStamp:
    """`validate --out x.parquet` stamps the table it checked; reading it again skips the suite only while the table,
    label set, tolerances and suite are the ones checked."""

    @pytest.fixture()
    def stamped(self, small, cli):
        workdir = small
        write(workdir / "labels.csv", GOOD_HEADER + "".join(GOOD_ROWS))
        assert cli("validate", workdir / "labels.csv", "--out", workdir / "v.parquet").exit_code == 0
        return workdir / "v.parquet"

    @pytest.fixture()
    def suite_runs(self, monkeypatch):
        import labelgate.validate as validate

        runs = []
        original = validate.run_suite
        monkeypatch.setattr(validate, "run_suite", lambda *a, **k: runs.append(a[0]) or original(*a, **k))
        return runs

    def test_a_stamped_table_is_not_checked_twice(self, stamped, suite_runs):
        from labelgate.validate import ValidateParams, validate_label_table

        table = validate_label_table(stamped, labels=("negative", "neutral", "positive"))
        assert suite_runs == [] and len(table.frame) == 3
        validate_label_table(stamped, labels=("positive", "neutral", "negative"))
        validate_label_table(stamped, labels=("negative", "neutral", "positive"), params=ValidateParams(min_rows=2))
        assert suite_runs == ["label_contract", "label_contract"]  # another label order, other tolerances: full check

    def test_an_edited_stamped_table_is_checked_in_full(self, stamped, suite_runs, cli):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(stamped)
        frame = table.to_pandas()
        frame.loc[1, "llm_label"] = "angry"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
            table.schema.metadata), stamped)
        result = cli("score", stamped, "--out", stamped.parent / "s.parquet", "--summary", stamped.parent / "r.json")
        assert result.exit_code == 2 and "row 2: column 'llm_label'" in result.output
        assert suite_runs == ["label_contract"] and not (stamped.parent / "s.parquet").exists()
