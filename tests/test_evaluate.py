"""labelgate.evaluate on synthetic run folders with hand-computed expected values (no model is trained)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from labelgate.audit_reference import AUDIT_FIGURES
from labelgate.cli import app
from labelgate.curves import CurveParams
from labelgate.errors import BadInputError
from labelgate.evaluate import evaluate_runs, load_runs, plot_tables, seed_alpha, unchanged_rate
from labelgate.train.data import texts_fingerprint
from labelgate.train.run import PROBS_FILE, RUN_FILE, probs_frame

LABELS = ("a", "b")
TRUTH = ["a", "a", "b", "b"]
TEXTS = ["t1", "t2", "t3", "t4"]


def onehot(preds, sure=0.9):
    """Probabilities that put `sure` on the predicted label."""
    return np.array([[sure, 1 - sure] if p == "a" else [1 - sure, sure] for p in preds])


# gold: two seeds, [a,a,b,b] (all right) and [a,b,b,b] (item 2 wrong)
GOLD = {0: onehot("aabb"), 1: onehot("abbb")}
# raw: one seed, [b,a,b,a] (items 1 and 4 wrong)
RAW = {7: onehot("baba")}


class TestStabilityFigures:
    def test_unchanged_rate(self):
        assert unchanged_rate(np.array([[0, 0, 1, 1], [0, 1, 1, 1]])) == 0.75
        assert unchanged_rate(np.array([[0, 1, 2]])) == 1.0

    def test_alpha_by_hand(self):
        # coincidences: o_aa=2, o_ab=o_ba=1, o_bb=4; n_a=3, n_b=5, n=8
        # D_o = 2/8; D_e = 2*3*5/(8*7) = 30/56; alpha = 1 - (2/8)/(30/56) = 16/30
        assert seed_alpha(np.array([[0, 0, 1, 1], [0, 1, 1, 1]]), 2) == pytest.approx(16 / 30)
        assert seed_alpha(np.array([[0, 1, 1, 0], [0, 1, 1, 0]]), 2) == pytest.approx(1.0)

    def test_alpha_undefined(self):
        assert seed_alpha(np.array([[0, 1, 1]]), 2) is None  # one seed
        assert seed_alpha(np.array([[1, 1, 1], [1, 1, 1]]), 3) is None  # one class everywhere


def test_single_seed_figures_are_null_not_zero():
    """With one seed the spread and the seed agreement do not exist: null (not measured), never 0.0."""
    raw = evaluate_runs({"raw": RAW}, TRUTH, LABELS)["subsets"]["raw"]
    assert raw["n_seeds"] == 1
    assert raw["accuracy_std"] is None and raw["macro_f1_std"] is None and raw["krippendorff_alpha"] is None
    assert raw["accuracy_mean"] == 0.5 and raw["unchanged_prediction_rate"] == 1.0


def test_stability_figures_list_matches_the_metrics():
    from labelgate.evaluate import STABILITY_FIGURES

    raw = evaluate_runs({"gold": GOLD, "raw": RAW}, TRUTH, LABELS, reference="gold")["subsets"]["raw"]
    assert set(STABILITY_FIGURES) == {k for k, v in raw.items() if not isinstance(v, (dict, list))}


class TestEvaluateRuns:
    @pytest.fixture()
    def metrics(self):
        return evaluate_runs({"gold": GOLD, "raw": RAW}, TRUTH, LABELS, reference="gold")

    def test_shape(self, metrics):
        assert metrics["reference"] == "gold" and metrics["labels"] == ["a", "b"]
        assert set(metrics["subsets"]) == {"gold", "raw"}
        keys = {"n_seeds", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std", "per_class_f1_mean",
                "krippendorff_alpha", "unchanged_prediction_rate", "ensemble_accuracy", "ensemble_macro_f1",
                "accuracy_gap_to_reference", "macro_f1_gap_to_reference", "plateau",
                "learning_curve_gain_last_doubling", "learning_curve_decline", "seeds", *AUDIT_FIGURES}
        assert set(metrics["subsets"]["gold"]) == keys
        json.dumps(metrics)  # plain JSON types only

    def test_per_seed_and_aggregates(self, metrics):
        gold = metrics["subsets"]["gold"]
        assert gold["n_seeds"] == 2
        assert gold["seeds"]["0"] == {"accuracy": 1.0, "macro_f1": 1.0, "per_class_f1": {"a": 1.0, "b": 1.0}}
        # seed 1: a: P=1, R=1/2 -> F1=2/3; b: P=2/3, R=1 -> F1=4/5
        assert gold["seeds"]["1"]["per_class_f1"] == pytest.approx({"a": 2 / 3, "b": 0.8})
        assert gold["accuracy_mean"] == pytest.approx(0.875)
        assert gold["accuracy_std"] == pytest.approx(0.25 / np.sqrt(2))  # sample std of (1, 0.75)
        assert gold["macro_f1_mean"] == pytest.approx((1 + (2 / 3 + 0.8) / 2) / 2)
        assert gold["per_class_f1_mean"] == pytest.approx({"a": (1 + 2 / 3) / 2, "b": 0.9})
        assert gold["krippendorff_alpha"] == pytest.approx(16 / 30)
        assert gold["unchanged_prediction_rate"] == 0.75

    def test_ensemble_averages_probabilities(self, metrics):
        # item 2: seed 0 says a (0.9), seed 1 says b (0.9): a tie at 0.5 -> arg-max takes the first label, a
        assert metrics["subsets"]["gold"]["ensemble_accuracy"] == 1.0
        probs = {0: onehot("abbb", 0.6), 1: onehot("aaab", 0.9)}  # items 2 and 3: a 0.65 vs b 0.35
        result = evaluate_runs({"s": probs}, TRUTH, LABELS)
        assert result["subsets"]["s"]["ensemble_accuracy"] == 0.75  # [a,a,a,b]

    def test_one_seed_and_gaps(self, metrics):
        raw = metrics["subsets"]["raw"]
        assert raw["n_seeds"] == 1 and raw["accuracy_std"] is None and raw["krippendorff_alpha"] is None
        assert raw["unchanged_prediction_rate"] == 1.0
        assert raw["accuracy_mean"] == 0.5 and raw["macro_f1_mean"] == 0.5
        assert raw["accuracy_gap_to_reference"] == pytest.approx(0.375)
        assert raw["macro_f1_gap_to_reference"] == pytest.approx(metrics["subsets"]["gold"]["macro_f1_mean"] - 0.5)
        assert metrics["subsets"]["gold"]["accuracy_gap_to_reference"] == 0.0

    def test_no_reference(self):
        result = evaluate_runs({"raw": RAW}, TRUTH, LABELS, reference="gold")
        assert result["reference"] is None
        assert result["subsets"]["raw"]["accuracy_gap_to_reference"] is None

    def test_plateau_from_curves(self):
        def curve(subset, accs):
            points = [{"fraction": f, "n": int(f * 100), "accuracy": a, "macro_f1": a}
                      for f, a in zip((0.25, 0.5, 1.0), accs)]
            return {"subset": subset, "points": points, "final_accuracy": accs[-1],
                    "gain_last_doubling": accs[-1] - accs[-2]}

        curves = {"gold": curve("gold", (0.6, 0.7, 0.8)), "raw": curve("raw", (0.6, 0.65, 0.655))}
        params = CurveParams(plateau_min_gain=0.01, plateau_min_gap=0.03)
        result = evaluate_runs({"gold": GOLD, "raw": RAW}, TRUTH, LABELS, reference="gold", curves=curves,
                               curve_params=params)
        assert result["subsets"]["raw"]["plateau"] is True  # gain 0.005 < 0.01, gap 0.145 > 0.03
        assert result["subsets"]["raw"]["learning_curve_gain_last_doubling"] == pytest.approx(0.005)
        assert result["subsets"]["gold"]["plateau"] is False  # the reference itself never plateaus prematurely
        curves["raw"] = curve("raw", (0.6, 0.7, 0.79))
        result = evaluate_runs({"gold": GOLD, "raw": RAW}, TRUTH, LABELS, reference="gold", curves=curves,
                               curve_params=params)
        assert result["subsets"]["raw"]["plateau"] is False  # still gaining
        without = evaluate_runs({"raw": RAW}, TRUTH, LABELS, reference="gold", curves={"raw": curves["raw"]})
        assert without["subsets"]["raw"]["plateau"] is None  # gap unknown

    def test_bad_shapes_and_labels(self):
        with pytest.raises(ValueError, match="shape"):
            evaluate_runs({"s": {0: np.ones((3, 2)) / 2}}, TRUTH, LABELS)
        with pytest.raises(ValueError, match="not in the runs' label set"):
            evaluate_runs({"s": GOLD}, ["a", "a", "b", "c"], LABELS)

    def test_plot_tables(self, metrics):
        tables = plot_tables(metrics, {"gold": GOLD, "raw": RAW}, TRUTH)
        assert tables["scores.csv"].to_dict("records") == [
            {"subset": "gold", "seed": 0, "accuracy": 1.0, "macro_f1": 1.0},
            {"subset": "gold", "seed": 1, "accuracy": 0.75, "macro_f1": pytest.approx((2 / 3 + 0.8) / 2)},
            {"subset": "raw", "seed": 7, "accuracy": 0.5, "macro_f1": 0.5},
        ]
        assert tables["confusion_raw.csv"].to_dict("list") == {"actual": TRUTH, "predicted": list("baba")}
        assert tables["learning_curve.csv"].empty


# ------------------------------------------------------------------------------------------------ run folders + CLI


def write_run(folder, subset, seed, probs, *, labels=LABELS, texts=TEXTS):
    run = folder / subset / f"seed_{seed}"
    run.mkdir(parents=True)
    probs_frame(probs, labels).to_parquet(run / PROBS_FILE, index=False)
    (run / RUN_FILE).write_text(json.dumps({"subset": subset, "seed": seed, "labels": list(labels),
                                            "test_sha256": texts_fingerprint(texts)}))


@pytest.fixture()
def runs_dir(tmp_path):
    models = tmp_path / "models"
    for subset, seeds in (("gold", GOLD), ("raw", RAW)):
        for seed, probs in seeds.items():
            write_run(models, subset, seed, probs)
    (models / "gold" / "notes").mkdir()  # ignored: not a seed_<k> folder
    pd.DataFrame({"text": TEXTS, "label": TRUTH}).to_csv(tmp_path / "test.csv", index=False)
    return tmp_path


class TestRunFolders:
    def test_load_runs(self, runs_dir):
        test = pd.read_csv(runs_dir / "test.csv")
        runs = load_runs(runs_dir / "models", test)
        assert runs.labels == LABELS
        assert {s: sorted(v) for s, v in runs.probabilities.items()} == {"gold": [0, 1], "raw": [7]}
        assert np.allclose(runs.probabilities["gold"][1], GOLD[1])

    def test_other_test_set_is_refused(self, runs_dir):
        test = pd.DataFrame({"text": ["x1", "x2", "x3", "x4"], "label": TRUTH})
        with pytest.raises(BadInputError, match="different test set"):
            load_runs(runs_dir / "models", test)

    def test_mixed_label_sets_are_refused(self, runs_dir):
        write_run(runs_dir / "models", "other", 0, onehot("aabb"), labels=("b", "a"))
        with pytest.raises(BadInputError, match="label set"):
            load_runs(runs_dir / "models", pd.read_csv(runs_dir / "test.csv"))

    def test_no_runs(self, tmp_path):
        (tmp_path / "models").mkdir()
        with pytest.raises(BadInputError, match="no run folders"):
            load_runs(tmp_path / "models", pd.DataFrame({"text": TEXTS, "label": TRUTH}))

    @pytest.mark.slow
    def test_cli_evaluate(self, runs_dir):
        d = runs_dir
        (d / "params.yaml").write_text("evaluate:\n  reference: gold\n")
        result = CliRunner().invoke(app, [
            "evaluate", "--params", str(d / "params.yaml"), "--models", str(d / "models"), "--test",
            str(d / "test.csv"), "--curves", str(d / "no_curves"), "--out", str(d / "metrics/evaluate.json"),
            "--plots", str(d / "plots/evaluate"),
        ])
        assert result.exit_code == 0, result.output
        metrics = json.loads((d / "metrics/evaluate.json").read_text())
        assert metrics["reference"] == "gold"
        assert metrics["subsets"]["raw"]["accuracy_gap_to_reference"] == pytest.approx(0.375)
        assert metrics["subsets"]["gold"]["krippendorff_alpha"] == pytest.approx(16 / 30)
        written = sorted(p.name for p in (d / "plots/evaluate").iterdir())
        assert written == ["confusion.png", "confusion_gold.csv", "confusion_raw.csv", "learning_curve.csv",
                           "scores.csv", "scores.png"]
        assert "gold: accuracy 0.8750" in result.output

    def test_cli_evaluate_missing_models(self, tmp_path):
        pd.DataFrame({"text": TEXTS, "label": TRUTH}).to_csv(tmp_path / "test.csv", index=False)
        (tmp_path / "p.yaml").write_text("{}\n")
        result = CliRunner().invoke(app, ["evaluate", "--models", str(tmp_path / "models"), "--test",
                                          str(tmp_path / "test.csv"), "--params", str(tmp_path / "p.yaml")])
        assert result.exit_code == 2 and "models folder not found" in result.output


def test_stale_outputs_are_those_of_subsets_and_seeds_no_longer_configured(tmp_path):
    import json

    from labelgate.evaluate import remove_stale, stale_outputs

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
