"""score.py: the enabled signals over a validated table, the outputs written all or nothing, and a malformed table
refused (exit 2) even though `validate` normally checked it first."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from labelgate.contract import LabelTable
from labelgate.errors import BadInputError
from labelgate.score import ScoreParams, main, score_labels
from synthetic import confident_table

LABELS = ("a", "b", "c")
PARAMS = {"base": {"labels": list(LABELS)}, "score": {"signals": ["entropy", "class_balance"]}}


@pytest.fixture()
def table_csv(tmp_path):
    path = tmp_path / "labels.csv"
    confident_table(90, LABELS, noisy=False, seed=3, audit_share=0.0).to_csv(path, index=False)
    return path


def test_signals_run_in_order_and_rows_keep_the_input(table_csv):
    frame = pd.read_csv(table_csv, dtype={"id": str})
    table = LabelTable(frame=frame, labels=LABELS, path=str(table_csv))
    seen = []
    rows, summary = score_labels(table, ScoreParams(signals=("entropy", "class_balance")), progress=seen.append)
    assert seen == ["entropy", "class_balance"] and list(summary["signals"]) == seen
    assert len(rows) == 90 and rows["id"].tolist() == frame["id"].tolist() and "entropy_normalised" in rows
    assert summary["n_rows"] == 90 and summary["labels"] == list(LABELS)
    assert sum(summary["llm_label_counts"].values()) == 90


def test_main_writes_scores_summary_and_headline(table_csv, workdir):
    out, summary, headline = workdir / "s.parquet", workdir / "r.json", workdir / "h.json"
    result = main(table_csv, out, summary, params=PARAMS, headline=headline)
    assert pd.read_parquet(out).shape[0] == 90
    assert json.loads(summary.read_text())["metrics"] == result["metrics"]
    assert json.loads(headline.read_text())["n_rows"] == 90


def test_a_malformed_table_is_refused_and_nothing_written(table_csv, workdir, cli):
    frame = pd.read_csv(table_csv)
    frame.loc[4, "llm_label"] = "z"  # outside the label set
    frame.to_csv(table_csv, index=False)
    with pytest.raises(BadInputError, match="row 5"):
        main(table_csv, workdir / "s.parquet", workdir / "r.json", params=PARAMS)
    (workdir / "params.yaml").write_text(json.dumps(PARAMS))
    result = cli("score", table_csv, "--out", workdir / "s.parquet", "--summary", workdir / "r.json")
    assert result.exit_code == 2 and "row 5" in result.output
    assert not (workdir / "s.parquet").exists() and not (workdir / "r.json").exists()
