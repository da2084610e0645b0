"""Fault injection on the audit round trip: outputs over inputs, incomplete and
inconsistent audits, malformed Label Studio exports. Each ends in exit 2 (bad input, one line naming the file,
nothing written) or exit 1 (blocked, with the reason), never in a silent pass."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from assertions import one_error_line
from synthetic import label_table, make_texts

LABELS = ["negative", "neutral", "positive"]


@pytest.fixture()
def table(workdir):
    """A clean 240-row table (strata of different sizes), no audit yet."""
    texts, truth = make_texts(240, 3, seed=11)
    frame = label_table(texts, truth, LABELS)
    probs = np.full((240, 3), 0.05)
    probs[np.arange(240), truth] = 0.9
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, k]
    path = workdir / "labels.csv"
    frame.to_csv(path, index=False)
    return path


def sample(cli, table, out, *extra):
    result = cli("audit", "sample", table, "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return out


def fill(sheet_path, table, *, blank=()):
    """Label every row of a CSV sheet correctly (its LLM label), except the ids in `blank`."""
    truth = pd.read_csv(table).set_index("id")["llm_label"]
    sheet = pd.read_csv(sheet_path)
    sheet["gold_label"] = [None if i in blank else truth[i] for i in sheet["id"]]
    sheet.to_csv(sheet_path, index=False)
    return sheet


# ------------------------------------------------------------------------------------ outputs over inputs


def test_sample_out_equal_to_the_table_is_refused(workdir, cli, table):
    before = table.read_bytes()
    result = cli("audit", "sample", table, "--out", table)
    one_error_line(result, code=2, contains=("--out is the same file as TABLE",))
    assert table.read_bytes() == before


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_merge_out_equal_to_the_sheet_is_refused(workdir, cli, table, suffix):
    sheet = sample(cli, table, workdir / f"sheet{suffix}")
    before = sheet.read_bytes()
    result = cli("audit", "merge", table, sheet, "--out", sheet)
    one_error_line(result, code=2, contains=("--out is the same file as ANNOTATIONS",))
    assert sheet.read_bytes() == before


def test_a_new_wave_does_not_overwrite_a_labelled_sheet(workdir, cli, table):
    sheet = sample(cli, table, workdir / "sheet.csv", "--size", "40")
    fill(sheet, table)
    before = sheet.read_bytes()
    result = cli("audit", "sample", table, "--out", sheet, "--seed", "3")
    one_error_line(result, code=2, contains=("sheet.csv", "holds 40 gold labels", "another path"))
    assert sheet.read_bytes() == before
    pd.read_csv(sheet).assign(gold_label=None).to_csv(sheet, index=False)  # an unlabelled sheet may be replaced
    assert cli("audit", "sample", table, "--out", sheet, "--seed", "3").exit_code == 0


def test_merging_the_table_into_itself_is_refused(workdir, cli, table):
    result = cli("audit", "merge", table, table, "--out", workdir / "m.csv")
    one_error_line(result, code=2, contains=("ANNOTATIONS is the same file as TABLE",))
    assert not (workdir / "m.csv").exists()


def test_negative_seed_is_a_one_line_error(workdir, cli, table):
    result = cli("audit", "sample", table, "--out", workdir / "s.csv", "--seed", "-1")
    one_error_line(result, code=2, contains=("seed",))
    assert not (workdir / "s.csv").exists()


# ------------------------------------------------------------------------------------ incomplete audits


@pytest.mark.slow
def test_blank_rows_block_the_gate(workdir, cli, table):
    """The rows where the LLM was wrong left blank. The merge records them as drawn, and the
    gate blocks on audit_missing_share; the same sheet fully labelled passes."""
    frame = pd.read_csv(table)
    wrong = frame.index[frame.index % 5 == 0]  # the LLM is wrong on every fifth row
    frame.loc[wrong, "llm_label"] = frame.loc[wrong, "llm_label"].map(
        {"negative": "neutral", "neutral": "positive", "positive": "negative"})
    truth = pd.read_csv(table).set_index("id")["llm_label"]
    frame.to_csv(table, index=False)
    sheet_path = sample(cli, table, workdir / "sheet.csv", "--size", "80")
    sheet = pd.read_csv(sheet_path)
    hard = set(sheet["id"]) & set(frame.loc[wrong, "id"])
    sheet["gold_label"] = [None if i in hard else truth[i] for i in sheet["id"]]
    sheet.to_csv(sheet_path, index=False)
    result = cli("audit", "merge", table, sheet_path, "--out", workdir / "merged.csv")
    assert result.exit_code == 0 and "drawn rows have no gold label" in result.output, result.output
    merged = pd.read_csv(workdir / "merged.csv")
    assert merged["audit_wave"].notna().sum() == 80 and merged["gold_label"].notna().sum() == 80 - len(hard)
    result = cli("check", workdir / "merged.csv", "--out", workdir / "v.json")
    assert result.exit_code == 1, result.output
    verdict = json.loads((workdir / "v.json").read_text())
    share = verdict["figures"]["audit_missing_share"]
    assert share == pytest.approx(len(hard) / 80) and share > 0.05
    failed = {o["column"]: o for o in verdict["outcomes"] if o["status"] == "fail"}
    assert "audit_missing_share" in failed and failed["audit_missing_share"]["severity"] == "block"


def test_a_sheet_with_rows_deleted_is_refused(workdir, cli, table):
    sheet = fill(sample(cli, table, workdir / "sheet.csv", "--size", "40"), table)
    sheet.iloc[5:].to_csv(workdir / "sheet.csv", index=False)  # the first five rows dropped, not left blank
    result = cli("audit", "merge", table, workdir / "sheet.csv", "--out", workdir / "m.csv")
    one_error_line(result, code=2, contains=("sheet.csv", "column 'audit_weight'", "rows are missing from the "
                                             "sheet", "unlabelled rows included"))
    assert not (workdir / "m.csv").exists()


def test_a_sheet_of_another_table_is_refused(workdir, cli, table):
    sheet = fill(sample(cli, table, workdir / "sheet.csv", "--size", "40"), table)
    sheet["audit_weight"] *= 2  # as if drawn from a table twice the size
    sheet.to_csv(workdir / "sheet.csv", index=False)
    result = cli("audit", "merge", table, workdir / "sheet.csv", "--out", workdir / "m.csv")
    one_error_line(result, code=2, contains=("drawn from another table",))
    assert not (workdir / "m.csv").exists()


def test_unrecorded_weights_of_several_waves_are_refused(workdir, cli, table):
    """An earlier labelgate's two waves merged without a record: weights summing to more than the table."""
    frame = pd.read_csv(table)
    frame["gold_label"] = np.where(frame.index < 100, frame["llm_label"], None)
    frame["audit_weight"] = np.where(frame.index < 100, 4.0, np.nan)  # 100 rows of weight 4: 400 > 240
    frame.to_csv(table, index=False)
    for command in (("audit", "sample", table, "--out", workdir / "s.csv"),
                    ("audit", "merge", table, workdir / "none.csv", "--out", workdir / "m.csv")):
        (workdir / "none.csv").write_text("id,gold_label\n")
        result = cli(*command)
        one_error_line(result, code=2, contains=("labels.csv", "several audit waves", "add an audit_wave column"))
    assert not (workdir / "s.csv").exists() and not (workdir / "m.csv").exists()


