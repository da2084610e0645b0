"""The gold audit round trip: choose rows for a human to label (`labelgate audit sample`), bring the labels back
(`labelgate audit merge`). docs/audit.md is the user's guide.

The package: `sample` (the sample design and the sheet), `annotations` (reading an annotated sheet back, Label
Studio's export included), `design` (the recorded audit design and the weights), `merge` (gold labels into the table),
`stage` (the two commands on files).
"""

from labelgate.audit.annotations import read_annotations
from labelgate.audit.design import Design, design_weights, recorded_design
from labelgate.audit.merge import merge_audit
from labelgate.audit.sample import AuditSampleParams, risk_score, sample_audit, write_export
from labelgate.audit.stage import merge_main, sample_main

__all__ = ["AuditSampleParams", "Design", "design_weights", "merge_audit", "merge_main", "read_annotations",
           "recorded_design", "risk_score", "sample_audit", "sample_main", "write_export"]
