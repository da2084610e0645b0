"""The report tests' run: score -> filter -> gate --report-dir on a noisy synthetic label set (once per package)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from report_case import CURVES, LABELS, STRATEGIES, curve, evaluation, invoke
from synthetic import flip_systematic, label_table, make_texts


@pytest.fixture(scope="package")
def run(tmp_path_factory) -> Path:
    """score -> filter -> gate --report-dir on a noisy synthetic label set, plus a hand-written evaluation."""
    root = tmp_path_factory.mktemp("pipeline")
    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "expectations", root / "expectations")
    (root / "params.yaml").write_text(
        "base:\n  labels: " + json.dumps(LABELS) + "\nfilter:\n  strategies: [raw, entropy, cleanlab]\n"
        "  min_class_count: 5\n", encoding="utf-8")
    texts, truth = make_texts(480, 3, seed=7)
    given = flip_systematic(truth, {(1, 0): 0.5, (2, 1): 0.4})
    frame = label_table(texts, given, LABELS, truth=truth, audit_share=0.25)
    probs = np.random.default_rng(0).dirichlet(np.full(3, 0.6), size=len(frame))
    probs[np.arange(len(frame)), given] += 1.5
    probs /= probs.sum(axis=1, keepdims=True)
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, k]
    frame.to_csv(root / "labels.csv", index=False)
    pd.DataFrame({"text": ["x"] * 90, "label": LABELS * 30}).to_csv(root / "test.csv", index=False)
    common = ["--params", root / "params.yaml"]
    result = invoke("score", root / "labels.csv", "--test", root / "test.csv", "--out", root / "scores.parquet",
                    "--summary", root / "label_risk.json", *common, "--expectations", root / "expectations")
    assert result.exit_code == 0, result.output
    for strategy in STRATEGIES:
        result = invoke("filter", root / "scores.parquet", "--strategy", strategy,
                        "--out", root / "subsets" / f"{strategy}.parquet", *common)
        assert result.exit_code == 0, result.output
    (root / "evaluate.json").write_text(json.dumps(evaluation()))
    (root / "curves").mkdir()
    for name, accs in CURVES.items():
        (root / "curves" / f"{name}.json").write_text(json.dumps(curve(name, accs)))
    result = invoke("gate", "--scores", root / "scores.parquet", "--label-risk", root / "label_risk.json",
                    "--evaluation", root / "evaluate.json", "--out", root / "gate.json", *common,
                    "--expectations", root / "expectations", "--report-dir", root / "reports",
                    "--subsets", root / "subsets", "--curves", root / "curves")
    assert result.exit_code == 1, result.output  # systematic noise and unstable seeds: blocked
    return root


@pytest.fixture(scope="package")
def verdict(run) -> dict:
    return json.loads((run / "gate.json").read_text())


@pytest.fixture(scope="package")
def page(run) -> str:
    return (run / "reports" / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="package")
def summary(run) -> str:
    return (run / "reports" / "summary.md").read_text(encoding="utf-8")
