"""annotate/stage.py: label probabilities, the stage with a fake model, and `labelgate annotate`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from annotate_helpers import KEY, LABELS, FixedBackend

from labelgate.annotate import AnnotateParams, annotate_frame, annotate_texts, label_probabilities
from labelgate.contract import resolve_labels
from labelgate.errors import BadInputError, ConfigError


class TestLabelChecks:
    def test_label_checks(self):
        with pytest.raises(ConfigError, match="no label set"):
            resolve_labels((), required=True)
        assert resolve_labels(LABELS, option="a, b") == ("a", "b")
        params = AnnotateParams(few_shot=[{"text": "x", "label": "angry"}])
        with pytest.raises(ConfigError, match="angry"):
            annotate_texts(["t"], LABELS, params, backend=FixedBackend())
        with pytest.raises(ConfigError, match="differ"):
            annotate_texts(["t"], LABELS, AnnotateParams(label_words={"neutral": "Negative"}), backend=FixedBackend())


class TestProbabilities:
    def test_softmax_over_label_words(self):
        probs = label_probabilities([{"logprobs": {"a": math.log(0.2), "b": math.log(0.6)}, "floor": None}],
                                    ["a", "b"])
        np.testing.assert_allclose(probs, [[0.25, 0.75]])

    def test_missing_word_gets_floor(self):
        probs = label_probabilities([{"logprobs": {"a": math.log(0.5)}, "floor": math.log(0.1)}], ["a", "b", "c"])
        np.testing.assert_allclose(probs, [[5 / 7, 1 / 7, 1 / 7]])
        assert probs.sum() == pytest.approx(1.0)


class TestAnnotateFrame:
    def frame(self):
        return pd.DataFrame({"text": ["I love flying", "I hate delays", "Flight at noon", "I love flying"],
                             "gold_label": ["positive", np.nan, "neutral", np.nan], "source": list("abcd")})

    def test_contract_columns_and_pass_through(self, tmp_path):
        params = AnnotateParams(cache_dir=str(tmp_path), variants={"short": "{text}\nLabel:"})
        backend = FixedBackend()
        out, report = annotate_frame(self.frame(), LABELS, params, backend=backend)
        assert list(out.columns) == ["id", "text", "llm_label", "llm_prob_negative", "llm_prob_neutral",
                                     "llm_prob_positive", "annotator_short", "gold_label", "source"]
        assert out["llm_label"].tolist() == ["positive", "negative", "neutral", "positive"]
        assert out["annotator_short"].tolist() == out["llm_label"].tolist()
        probs = out[[f"llm_prob_{label}" for label in LABELS]].to_numpy()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0)
        high = math.exp(-0.5) / (math.exp(-0.5) + 2 * math.exp(-2.5))
        assert out.loc[0, "llm_prob_positive"] == pytest.approx(high)
        assert out["id"].iloc[0] == out["id"].iloc[3] and len(out["id"].iloc[0]) == 16
        assert out["source"].tolist() == list("abcd") and pd.isna(out["gold_label"].iloc[1])
        # the duplicate text is scored once per prompt: 3 unique texts x 2 prompts
        assert len(backend.scored) == 6 and report.scored == 6 and report.cache_hits == 0

        again = FixedBackend()
        out2, report2 = annotate_frame(self.frame(), LABELS, params, backend=again)
        assert again.scored == [] and report2.cache_hits == 8
        pd.testing.assert_frame_equal(out, out2)

    def test_ids_pass_through(self):
        frame = self.frame().assign(id=["x1", "x2", np.nan, "x4"])
        out, _ = annotate_frame(frame, LABELS, AnnotateParams(cache_dir=""), backend=FixedBackend())
        assert out["id"].tolist()[:2] == ["x1", "x2"] and out["id"].tolist()[3] == "x4"
        assert len(out["id"].iloc[2]) == 16

    @pytest.mark.parametrize("texts, rows", [(["ok", " ", "fine"], "row 2"), (["ok", np.nan, np.nan], "rows 2, 3")])
    def test_empty_text_names_file_row_column(self, texts, rows):
        with pytest.raises(BadInputError) as info:
            annotate_frame(pd.DataFrame({"text": texts}), LABELS, AnnotateParams(cache_dir=""),
                           source="in.csv", backend=FixedBackend())
        assert str(info.value).startswith(f"in.csv: {rows}: column 'text'")

    def test_missing_text_column(self):
        with pytest.raises(BadInputError, match="column 'text'"):
            annotate_frame(pd.DataFrame({"body": ["x"]}), LABELS, AnnotateParams(cache_dir=""),
                           source="in.csv", backend=FixedBackend())


class TestCli:
    def write_params(self, path, server, cache):
        path.write_text(json.dumps({  # JSON is valid YAML
            "base": {"labels": list(LABELS)},
            "annotate": {"backend": "openai", "model": "fake-model", "base_url": server.base_url,
                         "api_key_env": "LABELGATE_TEST_KEY", "cache_dir": str(cache), "backoff_s": 0.0,
                         "variants": {"plain": "{text}\nLabel:"}},
        }))

    def test_annotate_writes_the_label_table(self, cli, server, tmp_path, monkeypatch):
        monkeypatch.setenv("LABELGATE_TEST_KEY", KEY)
        self.write_params(tmp_path / "params.yaml", server, tmp_path / "cache")
        (tmp_path / "texts.csv").write_text("id,text,gold_label\na,I love it,positive\nb,I hate it,\n")
        result = cli("annotate", tmp_path / "texts.csv", "--out", tmp_path / "labels.parquet",
                     "--params", tmp_path / "params.yaml")
        assert result.exit_code == 0, result.output
        assert KEY not in result.output
        table = pd.read_parquet(tmp_path / "labels.parquet")
        assert table["id"].tolist() == ["a", "b"] and table["llm_label"].tolist() == ["positive", "negative"]
        assert table["annotator_plain"].tolist() == ["positive", "negative"]
        assert table["gold_label"].tolist()[0] == "positive"

    def test_empty_text_exits_2(self, cli, server, tmp_path):
        self.write_params(tmp_path / "params.yaml", server, tmp_path / "cache")
        (tmp_path / "texts.csv").write_text("id,text\na,I love it\nb,\n")
        result = cli("annotate", tmp_path / "texts.csv", "--out", tmp_path / "labels.csv",
                     "--params", tmp_path / "params.yaml")
        assert result.exit_code == 2
        assert "texts.csv: row 2: column 'text': empty text" in result.output
        assert not (tmp_path / "labels.csv").exists() and server.count() == 0

    def test_bad_params_exit_2(self, cli, tmp_path):
        (tmp_path / "params.yaml").write_text("annotate:\n  batch_size: 0\n")
        (tmp_path / "texts.csv").write_text("text\nhello\n")
        result = cli("annotate", tmp_path / "texts.csv", "--out", tmp_path / "labels.csv",
                     "--params", tmp_path / "params.yaml", "--labels", "a,b")
        assert result.exit_code == 2 and "batch_size" in result.output
