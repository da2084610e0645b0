"""The score stage: the registry of signals, which of them run and in what order, how the flat params.yaml section
`score` reaches each signal's own params, that a failing signal stops the stage (fail closed), the outputs written
all or nothing, and a malformed table refused (exit 2) even though `validate` normally checked it first."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from labelgate.config import section
from labelgate.contract import LabelTable
from labelgate.errors import BadInputError, ConfigError, StageError
from labelgate.packaged import default_params
from labelgate.score import main, score_labels
from labelgate.signals import SIGNALS
from labelgate.signals.audit import AuditParams
from labelgate.signals.entropy import EntropyParams
from labelgate.signals.runner import DEFAULT_SIGNALS, ScoreParams, section_owners
from labelgate.signals.text_model import TextModelParams
from signals.support import LABELS, table, with_probs
from synthetic import confident_table, label_table, make_texts


class TestScoreStage:
    @pytest.mark.slow
    def test_score_runs_enabled_signals_in_order(self):
        texts, truth = make_texts(300, 3, seed=1)
        frame = label_table(texts, truth, list(LABELS))
        rows, summary = score_labels(table(frame), ScoreParams(signals=("cleanlab", "audit")))
        assert list(summary["signals"]) == ["cleanlab", "audit"]
        assert summary["signals"]["audit"]["available"] is False
        assert summary["metrics"]["audit_accuracy"] is None
        assert len(rows) == 300 and "cleanlab_is_label_issue" in rows.columns

    def test_every_registered_signal_runs_by_default(self):
        assert set(DEFAULT_SIGNALS) == set(SIGNALS) and ScoreParams().signals == DEFAULT_SIGNALS

    def test_an_unknown_signal_is_a_config_error(self):
        with pytest.raises(ConfigError, match=r"params.yaml: section 'score': unknown signal\(s\) \['label_issues'\]"):
            section({"score": {"signals": ["entropy", "label_issues"]}}, "score", ScoreParams)

    def test_a_failing_signal_stops_the_stage(self, monkeypatch):
        def boom(self, context):
            raise ValueError("inner failure\nsecond line")

        monkeypatch.setattr(SIGNALS["entropy"], "score", boom)
        frame = with_probs(["a", "b"], [[1, 0, 0], [0, 1, 0]])
        with pytest.raises(StageError, match=r"memory: signal 'entropy' failed on this table \(ValueError: inner "
                                             r"failure\); disable it in score.signals or fix the table"):
            score_labels(table(frame), ScoreParams(signals=("class_balance", "entropy")))

    def test_a_disabled_signal_does_not_run(self, monkeypatch):
        def boom(self, context):
            raise AssertionError("must not run")

        monkeypatch.setattr(SIGNALS["entropy"], "score", boom)
        frame = with_probs(["a", "b"], [[1, 0, 0], [0, 1, 0]])
        _, summary = score_labels(table(frame), ScoreParams(signals=("class_balance",)))
        assert list(summary["signals"]) == ["class_balance"]


class TestScoreParams:
    def test_each_key_goes_to_its_owner(self):
        params = section({"score": {"signals": ["entropy"], "seed": 3, "stream_rows": 5000, "cv_folds": 3,
                                    "entropy_threshold": 0.5, "audit_confidence": 0.9}}, "score", ScoreParams)
        assert (params.signals, params.seed, params.stream_rows) == (("entropy",), 3, 5000)
        assert params.text == TextModelParams(cv_folds=3)
        assert params.signal("entropy").params == EntropyParams(entropy_threshold=0.5)
        assert params.signal("audit").params == AuditParams(audit_confidence=0.9)
        assert params.signal("label_error").params == AuditParams(audit_confidence=0.9)  # one key, both intervals
        assert ScoreParams().signal("entropy").params == EntropyParams()

    def test_the_packaged_section_has_one_owner_per_key(self):
        owners = section_owners()
        assert set(default_params()["score"]) == set(owners)
        assert owners["entropy_threshold"] is EntropyParams and owners["cv_folds"] is TextModelParams
        assert owners["signals"] is ScoreParams and owners["audit_confidence"] is AuditParams

    def test_the_demo_section_builds_to_the_documented_defaults(self, repo):
        demo = yaml.safe_load((repo / "params.yaml").read_text())
        assert section(demo, "score", ScoreParams) == section({}, "score", ScoreParams) == ScoreParams()
        assert {name: ScoreParams().signal(name).params for name in SIGNALS} == {
            name: cls.Params() for name, cls in SIGNALS.items()}

    @pytest.mark.parametrize("values, message", [
        ({"entropy_treshold": 0.5}, "params.yaml: unknown key(s) entropy_treshold in section 'score'"),
        ({"text": {"cv_folds": 3}}, "params.yaml: unknown key(s) text in section 'score'"),
        ({"entropy_threshold": "high"}, "params.yaml: section 'score': entropy_threshold='high' must be a number"),
        ({"stream_rows": 10}, "params.yaml: section 'score': stream_rows=10 must lie in [1000, None]"),
        ({"audit_confidence": 2}, "params.yaml: section 'score': audit_confidence=2 must lie in [0.5, 0.999]"),
        ({"text_model": "bert"}, "params.yaml: section 'score': text_model must be one of"),
        ({"seed": True}, "params.yaml: section 'score': seed=True must be an integer"),
    ])
    def test_a_bad_key_is_one_error_naming_it(self, values, message):
        with pytest.raises(ConfigError) as error:
            section({"score": values}, "score", ScoreParams)
        assert str(error.value).startswith(message) and "\n" not in str(error.value)

    def test_the_params_reach_the_signals(self):
        frame = with_probs(["a", "b"], [[1 / 3] * 3, [0.5, 0.5, 0.0]])
        strict = section({"score": {"signals": ["entropy"], "entropy_threshold": 0.6}}, "score", ScoreParams)
        rows, summary = score_labels(table(frame), strict)
        assert rows["entropy_high"].tolist() == [True, True]
        assert summary["signals"]["entropy"]["threshold"] == 0.6
        rows, _ = score_labels(table(frame), ScoreParams(signals=("entropy",)))
        assert rows["entropy_high"].tolist() == [True, False]

    @pytest.mark.slow
    def test_the_audit_confidence_reaches_label_error(self):
        texts, truth = make_texts(300, 3, seed=3)
        frame = label_table(texts, truth, list(LABELS), truth=truth, audit_share=0.2, seed=4)
        keys = {"signals": ["label_error"], "audit_confidence": 0.8}
        narrow = score_labels(table(frame), section({"score": keys}, "score", ScoreParams))[1]["metrics"]
        wide = score_labels(table(frame), ScoreParams(signals=("label_error",)))[1]["metrics"]
        assert narrow["label_error_rate"] == wide["label_error_rate"] == 0.0
        assert 0 < narrow["label_error_rate_upper"] < wide["label_error_rate_upper"]

    def test_the_command_refuses_a_bad_score_key_in_one_line(self, workdir, cli):
        texts, truth = make_texts(60, 3, seed=1)
        label_table(texts, truth, list(LABELS)).to_csv(workdir / "labels.csv", index=False)
        (workdir / "params.yaml").write_text("score:\n  entropy_treshold: 0.5\n")
        result = cli("score", workdir / "labels.csv", "--out", workdir / "s.parquet", "--summary", workdir / "s.json")
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "unknown key(s) entropy_treshold in section 'score'" in lines[0], lines
        assert not (workdir / "s.parquet").exists() and not (workdir / "s.json").exists()


ABC = ("a", "b", "c")
STAGE_PARAMS = {"base": {"labels": list(ABC)}, "score": {"signals": ["entropy", "class_balance"]}}


@pytest.fixture()
def table_csv(tmp_path):
    path = tmp_path / "labels.csv"
    confident_table(90, ABC, noisy=False, seed=3, audit_share=0.0).to_csv(path, index=False)
    return path


def test_signals_report_progress_and_rows_keep_the_input(table_csv):
    frame = pd.read_csv(table_csv, dtype={"id": str})
    table = LabelTable(frame=frame, labels=ABC, path=str(table_csv))
    seen = []
    rows, summary = score_labels(table, ScoreParams(signals=("entropy", "class_balance")), progress=seen.append)
    assert seen == ["entropy", "class_balance"] and list(summary["signals"]) == seen
    assert len(rows) == 90 and rows["id"].tolist() == frame["id"].tolist() and "entropy_normalised" in rows
    assert summary["n_rows"] == 90 and summary["labels"] == list(ABC)
    assert sum(summary["llm_label_counts"].values()) == 90


@pytest.mark.slow
def test_main_writes_scores_summary_and_headline(table_csv, workdir):
    out, summary, headline = workdir / "s.parquet", workdir / "r.json", workdir / "h.json"
    result = main(table_csv, out, summary, params=STAGE_PARAMS, headline=headline)
    assert pd.read_parquet(out).shape[0] == 90
    assert json.loads(summary.read_text())["metrics"] == result["metrics"]
    assert json.loads(headline.read_text())["n_rows"] == 90


@pytest.mark.slow
def test_a_malformed_table_is_refused_and_nothing_written(table_csv, workdir, cli):
    frame = pd.read_csv(table_csv)
    frame.loc[4, "llm_label"] = "z"  # outside the label set
    frame.to_csv(table_csv, index=False)
    with pytest.raises(BadInputError, match="row 5"):
        main(table_csv, workdir / "s.parquet", workdir / "r.json", params=STAGE_PARAMS)
    (workdir / "params.yaml").write_text(json.dumps(STAGE_PARAMS))
    result = cli("score", table_csv, "--out", workdir / "s.parquet", "--summary", workdir / "r.json")
    assert result.exit_code == 2 and "row 5" in result.output
    assert not (workdir / "s.parquet").exists() and not (workdir / "r.json").exists()


@pytest.mark.slow
def test_a_long_table_logs_progress_with_rate_and_time_left(table_csv, workdir, monkeypatch, capsys):
    """Off a terminal (CI, dvc repro piped to a file) a long score writes one line per phase: share, rows/s, ETA."""
    import labelgate.score as stage

    monkeypatch.setattr(stage, "PROGRESS_MIN_ROWS", 50)  # the 90-row table counts as long
    main(table_csv, workdir / "s.parquet", workdir / "r.json", params=STAGE_PARAMS)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("score ")]
    assert lines and all("rows/s" in line and "ETA" in line for line in lines)
    assert lines[-1].startswith(f"score {table_csv}: 100% (90/90)")
    monkeypatch.setattr(stage, "PROGRESS_MIN_ROWS", 1000)  # a short table: silent
    main(table_csv, workdir / "s.parquet", workdir / "r.json", params=STAGE_PARAMS)
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("score ")]
