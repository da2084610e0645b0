"""`labelgate audit sample` and `labelgate audit merge`: the sample design, its weights, the export formats, the
round trip back into the label table, and bad annotation files (exit 2, one line, nothing written)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelgate.audit import AuditSampleParams, _allocate, merge_audit, sample_audit
from labelgate.errors import BadInputError

LABELS = ["a", "b", "c"]


def scores(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = np.array(["a"] * (n // 2) + ["b"] * (3 * n // 10) + ["c"] * (n - n // 2 - 3 * n // 10))
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)],
                         "llm_label": labels, "gold_label": [None] * n,
                         "cleanlab_label_quality": rng.random(n)})


def test_allocation_is_proportional_with_a_minimum():
    assert _allocate({"a": 100, "b": 60, "c": 40}, 50, 2) == {"a": 25, "b": 15, "c": 10}
    assert _allocate({"a": 1000, "b": 10, "c": 1}, 20, 2) == {"a": 17, "b": 2, "c": 1}
    assert sum(_allocate({"a": 7, "b": 5, "c": 3}, 10, 0).values()) == 10


def test_proportional_sample_and_weights():
    frame = scores()
    export, summary = sample_audit(frame, LABELS, AuditSampleParams(size=50, seed=1))
    assert list(export.columns) == ["id", "text", "llm_label", "audit_weight", "audit_stratum", "audit_risk",
                                    "gold_label"]
    assert export["llm_label"].value_counts().to_dict() == {"a": 25, "b": 15, "c": 10}
    assert export["audit_weight"].tolist() == [4.0] * 50  # 100/25 = 60/15 = 40/10
    assert export["audit_weight"].sum() == len(frame)
    assert export["id"].is_unique and export["gold_label"].isna().all()
    assert summary["risk"] == "cleanlab_label_quality"
    again, _ = sample_audit(frame, LABELS, AuditSampleParams(size=50, seed=1))
    assert again.equals(export)  # deterministic for a seed


def test_oversampling_records_inverse_inclusion_probabilities():
    frame = scores()
    export, _ = sample_audit(frame, LABELS, AuditSampleParams(size=50, oversample=3.0, high_risk_share=0.2, seed=2))
    high = export[export["audit_stratum"] == "a/high-risk"]
    low = export[export["audit_stratum"] == "a"]
    # stratum a: 100 rows, 25 to draw; the 20 riskiest get 3x: round(25 * 60 / 140) = 11 of 20, 14 of 80
    assert len(high) == 11 and len(low) == 14
    assert high["audit_weight"].unique().tolist() == [20 / 11]
    assert low["audit_weight"].unique().tolist() == [80 / 14]
    riskiest = set(frame.loc[frame["llm_label"] == "a"].nsmallest(20, "cleanlab_label_quality")["id"])
    assert set(high["id"]) <= riskiest
    for label, rows in (("a", 100), ("b", 60), ("c", 40)):  # weights add up to each stratum's size
        assert export.loc[export["llm_label"] == label, "audit_weight"].sum() == pytest.approx(rows)


def test_already_audited_rows_are_not_sampled_again():
    frame = scores()
    frame.loc[:149, "gold_label"] = frame.loc[:149, "llm_label"]
    export, summary = sample_audit(frame, LABELS, AuditSampleParams(size=500))
    assert summary["candidates"] == 50 and len(export) == 50
    assert set(export["id"]) == {f"r{i}" for i in range(150, 200)}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json"])
def test_cli_round_trip(workdir, cli, suffix):
    frame = scores()
    frame.drop(columns=["cleanlab_label_quality"]).to_csv(workdir / "labels.csv", index=False)
    frame.to_parquet(workdir / "scores.parquet")
    (workdir / "params.yaml").write_text("base:\n  labels: [a, b, c]\naudit:\n  size: 30\n  oversample: 2.0\n")
    sheet = workdir / f"sheet{suffix}"
    result = cli("audit", "sample", workdir / "scores.parquet", "--out", sheet)
    assert result.exit_code == 0, result.output
    assert "30 of 200 unaudited rows" in result.output
    if suffix == ".json":
        records = json.loads(sheet.read_text())
        assert isinstance(records, list) and set(records[0]) >= {"id", "text", "llm_label", "audit_weight"}
        for record in records:
            record["gold_label"] = "b"
        sheet.write_text(json.dumps(records))
    else:
        table = pd.read_csv(sheet) if suffix == ".csv" else pd.read_json(sheet, lines=True)
        table["gold_label"] = "b"
        table.to_csv(sheet, index=False) if suffix == ".csv" else table.to_json(sheet, orient="records", lines=True)
    result = cli("audit", "merge", workdir / "labels.csv", sheet, "--out", workdir / "merged.csv")
    assert result.exit_code == 0, result.output
    merged = pd.read_csv(workdir / "merged.csv")
    assert merged["gold_label"].notna().sum() == 30
    assert merged.loc[merged["gold_label"].notna(), "audit_weight"].gt(0).all()
    assert merged["audit_weight"].notna().sum() == 30
    checked = cli("check", workdir / "merged.csv", "--out", workdir / "verdict.json")
    verdict = json.loads((workdir / "verdict.json").read_text())
    assert verdict["label_error"]["n_audited"] == 30, checked.output


def test_label_studio_json_export_is_read(workdir, cli):
    scores().drop(columns=["cleanlab_label_quality"]).to_csv(workdir / "labels.csv", index=False)
    (workdir / "params.yaml").write_text("base:\n  labels: [a, b, c]\n")
    tasks = [{"id": 7, "data": {"id": "r3", "text": "text 3", "audit_weight": 2.0},
              "annotations": [{"result": [{"from_name": "sentiment", "value": {"choices": ["c"]}}]}]},
             {"id": 8, "data": {"id": "r4", "text": "text 4", "audit_weight": 2.0}, "annotations": []}]
    (workdir / "export.json").write_text(json.dumps(tasks))
    result = cli("audit", "merge", workdir / "labels.csv", workdir / "export.json", "--out", workdir / "m.csv")
    assert result.exit_code == 0, result.output
    assert "1 gold labels merged (1 rows of the sheet unlabelled)" in result.output
    merged = pd.read_csv(workdir / "m.csv").set_index("id")
    assert merged.loc["r3", "gold_label"] == "c" and merged.loc["r3", "audit_weight"] == 2.0
    assert pd.isna(merged.loc["r4", "gold_label"])


BAD_SHEETS = {
    "unknown id": ("id,gold_label\nr1,a\nzz,b\n", ["row 2", "column 'id'", "id not in the label table"]),
    "duplicate id": ("id,gold_label\nr1,a\nr1,b\n", ["rows 1, 2", "column 'id'", "duplicate id"]),
    "label outside the set": ("id,gold_label\nr1,a\nr2,angry\n", ["row 2", "column 'gold_label'", "label set"]),
    "bad weight": ("id,gold_label,audit_weight\nr1,a,0\n", ["row 1", "column 'audit_weight'", "> 0"]),
    "no gold column": ("id,label\nr1,a\n", ["column 'gold_label'", "required column missing"]),
    "conflict": ("id,gold_label\nr0,c\n", ["row 1", "conflicts with the label table's existing gold_label"]),
}


@pytest.mark.parametrize("name", sorted(BAD_SHEETS))
def test_bad_sheets_exit_2_with_one_line_and_write_nothing(workdir, cli, name):
    frame = scores().drop(columns=["cleanlab_label_quality"])
    frame.loc[0, "gold_label"] = "a"
    frame.to_csv(workdir / "labels.csv", index=False)
    (workdir / "params.yaml").write_text("base:\n  labels: [a, b, c]\n")
    content, fragments = BAD_SHEETS[name]
    (workdir / "sheet.csv").write_text(content)
    result = cli("audit", "merge", workdir / "labels.csv", workdir / "sheet.csv", "--out", workdir / "out.csv")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labelgate audit merge: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (workdir / "out.csv").exists()


def test_merge_without_ids_in_the_table_uses_text_hashes():
    from labelgate.contract import stable_id

    frame = pd.DataFrame({"text": ["x", "y"], "llm_label": ["a", "b"]})
    sheet = pd.DataFrame({"id": [stable_id("y")], "gold_label": ["a"]})
    merged, summary = merge_audit(frame, sheet, LABELS)
    assert merged["gold_label"].tolist() == [None, "a"] and summary["merged"] == 1
    with pytest.raises(BadInputError):
        merge_audit(frame, pd.DataFrame({"id": ["nope"], "gold_label": ["a"]}), LABELS)


def test_audit_params_are_range_checked(workdir, cli):
    scores().to_parquet(workdir / "scores.parquet")
    (workdir / "params.yaml").write_text("audit:\n  oversample: 0.5\n")
    result = cli("audit", "sample", workdir / "scores.parquet", "--out", workdir / "s.csv")
    assert result.exit_code == 2 and "oversample" in result.output
