"""labelgate.train and labelgate.learning_curve: params, batching, curve maths, and one tiny real training run.

The real runs use 64 demo tweets, 1 epoch, max_length 32 and 64 test tweets with the offline MiniLM model (a few
seconds each). They check determinism (same seed twice: identical probabilities), seed variation (another seed:
different probabilities), the checkpoint reloading to the same probabilities, and the CLI commands.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from labelgate.cli import app
from labelgate.config import section
from labelgate.errors import BadInputError, ConfigError
from labelgate.learning_curve import (
    CurveParams,
    gain_last_doubling,
    nested_fractions,
    plateau_flag,
    summarise_curve,
)
from labelgate.train import (
    PROBS_FILE,
    RUN_FILE,
    TrainParams,
    check_training_frame,
    length_buckets,
    predict_proba,
    prefer_passive_omp_wait,
    probs_frame,
    resolve_labels,
    save_run,
    train_run,
)

prefer_passive_omp_wait()  # as the CLI does; effective when collection runs before torch loads (as it does here)

LABELS = ("negative", "neutral", "positive")
TINY = {"max_length": 32, "epochs": 1, "batch_size": 16, "eval_batch_size": 64, "learning_rate": 3e-4,
        "freeze_embeddings": True, "freeze_layers": 4, "num_threads": 2, "warmup_ratio": 0.0}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


class TestTrainParams:
    def test_defaults_are_valid(self):
        params = section({}, "train", TrainParams)
        assert params.model == "minilm" and params.seeds == (0, 1, 2)

    def test_values_from_params(self):
        params = section({"train": {"epochs": 3, "seeds": [4, 5], "freeze_layers": 0}}, "train", TrainParams)
        assert (params.epochs, params.seeds, params.freeze_layers) == (3, (4, 5), 0)

    @pytest.mark.parametrize("bad", [{"epochs": 0}, {"learning_rate": 2.0}, {"device": "tpu"}, {"seeds": []},
                                     {"seeds": [1, 1]}, {"warmup_ratio": 1.5}, {"precision": "fp8"}, {"typo": 1}])
    def test_out_of_range_is_a_config_error(self, bad):
        with pytest.raises(ConfigError):
            section({"train": bad}, "train", TrainParams)

    def test_precision(self):
        import torch

        from labelgate.train import _cpu_has_native_bf16, resolve_precision

        cpu = torch.device("cpu")
        assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
        assert resolve_precision("auto", cpu) == ("bf16" if _cpu_has_native_bf16() else "fp32")

    def test_curve_params(self):
        assert section({}, "learning_curve", CurveParams).fractions == (0.125, 0.25, 0.5, 1.0)
        for bad in ({"fractions": [0.5]}, {"fractions": [0.5, 0.25]}, {"fractions": [0.5, 1.5]},
                    {"plateau_min_gap": -0.1}):
            with pytest.raises(ConfigError):
                section({"learning_curve": bad}, "learning_curve", CurveParams)


class TestInputs:
    def test_missing_label_names_the_row(self):
        frame = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "label": ["positive", None]})
        with pytest.raises(BadInputError, match="row 2.*column 'label'"):
            check_training_frame(frame, path="s.parquet")

    def test_missing_column(self):
        with pytest.raises(BadInputError, match="column 'label'"):
            check_training_frame(pd.DataFrame({"id": ["a"], "text": ["x"]}), path="s.parquet")

    def test_duplicate_id(self):
        frame = pd.DataFrame({"id": ["a", "a"], "text": ["x", "y"], "label": ["p", "q"]})
        with pytest.raises(BadInputError, match="duplicate id"):
            check_training_frame(frame)

    def test_labels_from_tables_or_params(self):
        a = pd.DataFrame({"label": ["b", "a"]})
        b = pd.DataFrame({"label": ["c"]})
        assert resolve_labels((), (a, "label"), (b, "label")) == ("a", "b", "c")
        assert resolve_labels(("z", "y"), (a, "label")) == ("z", "y")


class TestLengthBuckets:
    def test_every_row_once_and_sorted_inside_pools(self):
        lengths = np.random.default_rng(0).integers(1, 60, size=103)
        batches = length_buckets(lengths, 8, rng=np.random.default_rng(1), pool=4)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(103))
        assert max(len(b) for b in batches) == 8
        pooled = length_buckets(lengths, 8, rng=np.random.default_rng(1), pool=1000)  # one pool: global sort
        spread = np.mean([np.ptp(lengths[b]) for b in pooled])
        shuffled = np.mean([np.ptp(lengths[b]) for b in np.array_split(np.random.default_rng(2).permutation(103), 13)])
        assert spread < shuffled / 3  # bucketing keeps similar lengths together

    def test_seeded_order_is_reproducible_and_seed_dependent(self):
        lengths = np.arange(50) % 7
        first = length_buckets(lengths, 4, rng=np.random.default_rng(3))
        again = length_buckets(lengths, 4, rng=np.random.default_rng(3))
        other = length_buckets(lengths, 4, rng=np.random.default_rng(4))
        assert all(np.array_equal(x, y) for x, y in zip(first, again))
        assert not all(np.array_equal(x, y) for x, y in zip(first, other))

    def test_inference_batches_sorted(self):
        batches = length_buckets([5, 1, 3, 2], 3, rng=None)
        assert [b.tolist() for b in batches] == [[1, 3, 2], [0]]


class TestCurveMaths:
    def test_nested_stratified_fractions(self):
        labels = ["a"] * 40 + ["b"] * 20 + ["c"] * 4
        parts = nested_fractions(labels, (0.125, 0.25, 0.5, 1.0), seed=0)
        counts = {f: pd.Series(np.asarray(labels)[i]).value_counts().to_dict() for f, i in parts.items()}
        assert counts[0.125] == {"a": 5, "b": 2, "c": 1}  # every class keeps a row (round(0.5) -> 0 -> 1)
        assert counts[0.5] == {"a": 20, "b": 10, "c": 2}
        assert np.array_equal(parts[1.0], np.arange(64))
        for small, large in ((0.125, 0.25), (0.25, 0.5), (0.5, 1.0)):
            assert set(parts[small]) <= set(parts[large])

    def test_gain_and_plateau(self):
        points = [{"fraction": f, "accuracy": a, "macro_f1": m}
                  for f, a, m in ((0.125, 0.50, 0.40), (0.25, 0.60, 0.50), (0.5, 0.650, 0.55), (1.0, 0.655, 0.60))]
        assert gain_last_doubling(points) == pytest.approx(0.005)
        assert gain_last_doubling(points, "macro_f1") == pytest.approx(0.05)
        assert gain_last_doubling(points[:1]) is None
        assert gain_last_doubling([points[0], points[-1]]) is None  # 1/8 -> 1 is three doublings, not one
        assert gain_last_doubling([points[1], points[-1]]) is None  # 1/4 -> 1 is two doublings, not one
        assert plateau_flag(0.005, 0.05, min_gain=0.01, min_gap=0.03) is True
        assert plateau_flag(0.005, 0.02, min_gain=0.01, min_gap=0.03) is False  # close to the reference
        assert plateau_flag(0.02, 0.05, min_gain=0.01, min_gap=0.03) is False  # still learning
        assert plateau_flag(0.005, None, min_gain=0.01, min_gap=0.03) is None
        curve = summarise_curve(points, CurveParams(), subset="raw", reference_accuracy=0.70, reference_name="gold")
        assert curve["gap_to_reference"] == pytest.approx(0.045) and curve["plateau"] is True
        own = summarise_curve(points, CurveParams(), subset="gold", reference_accuracy=None, reference_name="gold")
        assert own["gap_to_reference"] == 0.0 and own["plateau"] is False


# ------------------------------------------------------------------------------------------------ real training


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, request):
    """64 demo tweets (stratified), 64 test tweets, tiny params; three runs: seed 0, seed 0 again, seed 1."""
    from pathlib import Path

    from sklearn.model_selection import train_test_split

    repo = Path(request.config.rootpath)
    folder = tmp_path_factory.mktemp("tiny")
    pool = pd.read_csv(repo / "data/demo/pool_gold.csv")
    train, _ = train_test_split(pool, train_size=64, stratify=pool["label"], random_state=0)
    train = train.reset_index(drop=True)
    test = pd.read_csv(repo / "data/demo/test.csv").head(64)
    train.to_csv(folder / "tiny.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    (folder / "params.yaml").write_text(yaml.safe_dump({
        "train": TINY, "learning_curve": {"fractions": [0.5, 1.0], "seed": 0}, "evaluate": {"reference": "gold"},
    }))
    params = TrainParams(**TINY)
    runs = {key: train_run(train, test, LABELS, params, subset="tiny", seed=seed)
            for key, seed in (("a", 0), ("b", 0), ("c", 1))}
    return {"folder": folder, "train": train, "test": test, "params": params, "runs": runs}


class TestRealTraining:
    def test_same_seed_same_probabilities(self, tiny):
        a, b = tiny["runs"]["a"], tiny["runs"]["b"]
        assert np.array_equal(a.probabilities, b.probabilities)
        assert a.record.epoch_loss == b.record.epoch_loss

    def test_other_seed_other_probabilities(self, tiny):
        a, c = tiny["runs"]["a"], tiny["runs"]["c"]
        assert np.abs(a.probabilities - c.probabilities).max() > 1e-3

    def test_probabilities_and_record(self, tiny):
        run = tiny["runs"]["a"]
        assert run.probabilities.shape == (64, 3)
        assert np.allclose(run.probabilities.sum(axis=1), 1.0)
        r = run.record
        assert (r.n_train, r.n_test, r.epochs, r.seed, r.labels) == (64, 64, 1, 0, list(LABELS))
        assert len(r.epoch_loss) == 1 and math.isfinite(r.epoch_loss[0])
        assert r.train_samples_per_second > 0 and r.inference_samples_per_second > 0
        assert r.trainable_parameters < r.total_parameters / 2  # embeddings and 4 of 6 layers frozen

    def test_checkpoint_reloads_to_the_same_probabilities(self, tiny, tmp_path):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        run = tiny["runs"]["a"]
        save_run(run, tmp_path)
        for name in ("model.safetensors", "config.json", "tokenizer.json", PROBS_FILE, RUN_FILE):
            assert (tmp_path / name).exists(), name
        model = AutoModelForSequenceClassification.from_pretrained(tmp_path)
        assert model.config.id2label == dict(enumerate(LABELS))
        tokenizer = AutoTokenizer.from_pretrained(tmp_path)
        again = predict_proba(model, tokenizer, tiny["test"]["text"].tolist(), max_length=32,
                              precision=run.record.precision)
        assert np.allclose(again, run.probabilities, atol=1e-5)
        saved = pd.read_parquet(tmp_path / PROBS_FILE)
        assert list(saved.columns) == ["prob_negative", "prob_neutral", "prob_positive", "pred"]
        assert saved.equals(probs_frame(run.probabilities, LABELS))

    def test_cli_train_matches_the_in_process_run(self, tiny, tmp_path):
        folder = tiny["folder"]
        out = tmp_path / "models" / "tiny" / "seed_0"
        result = CliRunner().invoke(app, [
            "train", "--subset", "tiny", "--seed", "0", "--table", str(folder / "tiny.csv"),
            "--test", str(folder / "test.csv"), "--params", str(folder / "params.yaml"), "--out", str(out),
            "--no-progress",
        ])
        assert result.exit_code == 0, result.output
        saved = pd.read_parquet(out / PROBS_FILE)
        expected = tiny["runs"]["a"].probabilities
        assert np.allclose(saved[["prob_negative", "prob_neutral", "prob_positive"]].to_numpy(), expected, atol=1e-7)
        record = json.loads((out / RUN_FILE).read_text())
        assert record["subset"] == "tiny" and record["seed"] == 0 and record["n_train"] == 64
        assert not list(out.parent.glob(".*.tmp"))  # atomic: no temporary folder left behind

        curve_out = tmp_path / "curve.json"
        result = CliRunner().invoke(app, [
            "learning-curve", "--subset", "tiny", "--table", str(folder / "tiny.csv"), "--test",
            str(folder / "test.csv"), "--params", str(folder / "params.yaml"), "--full-run", str(out),
            "--out", str(curve_out), "--no-progress",
        ])
        assert result.exit_code == 0, result.output
        curve = json.loads(curve_out.read_text())
        assert [p["n"] for p in curve["points"]] == [32, 64]
        assert [p["reused_full_run"] for p in curve["points"]] == [False, True]
        full_accuracy = float((np.asarray(LABELS)[expected.argmax(1)] == tiny["test"]["label"]).mean())
        assert curve["points"][-1]["accuracy"] == pytest.approx(full_accuracy)
        assert curve["gain_last_doubling"] == pytest.approx(curve["points"][1]["accuracy"]
                                                            - curve["points"][0]["accuracy"])
        assert curve["plateau"] is None  # no reference curve given

    def test_freezing_more_layers_than_the_model_has_is_a_config_error(self, tiny):
        params = TrainParams(**{**TINY, "freeze_layers": 7})
        with pytest.raises(ConfigError, match="freeze_layers=7 but the model has 6 layers"):
            train_run(tiny["train"], tiny["test"], LABELS, params, subset="tiny", seed=0)

    def test_missing_subset_is_bad_input(self, tiny, tmp_path):
        result = CliRunner().invoke(app, ["train", "--subset", "nope", "--seed", "0", "--subsets-dir",
                                          str(tmp_path), "--params", str(tiny["folder"] / "params.yaml")])
        assert result.exit_code == 2
        assert "file not found" in result.output
