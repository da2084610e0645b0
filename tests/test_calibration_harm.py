"""The harm benchmark's scoring (bench/calibration/run_harm_benchmark.py, derive_defaults.py): exact values on
hand-made rows."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "calibration"))
from derive_defaults import fit_scale  # noqa: E402
from derive_loss_calibration import FIT_CORPORA  # noqa: E402
from finetune_truth import ROOT, TRUTH_DIR, truth_path  # noqa: E402
from labelsets import noise_seed, set_name  # noqa: E402
from run_harm_benchmark import (best_threshold, find_figure, flat_figures, held_out, score_rows,  # noqa: E402
                                targets_table, threshold_ceiling)


def _row(loss, *, rate=0.10, kind="uniform", error_rule=None, verdict=None, eal=None, lower=None, upper=None,
         max_loss=3.0):
    return {"kind": kind, "rate": rate, "loss": loss, "band": 0.05 <= rate <= 0.15,
            "risky": loss >= 3.0, "grey": abs(loss - 3.0) <= 0.75,
            "error_rule": error_rule, "verdict": verdict,
            "loss_rule": None if upper is None else upper > max_loss,
            "eal": eal, "eal_lower": lower, "eal_upper": upper}


def test_score_rows_leaves_grey_sets_out_and_scores_the_band_apart():
    rows = [
        _row(0.5, error_rule=True, eal=0.8, lower=0.0, upper=2.0),          # safe, error rule blocks: wrong
        _row(6.0, error_rule=True, eal=5.0, lower=3.5, upper=7.0),          # risky, both block: right
        _row(3.5, error_rule=False, eal=2.0, lower=1.0, upper=3.2),         # grey: not scored for the verdict
        _row(1.0, rate=0.30, error_rule=True, eal=3.0, lower=2.0, upper=4.0),  # outside the band; loss rule wrong
    ]
    s = score_rows(rows)
    assert (s["sets"], s["grey"], s["scored"], s["band_scored"], s["risky"]) == (4, 1, 3, 2, 1)
    assert s["error_rule"]["right"] == pytest.approx(1 / 3)
    assert s["error_rule"]["right_band"] == pytest.approx(0.5)
    assert (s["error_rule"]["blocked_safe"], s["error_rule"]["passed_risky"]) == (2, 0)
    assert s["loss_rule"]["right"] == pytest.approx(2 / 3)
    assert s["loss_rule"]["right_band"] == 1.0
    assert s["verdict"]["n"] == 0 and s["verdict"]["right"] is None
    # expected loss on every set, grey ones too: |0.8-0.5|, |5-6|, |2-3.5|, |3-1| -> 3 of 4 within 1.5 points
    assert s["eal"]["within"] == 0.75
    assert s["eal"]["covers"] == 0.5  # [0, 2] covers 0.5; [3.5, 7] covers 6; [1, 3.2] misses 3.5; [2, 4] misses 1
    assert s["eal"]["mean_abs_error"] == pytest.approx((0.3 + 1.0 + 1.5 + 2.0) / 4)
    assert s["targets_met"] == {"right": False, "right_band": True, "within": False, "covers": False}


def test_the_targets_are_on_the_whole_verdict_and_reported_per_corpus_and_kind():
    rows = [_row(0.5, verdict=False, eal=0.5, lower=0.0, upper=9.0),  # loss rule blocks (wrong), verdict passes
            _row(6.0, kind="llm", verdict=True, eal=6.0, lower=4.0, upper=8.0)]
    s = score_rows(rows)
    assert s["loss_rule"]["right"] == 0.5 and s["verdict"]["right"] == 1.0
    assert s["targets_met"] == {"right": True, "right_band": True, "within": True, "covers": True}
    table = targets_table({"corpora": {"c": {"summary": s, "by_kind": {
        "uniform": score_rows(rows[:1]), "llm": score_rows(rows[1:]), "llm_raw": score_rows(rows[1:])}}}})
    body = [line for line in table if line.startswith("| c |")]
    assert [line.split(" | ")[1] for line in body] == ["all", "uniform", "llm"]  # the annotator's raw set is no kind
    assert body[0] == "| c | all | 100% met (2) | 100% met (2) | 100% met (2) | 100% met |"
    short = targets_table({"corpora": {"c": {"summary": score_rows(rows[:1] + [
        _row(0.2, verdict=True, eal=4.0, lower=3.0, upper=5.0)]), "by_kind": {}}}})
    assert "| c | all | 50% **short** (2) | 50% **short** (2) | 50% **short** (2) | 50% **short** |" in short


def test_best_threshold_is_the_lowest_of_the_best_cut_points():
    # block when figure > t: 1 and 2 safe, 4 risky, 3 safe -> cutting at 3.5 is right on all four
    assert best_threshold([(1.0, False), (2.0, False), (3.0, False), (4.0, True)]) == (3.5, 1.0)
    # 2 risky below 3 safe: no cut is right on all; cuts at 1.5 and 3.5 are right on 3 of 4, the lower wins
    assert best_threshold([(1.0, False), (2.0, True), (3.0, False), (4.0, True)]) == (1.5, 0.75)
    assert best_threshold([]) == (None, None)


def test_threshold_ceiling_pools_the_corpora_and_re_measures_the_truth_seed_by_seed():
    def check(corpus, loss, eal, rate=0.10):
        return {"corpus": corpus, "kind": "uniform", "rate": rate, "loss": loss, "eal": eal, "eal_upper": eal + 2}

    rows = [check("tweets", 0.5, 1.0), check("tweets", 6.0, 4.0), check("fortunes", 0.0, 3.0),
            check("fortunes", 5.0, 5.0, rate=0.30), check("fortunes", 3.2, 9.0)]  # the last one is grey
    tables = [{"corpus": "tweets", "kind": "llm", "rate": 0.10, "loss": 5.0, "drops": [2.0, 6.0, 7.0],
               "probe_loss": 4.0},
              {"corpus": "tweets", "kind": "gold", "rate": 0.0, "loss": 0.0, "drops": [0.0, 0.0]}]
    c = threshold_ceiling(rows, tables)
    eal = c["eal"]
    assert (eal["n"], eal["threshold"], eal["right"]) == (4, 3.5, 1.0)  # 1, 3 safe; 4, 5 risky
    assert eal["per_corpus"] == {"tweets": 1.0, "fortunes": 1.0} and eal["right_band"] == 1.0
    assert c["eal_upper"]["threshold"] == 5.5
    assert c["probe_loss"]["n"] == 1 and "tfidf_loss" not in c  # no set carries it
    # seed 2.0 against the others' mean 6.5: wrong side; 6.0 against 4.5 and 7.0 against 4.0: right; gold left out
    assert c["one_seed"]["n"] == 3 and c["one_seed"]["right"] == pytest.approx(2 / 3)
    assert c["one_seed"]["per_corpus"] == {"tweets": pytest.approx(2 / 3)}


def test_held_out_is_another_corpus_or_another_draw():
    assert not held_out({"corpus": "tweets", "draw": 0})
    assert held_out({"corpus": "tweets", "draw": 1})
    assert held_out({"corpus": "a corpus the calibration never saw", "draw": 0})
    assert all(not held_out({"corpus": name, "draw": 0}) for name in FIT_CORPORA)


def test_other_training_settings_are_recorded_apart_from_the_packaged_ones():
    assert truth_path("tweets") == TRUTH_DIR / "tweets.jsonl"
    assert truth_path("tweets", ROOT / "params.yaml") == TRUTH_DIR / "tweets.jsonl"
    assert truth_path("tweets", ROOT / "params-gpu.yaml") == TRUTH_DIR / "tweets__params-gpu.jsonl"


def test_fit_scale_through_the_origin():
    f = fit_scale(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0]))
    assert f["k"] == pytest.approx(31 / 14)
    res = np.abs(np.array([2.0, 4.0, 7.0]) - 31 / 14 * np.array([1.0, 2.0, 3.0]))
    assert f["mean_abs_residual"] == pytest.approx(res.mean())
    assert f["within_1_5"] == 1.0
    assert fit_scale(np.array([0.0, 0.0, 0.0]), np.array([1.0, 2.0, 3.0]))["k"] is None
    assert fit_scale(np.array([1.0, 2.0]), np.array([1.0, 2.0]))["k"] is None  # too few sets


def test_find_figure_looks_in_figures_and_nested_blocks():
    verdict = {"figures": {"label_error_rate_upper": 0.12}, "accuracy_loss": {"expected_accuracy_loss": 0.041},
               "label_error": {"label_error_rate": 0.1, "method": "x"}, "blocked": True}
    assert find_figure(verdict, "label_error_rate_upper") == 0.12
    assert find_figure(verdict, "expected_accuracy_loss") == 0.041
    assert find_figure(verdict, "missing") is None
    assert flat_figures(verdict) == {"label_error_rate_upper": 0.12, "expected_accuracy_loss": 0.041,
                                     "label_error_rate": 0.1}


def test_set_names_and_noise_seeds_are_distinct():
    sets = [(k, r, d) for k in ("uniform", "class_conditional", "llm", "text_following")
            for r in (0.03, 0.05, 0.08, 0.10, 0.12, 0.15, 0.20, 0.30) for d in (0, 1, 2)]
    assert len({noise_seed(*s) for s in sets}) == len(sets)
    assert len({set_name(*s) for s in sets}) == len(sets)
    assert set_name("uniform", 0.08, 1) == "uniform_08_d1"
    assert set_name("gold", 0.0, 0) == "gold" and set_name("llm_raw", 0.0, 0) == "llm_raw"

