"""estimation.confident_disagreement and audit_contradiction on exact small cases, and the gate's reason line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labelgate.estimation import audit_contradiction, confident_disagreement, wilson, z_value


def probs_for(top: list[float], predicted: list[int], k: int = 3) -> np.ndarray:
    """Rows whose text model puts `top` on class `predicted` and the rest evenly on the others."""
    p = np.repeat(((1 - np.asarray(top)) / (k - 1))[:, None], k, axis=1)
    p[np.arange(len(top)), predicted] = top
    return p


def test_it_reads_the_most_confident_share_of_the_rows_only():
    # 20 rows; the 2 most confident (0.95, 0.9) disagree with the LLM label, every other row disagrees too except
    # that the next ones are less confident: with share 0.1 only the top 2 count.
    top = [0.95, 0.9] + [0.5] * 18
    predicted = [0] * 20
    given = np.array([1, 0] + [2] * 18)
    result = confident_disagreement(probs_for(top, predicted), given, share=0.1)
    assert result["confident_rows"] == 2 and result["confident_texts"] == 2
    assert result["confident_disagreement"] == 0.5
    assert (result["confident_disagreement_lower"], result["confident_disagreement_upper"]) == pytest.approx(
        wilson(0.5, 2, z_value(0.95)))
    everything = confident_disagreement(probs_for(top, predicted), given, share=1.0)
    assert everything["confident_rows"] == 20 and everything["confident_disagreement"] == pytest.approx(19 / 20)


def test_the_share_rounds_up_and_ties_keep_row_order():
    top = [0.6, 0.8, 0.8, 0.7, 0.6]
    given = np.array([0, 1, 0, 0, 0])
    result = confident_disagreement(probs_for(top, [0] * 5), given, share=0.3)  # ceil(1.5) = 2 rows: 1 and 2
    assert result["confident_rows"] == 2 and result["confident_disagreement"] == 0.5


def test_copies_of_one_text_count_once_in_the_interval():
    top = [0.9] * 10 + [0.4] * 10
    given = np.array([1] * 10 + [0] * 10)
    p = probs_for(top, [0] * 20)
    single = confident_disagreement(p, given, share=0.5)
    copies = confident_disagreement(p, given, share=0.5, groups=np.array([0] * 10 + list(range(1, 11))))
    assert single["confident_disagreement"] == copies["confident_disagreement"] == 1.0
    assert copies["confident_texts"] == 1 and single["confident_texts"] == 10
    assert copies["confident_disagreement_lower"] < single["confident_disagreement_lower"]


def test_no_evidence_without_two_llm_labels_or_rows():
    assert confident_disagreement(probs_for([0.9, 0.8], [0, 1]), np.array([0, 0])) is None
    assert confident_disagreement(np.zeros((0, 3)), np.array([], dtype=int)) is None
    assert audit_contradiction(None, 0.1) is None
    assert audit_contradiction({"confident_disagreement_lower": 0.3}, None) is None


@pytest.mark.parametrize("lower, upper, gap", [(0.3, 0.02, 0.28), (0.05, 0.02, 0.03), (0.05, 0.4, 0.0),
                                               (0.2, 0.2, 0.0)])
def test_the_gap_is_the_lower_bound_above_the_audits_upper_bound(lower, upper, gap):
    assert audit_contradiction({"confident_disagreement_lower": lower}, upper) == pytest.approx(gap)


def _label_risk(**figures) -> dict:
    estimate = {"label_error_rate": 0.0, "label_error_rate_lower": 0.0, "label_error_rate_upper": 0.02,
                "n_audited": 150, "n_rows": 2000, "confidence_level": 0.95, "standard_error": 0.01,
                "method": "stratified", "unmeasured_share": 0.0, "unmeasured_strata": {},
                "min_audited_per_stratum": 2, "audit_representativeness_p": 0.4, "audit_imbalance": {},
                "audit_rubber_stamp_flag_share": 0.2, "confident_disagreement": 0.26,
                "confident_disagreement_lower": 0.2, "confident_rows": 200, "duplicate_share": 0.0, **figures}
    metrics = {name: estimate[name] for name in ("label_error_rate", "label_error_rate_lower",
                                                 "label_error_rate_upper", "audit_representativeness_p",
                                                 "audit_rubber_stamp_flag_share", "unmeasured_share",
                                                 "audit_contradiction")}
    loss = {"expected_accuracy_loss": 0.0, "expected_accuracy_loss_lower": -0.02, "expected_accuracy_loss_upper": 0.02}
    return {"metrics": {**metrics, **loss, "audit_accuracy_lower": 0.97}, "signals": {"label_error": estimate}}


@pytest.mark.parametrize("gap, code", [(0.18, 1), (0.1, 0), (0.09, 0)])
def test_gate_blocks_above_the_threshold_with_one_line(workdir, cli, gap, code):
    (workdir / "label_risk.json").write_text(json.dumps(_label_risk(audit_contradiction=gap)))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    assert result.exit_code == code, result.output
    verdict = json.loads((workdir / "gate.json").read_text())
    assert verdict["label_error"]["audit_contradiction"] == gap
    if code:
        assert verdict["reason"].startswith(
            "audit contradicted: it bounds the label error rate at 0.02, but the LLM label disagrees with the text "
            "model on 26% (at least 20%) of the 200 rows the model is most confident about (gap 0.18 > 0.1); "
            "label the audit blind"), verdict["reason"]
        assert "\n" not in verdict["reason"]
    else:
        assert not verdict["blocked"]


def test_the_threshold_comes_from_params(workdir, cli):
    import yaml

    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["gate"]["max_audit_contradiction"] = 0.2
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (workdir / "label_risk.json").write_text(json.dumps(_label_risk(audit_contradiction=0.18)))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_the_signal_sets_the_lower_bound_against_the_audits_upper_bound():
    """label_error reports confident_disagreement from the text model cleanlab reads, and audit_contradiction against
    the audit's upper bound (not its point estimate, which is 0 for a rubber stamp)."""
    from labelgate.contract import LabelTable
    from labelgate.score import ScoreParams, score_labels
    from synthetic import flip_uniform, label_table, make_texts

    labels = ["a", "b", "c"]
    texts, truth = make_texts(900, 3, seed=81)
    given = flip_uniform(truth, 0.35, 3, seed=82)
    frame = label_table(texts, given, labels, truth=given, audit_share=0.15, seed=83)  # gold = the LLM label
    table = LabelTable(frame=frame, labels=tuple(labels), path="memory")
    _, summary = score_labels(table, ScoreParams(signals=("cleanlab", "label_error")))
    estimate, metrics = summary["signals"]["label_error"], summary["metrics"]
    assert estimate["confident_rows"] == 90 and estimate["confident_disagreement"] > 0.2
    assert metrics["label_error_rate"] == 0.0 < metrics["label_error_rate_upper"]
    assert metrics["audit_contradiction"] == pytest.approx(
        estimate["confident_disagreement_lower"] - metrics["label_error_rate_upper"])
    assert metrics["audit_contradiction"] > 0.1
