"""vocabulary.py: each shared name once, and the two probability columns kept apart."""

from __future__ import annotations

import labelgate.vocabulary as v


def test_llm_and_model_probability_columns_differ():
    assert v.llm_prob_column("positive") == "llm_prob_positive"  # the label table: the LLM's probability
    assert v.model_prob_column("positive") == "prob_positive"  # a training run: the fine-tuned model's
    assert not v.model_prob_column("x").startswith(v.LLM_PROB_PREFIX)


def test_statuses_and_severities():
    assert v.VERDICT_STATUSES == ("pass", "warn", "block")
    counts = (v.COUNT_FAILED_BLOCK, v.COUNT_FAILED_WARN, v.COUNT_PASSED, v.COUNT_SKIPPED, v.COUNT_ERRORS)
    assert len(set(counts)) == len(counts)


def test_strategies_and_suffixes():
    assert v.STRATEGIES[0] == "raw" and len(set(v.STRATEGIES)) == len(v.STRATEGIES)
    assert v.TABLE_SUFFIXES == (".csv", ".parquet", ".jsonl") and v.JSONL in v.JSONL_SUFFIXES


def test_every_module_takes_the_strategies_from_here():
    from labelgate import filter as filter_module
    from labelgate import scaffold

    assert filter_module.STRATEGIES is v.STRATEGIES
    assert scaffold.supported_strategies(None) == v.STRATEGIES
