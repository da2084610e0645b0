"""Class balance of the LLM labels against the gold test set (or, without one, the audited gold labels).
LLM annotators drift toward some classes; the paper finds imbalanced tasks suffer most. The per-row score is
how over-represented the row's LLM label is (LLM share / reference share, capped at 1 after scaling).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelgate.contract import GOLD
from labelgate.signals.base import RiskSignal, SignalResult, register
from labelgate.signals.context import ScoringContext


@register
class ClassBalanceSignal(RiskSignal):
    name = "class_balance"
    description = "Total variation distance between LLM label shares and the gold reference shares"
    columns = ("class_balance_overrepresentation",)
    metrics = ("class_balance_tvd",)

    def score(self, context: ScoringContext) -> SignalResult:
        table = context.table
        labels = list(table.labels)
        if context.test_labels is not None and len(context.test_labels):
            reference, source = context.test_labels, "test"
        elif table.has_gold:
            reference, source = table.frame[GOLD].dropna(), "gold_label"
        else:
            return self.unavailable("no gold test set and no gold_label values", ("class_balance_tvd",))
        llm_share = table.frame["llm_label"].value_counts(normalize=True).reindex(labels, fill_value=0.0)
        ref_share = reference.value_counts(normalize=True).reindex(labels, fill_value=0.0)
        tvd = float(0.5 * np.abs(llm_share - ref_share).sum())
        ratio = (llm_share / ref_share.replace(0.0, np.nan)).fillna(np.inf)
        row_ratio = table.frame["llm_label"].map(ratio).to_numpy(float)
        summary = {
            "available": True,
            "reference": source,
            "class_balance_tvd": tvd,
            "llm_share": llm_share.round(6).to_dict(),
            "reference_share": ref_share.round(6).to_dict(),
            "share_ratio": {k: (None if not np.isfinite(v) else round(float(v), 6)) for k, v in ratio.items()},
        }
        rows = pd.DataFrame({"class_balance_overrepresentation": np.clip(row_ratio / (1.0 + row_ratio), 0, 1)})
        return SignalResult(self.name, rows, summary, {"class_balance_tvd": tvd})
