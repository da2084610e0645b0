"""What every signal may read (ScoringContext): the validated table, the gold test labels, the stage's seed, and the
inputs several signals share (label codes, out-of-fold text-model probabilities, cleanlab's flags), computed once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from labelgate.contract import LabelTable
from labelgate.signals.text_model import TextModelParams


@dataclass
class ScoringContext:
    table: LabelTable
    text: TextModelParams = field(default_factory=TextModelParams, kw_only=True)  # the out-of-fold text model
    seed: int = field(default=0, kw_only=True)  # score.seed: every random choice a signal makes derives from it
    test_labels: pd.Series | None = field(default=None, kw_only=True)

    @cached_property
    def given_labels(self) -> np.ndarray:
        return self.table.label_codes()

    @cached_property
    def text_groups(self) -> np.ndarray:
        """Per row the id of its group of duplicate texts (text_model.duplicate_groups: equal after normalisation);
        cross-fitting keeps a group in one fold and the audit estimate treats a group as one cluster."""
        from labelgate.signals.text_model import duplicate_groups

        return duplicate_groups(self.table.frame["text"])

    @cached_property
    def pred_probs(self) -> np.ndarray:
        """Out-of-fold predicted probabilities of a cheap text model: what cleanlab needs, computed once. Every copy
        of a text (text_groups) is held out in the same fold."""
        from labelgate.signals.text_model import out_of_fold_probabilities

        return out_of_fold_probabilities(
            self.table.frame["text"].tolist(), self.given_labels, n_classes=len(self.table.labels),
            groups=self.text_groups,
            model=self.text.text_model, folds=self.text.cv_folds, seed=self.seed,
            max_features=self.text.max_features, regularisation=self.text.text_model_c,
            max_train_rows=self.text.max_train_rows, n_jobs=self.text.n_jobs,
        )

    @cached_property
    def label_issues(self) -> np.ndarray:
        """cleanlab's label-issue flags over `pred_probs` (prune by noise rate), computed once."""
        from cleanlab.filter import find_label_issues

        return find_label_issues(self.given_labels, self.pred_probs, filter_by="prune_by_noise_rate", n_jobs=1)