def test_a_hand_made_sheet_into_a_designed_audit_is_refused(workdir, cli, table):
    fill(sample(cli, table, workdir / "sheet.csv", "--size", "40"), table)
    assert cli("audit", "merge", table, workdir / "sheet.csv", "--out", table).exit_code == 0
    frame = pd.read_csv(table)
    unaudited = frame.loc[frame["audit_wave"].isna(), "id"].iloc[0]
    (workdir / "hand.csv").write_text(f"id,gold_label\n{unaudited},neutral\n")
    before = table.read_bytes()
    result = cli("audit", "merge", table, workdir / "hand.csv", "--out", table)
    one_error_line(result, code=2, contains=("no audit_weight", "records audit waves up to 1"))
    assert table.read_bytes() == before


def test_a_gold_label_outside_the_design_is_refused(workdir, cli, table):
    """A gold label typed into the table by hand after a recorded wave: no design covers it."""
    fill(sample(cli, table, workdir / "sheet.csv", "--size", "40"), table)
    assert cli("audit", "merge", table, workdir / "sheet.csv", "--out", table).exit_code == 0
    frame = pd.read_csv(table)
    row = int(np.flatnonzero(frame["audit_wave"].isna())[0])
    frame.loc[row, "gold_label"] = frame.loc[row, "llm_label"]
    frame.to_csv(table, index=False)
    result = cli("audit", "sample", table, "--out", workdir / "s2.csv")
    one_error_line(result, code=2, contains=(f"row {row + 1}", "column 'gold_label'", "outside the recorded audit "
                                             "design"))
    assert not (workdir / "s2.csv").exists()


@pytest.mark.parametrize("value, rule", [("-1", "an audit wave"), ("1.5", "an audit wave"),
                                         ("yes", "an audit wave")])
