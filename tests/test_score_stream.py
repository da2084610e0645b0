"""The chunked score path (score_stream): same checks and figures as the in-memory path, bounded memory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from synthetic import flip_systematic, make_texts

from labelgate.errors import BadInputError
from labelgate.score import ScoreParams, score_labels
from labelgate.score_stream import score_parquet_streaming, should_stream
from labelgate.signals.text_model import TextModelParams
from labelgate.validate import validate_label_table

LABELS = ("class_0", "class_1", "class_2")


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    texts, truth = make_texts(n, 3, seed=seed, signal_words=3)
    given = flip_systematic(truth, {(0, 1): 0.2, (1, 2): 0.1}, seed=seed + 1)
    rng = np.random.default_rng(seed)
    names = np.asarray(LABELS, dtype=object)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), given] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": texts, "llm_label": names[given]})
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, k]
    frame["annotator_v2"] = names[np.where(rng.random(n) < 0.2, rng.integers(0, 3, n), given)]
    gold = np.where(rng.random(n) < 0.1, names[truth], None)
    gold[: 1500] = None  # the first chunks have no audit rows: a column that is all-null in chunk 1 must still type
    frame["gold_label"] = gold
    frame["source"] = "synthetic"
    return frame


PARAMS = ScoreParams(stream_rows=1000, chunk_rows=1000, text=TextModelParams(max_train_rows=1200))


@pytest.fixture()
def table_path(workdir):
    path = workdir / "labels.parquet"
    _table(4500).to_parquet(path)
    return path


class TestStreamingScore:
    @pytest.mark.slow  # scores a streaming-size table twice, every signal (about half a minute)
    def test_same_columns_and_figures_as_in_memory(self, workdir, table_path):
        assert should_stream(table_path, PARAMS)
        summary = score_parquet_streaming(table_path, workdir / "scores.parquet", workdir / "risk.json",
                                          labels=LABELS, params=PARAMS, expectations_dir=workdir / "expectations")
        streamed = pd.read_parquet(workdir / "scores.parquet")
        assert json.loads((workdir / "risk.json").read_text())["metrics"] == summary["metrics"]
        assert summary["streamed"] == {"chunks": 5, "chunk_rows": 1000}

        table = validate_label_table(table_path, labels=LABELS, expectations_dir=workdir / "expectations")
        rows, reference = score_labels(table, PARAMS)
        assert list(streamed.columns) == list(rows.columns)
        assert len(streamed) == 4500
        for column in ("id", "text", "llm_label", "gold_label", "source", "annotator_v2"):
            assert streamed[column].tolist() == rows[column].tolist()
        # exact (up to float32 storage of the probabilities) for the signals that do not use the text model
        for name in ("median_normalised_entropy", "high_entropy_rate", "audit_accuracy", "audit_accuracy_lower",
                     "class_balance_tvd"):
            assert summary["metrics"][name] == pytest.approx(reference["metrics"][name], abs=1e-5), name
        np.testing.assert_allclose(streamed["entropy_normalised"], rows["entropy_normalised"], atol=1e-5)
        assert summary["llm_label_counts"] == reference["llm_label_counts"]
        # the text model differs only in its folds (random vs stratified) and sample: close, not equal
        for name in ("estimated_noise_rate", "label_issue_rate", "annotator_alpha"):
            assert summary["metrics"][name] == pytest.approx(reference["metrics"][name], abs=0.03), name
        assert summary["signals"]["audit"]["n_audited"] == reference["signals"]["audit"]["n_audited"]

    @pytest.mark.slow
    def test_signals_read_the_texts_from_a_spool_that_is_removed_afterwards(self, workdir, table_path, monkeypatch):
        import labelgate.score_stream as stream

        seen = {}
        inner = stream.run_signals

        def spy(context, *args, **kwargs):
            texts = context.table.frame["text"]
            seen.update(dtype=str(texts.dtype), texts=texts.iloc[[0, 4499]].tolist())
            return inner(context, *args, **kwargs)

        monkeypatch.setattr(stream, "run_signals", spy)
        summary = score_parquet_streaming(table_path, workdir / "scores.parquet", workdir / "risk.json",
                                          labels=LABELS, params=PARAMS, expectations_dir=workdir / "expectations")
        source = pd.read_parquet(table_path)["text"]
        assert "pyarrow" in seen["dtype"] and seen["texts"] == [source.iloc[0], source.iloc[4499]]
        assert [p.name for p in workdir.iterdir() if p.name.startswith(".")] == []  # spool files removed
        scores = pd.read_parquet(workdir / "scores.parquet")
        audited = scores["gold_label"].notna()
        assert scores["label_error_risk"].between(0, 1).all() and summary["metrics"]["n_audited"] == audited.sum()

    @pytest.mark.slow
    def test_errors_name_rows_of_the_whole_file(self, workdir):
        frame = _table(3000)
        frame.loc[2500, "llm_label"] = "nonsense"
        path = workdir / "bad.parquet"
        frame.to_parquet(path)
        with pytest.raises(BadInputError, match=r"row 2501: column 'llm_label'"):
            score_parquet_streaming(path, workdir / "scores.parquet", workdir / "risk.json", labels=LABELS,
                                    params=PARAMS, expectations_dir=workdir / "expectations")
        assert not (workdir / "scores.parquet").exists() and not (workdir / "risk.json").exists()
        assert [p.name for p in workdir.iterdir() if p.name.startswith(".")] == []  # no temp files left

    @pytest.mark.slow
    def test_duplicate_ids_across_chunks(self, workdir):
        frame = _table(3000)
        frame.loc[2999, "id"] = "r10"  # chunk 3 repeats an id of chunk 1
        path = workdir / "dupes.parquet"
        frame.to_parquet(path)
        with pytest.raises(BadInputError, match=r"rows 11, 3000: column 'id': duplicate id"):
            score_parquet_streaming(path, workdir / "scores.parquet", workdir / "risk.json", labels=LABELS,
                                    params=PARAMS, expectations_dir=workdir / "expectations")
        assert not (workdir / "scores.parquet").exists()

    def test_small_tables_and_other_formats_stay_in_memory(self, workdir, table_path):
        assert not should_stream(table_path, ScoreParams(stream_rows=5000))
        _table(3000).to_csv(workdir / "labels.csv", index=False)
        assert not should_stream(workdir / "labels.csv", PARAMS)

    @pytest.mark.slow
    def test_cli_streams_above_the_threshold(self, workdir, table_path, cli):
        params = yaml.safe_load((workdir / "params.yaml").read_text())
        params["base"]["labels"] = list(LABELS)
        params["score"].update(stream_rows=1000, chunk_rows=1000, max_train_rows=1200)
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
        result = cli("score", table_path, "--out", "s.parquet", "--summary", "risk.json")
        assert result.exit_code == 0, result.output
        assert json.loads((workdir / "risk.json").read_text())["streamed"]["chunks"] == 5
        assert len(pd.read_parquet(workdir / "s.parquet")) == 4500


def test_row_reader_returns_the_rows_asked_for_across_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labelgate.score_stream import row_reader

    frame = pd.DataFrame({"x": np.arange(1000), "label": [f"l{i % 7}" if i % 5 else None for i in range(1000)]})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "f.parquet", row_group_size=300)
    read = row_reader(tmp_path / "f.parquet", 250)
    parts = [read(n) for n in (100, 400, 1, 499)]
    assert [len(p) for p in parts] == [100, 400, 1, 499]
    joined = pd.concat(parts, ignore_index=True)
    assert joined["x"].tolist() == list(range(1000))
    assert joined["label"].where(joined["label"].notna(), None).tolist() == frame["label"].tolist()


@pytest.mark.parametrize("with_probs", [False, True])
def test_the_streamed_label_set_follows_the_one_rule(tmp_path, with_probs):
    from labelgate.contract import read_table, resolve_labels
    from labelgate.score_stream import infer_labels

    frame = pd.DataFrame({"text": ["t1", "t2", "t3", "t4"], "llm_label": ["b ", "a", None, "a"],
                          "gold_label": [None, "c", "a", " "], "annotator_x": ["d", None, "a", "b"]})
    if with_probs:
        frame["llm_prob_z"], frame["llm_prob_y"] = 0.5, 0.5
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    expected = ("z", "y") if with_probs else ("a", "b", "c", "d")
    assert resolve_labels((), read_table(tmp_path / "t.parquet")) == expected
    assert infer_labels(tmp_path / "t.parquet", chunk_rows=2) == expected  # chunk by chunk, the same set
