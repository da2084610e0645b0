"""The gate's params (params.yaml `gate:`): thresholds, the evidence a PASS needs, the suites it runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from labelgate.config import check_range
from labelgate.harm import DECIDING
from labelgate.vocabulary import AUDIT_EVIDENCE, SCORES_SUITE, STABILITY_SUITE, SUMMARY_SUITE


LABEL_SUITES = (SCORES_SUITE, SUMMARY_SUITE)


GATE_SUITES = (*LABEL_SUITES, STABILITY_SUITE)


#: gate.subset naming the whole table (no filter): the label-level suites read score's figures as they are.
WHOLE_TABLE = "raw"


#: Evidence a PASS needs (params.yaml gate.required). Each entry is a figure name, or a list of names of which at
#: least one must be measured. A figure is a column that a suite in expectations/ checks; an entry applies when a
#: suite checking one of its figures ran (`check` runs the label suites, `gate` those whose input it was given).
DEFAULT_REQUIRED: tuple[tuple[str, ...], ...] = (
    # What the labels cost the trained model (harm.py): no PASS without it.
    (f"{DECIDING}_upper",),
    # A label-error figure from a gold audit: the only unbiased evidence. cleanlab's audit-free estimate is no
    # substitute (bench/calibration: within 3 points of the truth on 0 of 42 sets; 0.28 on gold labels).
    (AUDIT_EVIDENCE, "audit_accuracy_lower"),
    ("entropy_normalised", "audit_accuracy_lower"),  # and the LLM's own uncertainty, or the audit
    ("krippendorff_alpha",),  # seed stability needs at least two seeds
)


#: Blocking expectations allowed to go unmeasured (params.yaml gate.optional): without gold audit rows, without
#: llm_prob_* or annotator_* columns, or without a gold reference run these figures cannot exist; the required
#: figures above still demand evidence.
DEFAULT_OPTIONAL: tuple[str, ...] = ("audit_accuracy_lower", "entropy_normalised", "accuracy_gap_to_reference",
                                     "audit_missing_share",  # a table with no recorded audit design
                                     "audit_rubber_stamp_flag_share",  # needs cleanlab: two LLM labels
                                     "audit_contradiction")  # needs the text model: two LLM labels


@dataclass(frozen=True)
class GateParams:
    """Risk thresholds (params.yaml section `gate`). Each max_/min_ name is a `$PARAMETER` in expectations/*.json."""

    subset: str = "raw"  # the trained subset whose stability is gated (the one you would deploy)
    required: tuple = DEFAULT_REQUIRED  # figures a PASS needs (a list entry: at least one of them)
    optional: tuple[str, ...] = DEFAULT_OPTIONAL  # blocking expectations that may go unmeasured
    max_median_entropy: float = 0.5  # median normalised entropy of the LLM label distribution
    max_high_entropy_rate: float = 0.3  # share of rows above score.entropy_threshold
    max_label_issue_rate: float = 0.3  # share of rows cleanlab flags
    max_accuracy_loss: float = 0.075  # test accuracy the labels may cost the trained model (vs gold labels), checked
    # on the upper bound of accuracy_loss (harm.py): the primary blocking rule
    max_label_error: float = 0.3  # second guard behind max_accuracy_loss: the LLM label error rate accepted; checked on the audit estimate's
    # upper confidence bound (label_error_rate_upper), so a set passes only when the audit certifies it.
    # Label-level defaults here and in params.yaml: derived in bench/calibration/ (README.md there)
    max_systematic_error_share: float = 0.45  # share of audited wrong labels cleanlab does not flag
    max_text_error_auc: float = 0.75  # cross-validated AUC of predicting the audited errors from the text
    max_estimated_noise_rate: float = 0.4  # cleanlab's estimated share of wrong labels (secondary, audit-free)
    min_audit_accuracy_lower: float = 0.7  # Wilson lower bound of LLM accuracy on gold-audited rows
    max_audit_missing_share: float = 0.05  # share of the rows an audit drew that came back without a gold label
    min_audit_representativeness_p: float = 0.001  # audited rows vs the whole set on audit-free figures (Bonferroni p)
    max_audit_rubber_stamp_flag_share: float = 0.3  # no audited error: lower bound of the share cleanlab flags
    max_audit_contradiction: float = 0.1  # confident text-model disagreement (lower bound) minus the audit's upper bound
    min_annotator_alpha: float = 0.6  # Krippendorff's alpha across annotations
    min_agreement_rate: float = 0.5  # share of rows where every annotation agrees
    max_class_balance_tvd: float = 0.1  # total variation distance of label shares vs the gold test set
    max_accuracy_std: float = 0.03  # std of test accuracy across seeds
    max_macro_f1_std: float = 0.04
    min_seed_alpha: float = 0.75  # Krippendorff's alpha of test predictions across seeds
    min_unchanged_rate: float = 0.8  # share of test items predicted identically by every seed
    max_accuracy_gap: float = 0.05  # accuracy below the gold-pool reference run (optional: needs a gold pool)
    max_macro_f1_gap: float = 0.08
    max_audit_accuracy_gap: float = 0.03  # gold- minus LLM-trained accuracy on the audited rows (audit reference)
    max_audit_macro_f1_gap: float = 0.08
    max_learning_curve_decline: float = 0.04  # best accuracy at a smaller fraction minus at the full size
    min_retained_fraction: float = 0.5  # the gated subset's share of the rows (a filter must keep at least this)

    def __post_init__(self):
        if not isinstance(self.subset, str) or not self.subset:
            raise ValueError(f"subset={self.subset!r} must be a non-empty string")
        object.__setattr__(self, "required", _requirements(self.required))
        if isinstance(self.optional, str) or not all(isinstance(n, str) and n for n in self.optional or ()):
            raise ValueError(f"optional={self.optional!r} must be a list of figure names")
        object.__setattr__(self, "optional", tuple(self.optional or ()))
        for name in self.threshold_names():
            check_range(name, getattr(self, name), 0.0, 1.0)  # every gate figure is a rate, share or score in [0, 1]

    def threshold_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if f.name.startswith(("max_", "min_"))]

    def thresholds(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.threshold_names()}

    def figure_names(self) -> set[str]:
        """Every figure named in required or optional (validated against the suites by `check_figure_names`)."""
        return {name for entry in self.required for name in entry} | set(self.optional)


def _requirements(value) -> tuple[tuple[str, ...], ...]:
    """gate.required as a tuple of alternatives: `[a, [b, c]]` -> ((a,), (b, c))."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"required={value!r} must be a list of figure names (or lists of alternatives)")
    entries = []
    for entry in value:
        names = (entry,) if isinstance(entry, str) else entry
        if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"required: entry {entry!r} must be a figure name or a non-empty list of names")
        entries.append(tuple(names))
    return tuple(entries)