def test_validate_refuses_a_bad_audit_wave(workdir, cli, table, value, rule):
    frame = pd.read_csv(table).astype({"llm_label": str})
    frame["audit_wave"] = [value] + [""] * (len(frame) - 1)
    frame.to_csv(table, index=False)
    result = cli("validate", table, "--out", workdir / "v.parquet")
    one_error_line(result, code=2, contains=("row 1", "column 'audit_wave'", rule))
    assert not (workdir / "v.parquet").exists()


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_boolean_audit_weight_is_not_a_weight_of_one(workdir, cli, table, fmt):
    """A Parquet/JSONL `true` in audit_weight was read as 1.0 (found by the audit-shape fuzzing of `check`): like a
    boolean figure or audit_wave, it is bad input, not a number."""
    frame = pd.read_csv(table)
    frame["gold_label"] = frame["llm_label"].where(frame.index % 3 == 0)
    frame["audit_weight"] = pd.array([True if i % 3 == 0 else None for i in range(len(frame))], dtype="boolean")
    path = workdir / f"labels.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    for command, out in (("validate", workdir / "valid.parquet"), ("check", workdir / "verdict.json")):
        result = cli(command, path, "--out", out)
        one_error_line(result, code=2, contains=("rows 1, 4, 7", "column 'audit_weight'",
                                                 "audit weight is not a number: True"))
        assert not out.exists()


# ------------------------------------------------------------------------------------ Label Studio shapes


def task(annotations, data=None):
    return {"id": 1, "data": {"id": "r0", "text": "t", "audit_wave": 1, "audit_weight": 1.0}
            if data is None else data, "annotations": annotations}


def choice(*labels, name="sentiment"):
    return {"result": [{"from_name": name, "value": {"choices": list(labels)}}]}


MALFORMED = {
    "annotations-an-object": ([task({"result": []})], "must be a list of objects"),
    "annotation-a-string": ([task(["negative"])], "must be a list of objects"),
    "result-an-object": ([task([{"result": {"value": {"choices": ["negative"]}}}])], "`result` must be a list"),
    "value-a-string": ([task([{"result": [{"value": "negative"}]}])], "`value` must be an object"),
    "choices-a-string": ([task([{"result": [{"value": {"choices": "negative"}}]}])], "`choices` must be a list"),
    "two-choices": ([task([choice("negative", "positive")])], "chose 2 labels"),
    "two-controls": ([task([{"result": [choice("negative")["result"][0],
                                        choice("positive", name="other")["result"][0]]}])], "--gold-column"),
    "data-a-string": ([{"data": "r0", "annotations": []}], "without a `data` object"),
    "nested-data": ([task([], data={"id": "r0", "text": {"nested": 1}})], "found dict"),
    "not-an-array": ({"tasks": []}, "expected a JSON array"),
    "empty-array": ([], "holds no rows"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_label_studio_exports_are_one_line_errors(workdir, cli, table, name):
    content, message = MALFORMED[name]
    (workdir / "export.json").write_text(json.dumps(content))
    result = cli("audit", "merge", table, workdir / "export.json", "--out", workdir / "m.csv")
    one_error_line(result, code=2, contains=("export.json", message))
    assert not (workdir / "m.csv").exists()


@pytest.mark.slow
def test_disagreeing_annotators_do_not_pass_as_first_wins(workdir, cli, table):
    """Two annotators disagree on every task: nothing is merged, every drawn row counts as missing, and the gate
    blocks instead of taking the first annotator's word."""
    sheet = json.loads(sample(cli, table, workdir / "tasks.json", "--size", "30").read_text())
    truth = pd.read_csv(table).set_index("id")["llm_label"]
    other = {"negative": "neutral", "neutral": "positive", "positive": "negative"}
    tasks = [{"id": k, "data": record, "annotations": [choice(truth[record["id"]]), choice(other[truth[record["id"]]])]}
             for k, record in enumerate(sheet)]
    (workdir / "export.json").write_text(json.dumps(tasks))
    result = cli("audit", "merge", table, workdir / "export.json", "--out", workdir / "m.csv")
    assert result.exit_code == 0, result.output
    assert "0 gold labels merged" in result.output and "30 unresolved" in result.output
    result = cli("check", workdir / "m.csv", "--out", workdir / "v.json")
    assert result.exit_code == 1, result.output
    verdict = json.loads((workdir / "v.json").read_text())
    assert verdict["figures"]["audit_missing_share"] == 1.0
    assert any(o["column"] == "audit_missing_share" and o["status"] == "fail" for o in verdict["outcomes"])
