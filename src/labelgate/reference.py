"""Stage `reference`: the gold-label reference subset, which the LLM-label subsets are compared with.

The gold pool holds the training texts with their gold labels (`text`, `label`, `id` optional; the label set of the
LLM labels). It is checked with the `test_contract` suite like a gold test set, and written as a subset table
(`id`, `text`, `label`) that `train` and `learning-curve` read like any filter subset.
"""

from __future__ import annotations

import os

import pandas as pd

from labelgate.contract import read_table, stable_id
from labelgate.errors import BadInputError
from labelgate.expectations import DEFAULT_EXPECTATIONS_DIR
from labelgate.vocabulary import ID, LABEL, TEXT


def reference_subset(gold: pd.DataFrame) -> pd.DataFrame:
    """The subset table of a checked gold pool: its ids (or the stable id of each text), texts and gold labels."""
    ids = gold[ID].astype(str) if ID in gold.columns else gold[TEXT].map(stable_id)
    return pd.DataFrame({ID: ids, TEXT: gold[TEXT], LABEL: gold[LABEL]})


def main(gold: str | os.PathLike, out: str | os.PathLike, *, labels: tuple[str, ...],
         expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR) -> pd.DataFrame:
    """Read and check the gold pool at `gold`, write its reference subset to `out`; return the subset."""
    from labelgate.outputs import write_table
    from labelgate.validate import validate_test_table

    columns = read_table(gold).columns
    for column in (TEXT, LABEL):  # checked here so the message names the gold pool, not a test set
        if column not in columns:
            raise BadInputError(gold, f"the gold pool needs columns 'text' and 'label' (the gold label of each "
                                      f"training text); '{column}' is missing", column=column)
    subset = reference_subset(validate_test_table(gold, labels=labels, expectations_dir=expectations_dir))
    write_table(out, subset)
    return subset


def describe(subset) -> str:
    """The command's one line: how many gold-labelled rows the reference subset holds."""
    return f"reference: {len(subset)} gold-labelled rows"
