"""What the report tests share: a noisy synthetic label set whose label names hold HTML, a hand-written evaluation
and learning curves, and helpers that read a page the way a browser's tokenizer does."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from labelgate.cli import app
from labelgate.report import ReportInputs, load_inputs

# User text reaches the page: label names must be escaped, never become markup.
EVIL = "pos|<img src=x onerror=alert(1)>"
LABELS = ["neg", "neu & <b>co</b>", EVIL]
STRATEGIES = ("raw", "entropy", "cleanlab")
N_PLOTS = 4  # entropy histograms, noise matrix, seed scores, learning curves


def evaluation() -> dict:
    def subset(accs, f1s, alpha, gap, plateau):
        return {"n_seeds": len(accs), "accuracy_mean": float(np.mean(accs)),
                "accuracy_std": float(np.std(accs, ddof=1)),
                "macro_f1_mean": float(np.mean(f1s)), "macro_f1_std": float(np.std(f1s, ddof=1)),
                "krippendorff_alpha": alpha, "unchanged_prediction_rate": alpha, "ensemble_accuracy": max(accs),
                "ensemble_macro_f1": max(f1s), "accuracy_gap_to_reference": gap, "macro_f1_gap_to_reference": gap,
                "plateau": plateau, "learning_curve_gain_last_doubling": 0.01, "learning_curve_decline": -0.01,
                "audit_accuracy_gap": gap, "audit_macro_f1_gap": gap,
                "seeds": {str(k): {"accuracy": a, "macro_f1": f} for k, (a, f) in enumerate(zip(accs, f1s))}}

    return {"reference": "gold", "labels": LABELS, "subsets": {
        "raw": subset([0.66, 0.72, 0.75], [0.61, 0.67, 0.70], 0.7, 0.12, True),
        "cleanlab": subset([0.78, 0.80, 0.79], [0.76, 0.78, 0.77], 0.9, 0.04, False),
        "gold": subset([0.82, 0.84, 0.83], [0.81, 0.83, 0.82], 0.93, 0.0, False),
    }}


def curve(name: str, accs: list[float]) -> dict:
    points = [{"fraction": f, "n": int(480 * f), "accuracy": a, "macro_f1": a - 0.04}
              for f, a in zip((0.125, 0.25, 0.5, 1.0), accs)]
    return {"subset": name, "points": points, "final_accuracy": accs[-1], "gain_last_doubling": accs[-1] - accs[-2],
            "gap_to_reference": 0.85 - accs[-1], "plateau": name == "raw"}


CURVES = {"raw": [0.62, 0.68, 0.705, 0.709], "gold": [0.65, 0.74, 0.8, 0.85]}


def invoke(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def run_inputs(run: Path, **overrides) -> ReportInputs:
    """load_inputs over the synthetic run's files, with some paths replaced."""
    paths = dict(verdict=run / "gate.json", label_risk=run / "label_risk.json", scores=run / "scores.parquet",
                 evaluation=run / "evaluate.json", subsets=run / "subsets", curves=run / "curves")
    paths.update(overrides)
    return load_inputs(**paths)


def text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def tags(page: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""
    from html.parser import HTMLParser

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, [(name, value or "") for name, value in attrs]))

    parser = Collect()
    parser.feed(page)
    return parser.tags


def failed(verdict: dict) -> list[dict]:
    return [o for o in verdict["outcomes"] if o["status"] in ("fail", "error")]


def worst(outcome: dict) -> int:
    return {"error": 0, "fail": 1}[outcome["status"]] + (outcome["severity"] == "warn")
