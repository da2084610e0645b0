"""Learning-curve maths shared by the training stages and `evaluate`: the curve settings (params.yaml section
`learning_curve`), the reference subset (section `evaluate`), accuracy and macro-F1 of predictions, the gain over
the last doubling, the decline, the gap to the reference, the plateau flag, and two curves compared at equal
training size. Pure functions, no training and no I/O: `learning_curve` and `audit_reference` train the curves,
`evaluate` reads them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labelgate.config import check_range

DEFAULT_FRACTIONS = (0.125, 0.25, 0.5, 1.0)
DEFAULT_PLATEAU_MIN_GAIN = 0.01  # accuracy gained over the last doubling below this: the curve is flat
DEFAULT_PLATEAU_MIN_GAP = 0.03  # ... and it trails the reference by more than this: a premature plateau


@dataclass(frozen=True)
class CurveParams:
    """Learning-curve settings (params.yaml section `learning_curve`)."""

    fractions: tuple[float, ...] = DEFAULT_FRACTIONS  # growing shares of the subset, nested; the last should be 1
    seed: int = 0  # one seed per curve; the seed of a `train` run so its full-data point can be reused
    plateau_min_gain: float = DEFAULT_PLATEAU_MIN_GAIN
    plateau_min_gap: float = DEFAULT_PLATEAU_MIN_GAP
    equal_steps: bool = False  # train each fraction for as many steps as the full data (costs ~1 full run each)

    def __post_init__(self):
        fractions = tuple(float(f) for f in (self.fractions or ()))
        object.__setattr__(self, "fractions", fractions)
        if len(fractions) < 2:
            raise ValueError("fractions needs at least two points (a doubling)")
        for f in fractions:
            check_range("fractions", f, 1e-6, 1.0)
        if list(fractions) != sorted(set(fractions)):
            raise ValueError(f"fractions must be strictly increasing, got {list(fractions)}")
        check_range("plateau_min_gain", self.plateau_min_gain, -1.0, 1.0)
        check_range("plateau_min_gap", self.plateau_min_gap, 0.0, 1.0)


@dataclass(frozen=True)
class EvaluateParams:
    """Evaluation settings (params.yaml section `evaluate`)."""

    reference: str = "gold"  # the subset trained on gold labels; "" when there is none
    png: bool = True  # also draw matplotlib PNGs next to the DVC plot tables

    def __post_init__(self):
        if not isinstance(self.reference, str):
            raise ValueError("reference must be a subset name (a string), or empty for none")


def accuracy_and_macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    accuracy = float((y_true == y_pred).mean()) if len(y_true) else float("nan")
    macro = float(f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0))
    return accuracy, macro


def gain_last_doubling(points: Sequence[Mapping[str, Any]], key: str = "accuracy") -> float | None:
    """`key` at the last point minus at the point nearest half its fraction (within half a doubling), else None."""
    if len(points) < 2:
        return None
    last = points[-1]
    target = math.log2(last["fraction"] / 2)
    earlier = points[:-1]
    best = min(earlier, key=lambda p: abs(math.log2(p["fraction"]) - target))
    if abs(math.log2(best["fraction"]) - target) > 0.5:
        return None
    return float(last[key] - best[key])


def curve_decline(points: Sequence[Mapping[str, Any]], key: str = "accuracy") -> float | None:
    """Best `key` at a smaller size minus `key` at the full size (the last point): > 0 when the curve falls as
    data grows; None with fewer than two points."""
    if len(points) < 2:
        return None
    return float(max(float(p[key]) for p in points[:-1]) - float(points[-1][key]))


def gap_to_reference(final: float | None, *, subset: str, reference: str | None,
                     reference_accuracy: float | None) -> float | None:
    """The reference's accuracy minus this subset's final accuracy (positive: worse than gold); 0 for the reference
    itself; None without a reference accuracy."""
    if reference and subset == reference:
        return 0.0
    if reference_accuracy is not None and final is not None:
        return float(reference_accuracy - final)
    return None


def plateau_flag(gain: float | None, gap: float | None, *, min_gain: float, min_gap: float) -> bool | None:
    """True: flat over the last doubling while trailing the reference; None when either figure is unknown."""
    if gain is None or gap is None:
        return None
    return bool(gain < min_gain and gap > min_gap)


def compare_at_equal_size(llm_points: Sequence[Mapping[str, Any]],
                          gold_points: Sequence[Mapping[str, Any]], key: str = "accuracy") -> list[dict[str, Any]]:
    """Per gold (audit) curve point: the LLM curve's `key` at the same training size and the gap (gold minus LLM).

    The LLM curve is interpolated linearly in log2(n) between its points; sizes outside its range are left out
    (no extrapolation). Both lists hold dicts with `n` and `key`, sorted by n.
    """
    xs = np.log2([float(p["n"]) for p in llm_points])
    ys = np.asarray([float(p[key]) for p in llm_points])
    out = []
    for point in gold_points:
        x = math.log2(float(point["n"]))
        if len(xs) == 0 or x < xs[0] - 1e-12 or x > xs[-1] + 1e-12:
            continue
        llm_value = float(np.interp(x, xs, ys))
        out.append({"n": int(point["n"]), f"gold_{key}": float(point[key]), f"llm_{key}": llm_value,
                    "gap": float(point[key]) - llm_value})
    return out
