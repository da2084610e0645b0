"""Audit-first estimation: the label error rate with its interval (`error_rate`, whose docstring gives the method),
how many more audited rows would settle it (`audit_size`), and checks of the audit itself (`diagnostics`). The
statistics only: no I/O, no model fitting. `DEFAULT_CONFIDENCE` is the one confidence level."""

from labelgate.estimation.audit_size import rows_needed
from labelgate.estimation.diagnostics import (
    CONFIDENT_SHARE,
    audit_contradiction,
    auc_interval,
    confident_disagreement,
    representativeness,
    rubber_stamp_flag_share,
    systematic_share,
    weighted_share,
)
from labelgate.estimation.error_rate import (
    DEFAULT_CONFIDENCE,
    INTERVAL,
    METHOD_MODEL_ASSISTED,
    METHOD_STRATIFIED,
    MIN_AUDITED_PER_STRATUM,
    estimate_error_rate,
    estimate_text,
    kish_n,
    wilson,
    z_value,
)

__all__ = ["CONFIDENT_SHARE", "DEFAULT_CONFIDENCE", "INTERVAL", "METHOD_MODEL_ASSISTED", "METHOD_STRATIFIED", "MIN_AUDITED_PER_STRATUM",
           "audit_contradiction", "auc_interval", "confident_disagreement", "estimate_error_rate", "estimate_text", "kish_n", "representativeness", "rows_needed",
           "rubber_stamp_flag_share", "systematic_share", "weighted_share", "wilson", "z_value"]
