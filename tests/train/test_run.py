"""labelgate.train.run: TrainParams, the run record, the saved run folder and the `train` command.

The runs come from the session fixture `tiny` (64 demo tweets, 1 epoch, max_length 32, 64 test tweets).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from labelgate.cli import app
from labelgate.config import section
from labelgate.errors import ConfigError
from labelgate.train.loop import predict_proba
from labelgate.train.run import PROBS_FILE, RUN_FILE, TrainParams, probs_frame, save_run


class TestTrainParams:
    def test_defaults_are_valid(self):
        params = section({}, "train", TrainParams)
        assert params.model == "minilm" and params.seeds == (0, 1, 2)

    def test_values_from_params(self):
        params = section({"train": {"epochs": 3, "seeds": [4, 5], "freeze_layers": 0}}, "train", TrainParams)
        assert (params.epochs, params.seeds, params.freeze_layers) == (3, (4, 5), 0)

    @pytest.mark.parametrize("bad", [{"epochs": 0}, {"learning_rate": 2.0}, {"device": "tpu"}, {"seeds": []},
                                     {"seeds": [1, 1]}, {"warmup_ratio": 1.5}, {"precision": "fp8"}, {"typo": 1},
                                     {"seeds": [-1]}])
    def test_out_of_range_is_a_config_error(self, bad):
        with pytest.raises(ConfigError):
            section({"train": bad}, "train", TrainParams)


@pytest.mark.slow  # trains (the `tiny` runs)
class TestRun:
    def test_probabilities_and_record(self, tiny):
        run = tiny["runs"]["a"]
        assert run.probabilities.shape == (64, 3)
        assert np.allclose(run.probabilities.sum(axis=1), 1.0)
        r = run.record
        assert (r.n_train, r.n_test, r.epochs, r.seed, r.labels) == (64, 64, 1, 0, list(tiny["labels"]))
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
        assert model.config.id2label == dict(enumerate(tiny["labels"]))
        tokenizer = AutoTokenizer.from_pretrained(tmp_path)
        again = predict_proba(model, tokenizer, tiny["test"]["text"].tolist(), max_length=32,
                              precision=run.record.precision)
        assert np.allclose(again, run.probabilities, atol=1e-5)
        saved = pd.read_parquet(tmp_path / PROBS_FILE)
        assert list(saved.columns) == ["prob_negative", "prob_neutral", "prob_positive", "pred"]
        assert saved.equals(probs_frame(run.probabilities, tiny["labels"]))


@pytest.mark.slow  # trains (the `tiny` runs)
class TestTrainCommand:
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

    def test_missing_subset_is_bad_input(self, tiny, tmp_path):
        result = CliRunner().invoke(app, ["train", "--subset", "nope", "--seed", "0", "--subsets-dir",
                                          str(tmp_path), "--params", str(tiny["folder"] / "params.yaml"),
                                          "--test", str(tiny["folder"] / "test.csv")])
        assert result.exit_code == 2
        assert "file not found" in result.output
