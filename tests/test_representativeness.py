"""The audit representativeness test (estimation.representativeness on label_error.AuditCovariates): exact values
on a tiny fixture, weights and duplicate clusters, and a seeded simulation of honest audits (random and over-sampled
with weights; 50, 150 and 300 rows; a clean and a 31%-wrong set with a 10% class) that measures the false-block
rate at gate.min_audit_representativeness_p, next to the block rate of cherry-picked audits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from labelgate.contract import LabelTable
from labelgate.estimation import representativeness
from labelgate.gate import GateParams
from synthetic import flip_uniform, label_table, make_texts

LABELS = ["a", "b", "c"]
THRESHOLD = GateParams().min_audit_representativeness_p


def test_exact_z_and_bonferroni_on_a_tiny_fixture():
    population = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    other = np.array([1.0, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    values = np.column_stack([population, other])
    rows = np.array([6, 7, 8, 9])  # the top of the first figure
    result = representativeness(values[rows], ["x", "y"], population_mean=values.mean(0),
                                population_var=values.var(0), n_rows=10)
    mean, var = 7.5, 8.25
    design = np.sum((values[rows, 0] - mean) ** 2) / 16 * 4 / 3
    se = math.sqrt(max(design, var / 4) * (1 - 4 / 10))
    z = (mean - 4.5) / se
    assert result["audit_imbalance"]["x"]["z"] == pytest.approx(z)
    assert result["audit_imbalance"]["x"]["smd"] == pytest.approx(3.0 / math.sqrt(var))
    p_y = result["audit_imbalance"]["y"]["p"]
    assert result["audit_representativeness_p"] == pytest.approx(min(1.0, 2 * min(2 * norm.sf(z), p_y)))
    assert result["audit_imbalance_worst"] == "x"


def test_weights_make_an_over_sampled_audit_representative():
    # label indicator: 20 rows of a, 180 of b; the audit takes 10 a's and 10 b's, weighted 2 and 18
    indicator = np.array([1.0] * 20 + [0.0] * 180)
    rows = np.r_[0:10, 20:30]
    unweighted = representativeness(indicator[rows, None], ["llm_label=a"], population_mean=np.array([0.1]),
                                     population_var=np.array([0.09]), n_rows=200)
    weighted = representativeness(indicator[rows, None], ["llm_label=a"], population_mean=np.array([0.1]),
                                  population_var=np.array([0.09]), n_rows=200,
                                  weights=np.where(indicator[rows] == 1, 2.0, 18.0))
    assert weighted["audit_imbalance"]["llm_label=a"]["audited_mean"] == pytest.approx(0.1)
    assert weighted["audit_representativeness_p"] == pytest.approx(1.0)
    assert unweighted["audit_representativeness_p"] < THRESHOLD


def test_copies_of_an_audited_text_are_one_cluster():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(200, 1))
    rows = rng.choice(200, 20, replace=False)
    once = representativeness(values[rows], ["x"], population_mean=values.mean(0), population_var=values.var(0),
                              n_rows=200)
    copies = np.repeat(rows, 100)  # every audited text 100 times
    grouped = representativeness(values[copies], ["x"], population_mean=values.mean(0),
                                 population_var=values.var(0), n_rows=20_000, clusters=copies)
    naive = representativeness(values[copies], ["x"], population_mean=values.mean(0),
                               population_var=values.var(0), n_rows=20_000)
    assert grouped["audit_imbalance"]["x"]["z"] == pytest.approx(once["audit_imbalance"]["x"]["z"], rel=0.1)
    assert abs(naive["audit_imbalance"]["x"]["z"]) > 5 * abs(once["audit_imbalance"]["x"]["z"])


def test_nothing_that_varies_is_not_measured():
    result = representativeness(np.ones((5, 1)), ["x"], population_mean=np.array([1.0]),
                                population_var=np.array([0.0]), n_rows=10)
    assert result["audit_representativeness_p"] is None


def _covariates(rate: float, seed: int):
    """Every row's audit-free figures of a 2,000-row set (classes 60/30/10%, LLM probabilities) and which rows the
    LLM labelled wrongly."""
    from labelgate.signals import ScoringContext
    from labelgate.signals.label_error import AuditCovariates

    texts, truth = make_texts(2000, 3, seed=seed, weights=[0.6, 0.3, 0.1])
    given = flip_uniform(truth, rate, 3, seed=seed + 1) if rate else truth
    frame = label_table(texts, given, LABELS, truth=truth, seed=seed + 2)
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(2000, 3))
    logits[np.arange(2000), given] += rng.gamma(2.0, 1.2, 2000)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, k]
    covariates = AuditCovariates(ScoringContext(LabelTable(frame=frame, labels=tuple(LABELS), path="memory")))
    assert covariates.names == ["cleanlab_given_label_prob", "text_model_margin", "llm_normalised_entropy",
                                "llm_label=a", "llm_label=b", "llm_label=c", "text_length"]
    return covariates[np.arange(2000)], covariates.names, given != truth


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.0, 0.31], ids=["clean", "31pct-wrong"])
def test_honest_audits_are_rarely_blocked_and_cherry_picked_ones_always(rate):
    """Measured (1,000 draws per cell, seed 11): false-block rate 0.000-0.001 in all 12 cells (p < 0.05 in 1.4-3.7%:
    Bonferroni is conservative). Here 300 draws per cell, each cell held to <= 1%."""
    values, names, wrong = _covariates(rate, seed=5)
    mean, var = values.mean(axis=0), values.var(axis=0)
    high = 1 - values[:, 0] >= np.quantile(1 - values[:, 0], 0.8)  # the riskiest fifth, over-sampled 3x
    rng = np.random.default_rng(11)
    for n in (50, 150, 300):
        for design in ("random", "over-sampled"):
            blocked = 0
            for _ in range(300):
                if design == "random":
                    rows, weights = rng.choice(2000, n, replace=False), np.ones(n)
                else:
                    n_high = int(round(n * 3 * high.sum() / (3 * high.sum() + (~high).sum())))
                    rows = np.concatenate([rng.choice(np.flatnonzero(high), n_high, replace=False),
                                           rng.choice(np.flatnonzero(~high), n - n_high, replace=False)])
                    weights = np.where(high[rows], high.sum() / n_high, (~high).sum() / (n - n_high))
                result = representativeness(values[rows], names, population_mean=mean, population_var=var,
                                            n_rows=2000, weights=weights)
                blocked += result["audit_representativeness_p"] < THRESHOLD
            assert blocked / 300 <= 0.01, (n, design, blocked)
    if rate:  # an audit of only correctly labelled rows
        right = np.flatnonzero(~wrong)
        for n in (50, 150):
            caught = sum(representativeness(values[rows], names, population_mean=mean, population_var=var,
                                            n_rows=2000)["audit_representativeness_p"] < THRESHOLD
                         for rows in (rng.choice(right, n, replace=False) for _ in range(100)))
            assert caught >= 95, (n, caught)
