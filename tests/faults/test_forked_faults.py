"""`check` computes the table's TF-IDF words in a forked child while it validates the table (signals/context.py
WordsAhead): a bad table still fails with its one line and exit 2, writes nothing and leaves no child behind; a
broken label suite is still named before an unreadable table."""

from __future__ import annotations

import pytest
from assertions import no_children_left

from labelgate.signals import forked
from test_faults import good_table

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="forked workers run on Linux only")


@pytest.fixture()
def started(monkeypatch) -> list:
    """The WordsAhead objects `check` starts (spied on, not replaced), on tables of any size."""
    from labelgate.signals.context import WordsAhead

    monkeypatch.setattr(forked, "FORK_MIN_ROWS", 0)
    seen, start = [], WordsAhead.start.__func__

    def spy(cls, *args, **kwargs):
        seen.append(start(cls, *args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(WordsAhead, "start", classmethod(spy))
    return seen


def test_a_table_that_fails_validation_kills_the_words_child_and_writes_nothing(workdir, cli, started):
    frame = good_table()
    frame["llm_prob_positive"] = frame["llm_prob_positive"].astype(object)
    frame.loc[5, "llm_prob_positive"] = "abc"
    frame.to_csv(workdir / "labels.csv", index=False)
    result = cli("check", workdir / "labels.csv", "--out", workdir / "v.json")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"labelgate check: error: {workdir / 'labels.csv'}: row 6: column 'llm_prob_positive': not a number: 'abc'"]
    assert not (workdir / "v.json").exists()
    assert len(started) == 1 and started[0] is not None  # the child was started on the table ...
    assert started[0].job.child is None and no_children_left()  # ... and killed and reaped


def test_a_broken_label_suite_is_named_before_a_missing_table(workdir, cli, started):
    path = workdir / "expectations" / "label_scores.json"
    path.write_text(path.read_text().replace('"expect_column_median_to_be_between"',
                                             '"expect_column_median_to_be_betwen"'))
    result = cli("check", workdir / "no_such_table.csv", "--out", workdir / "v.json")
    assert result.exit_code == 2
    assert "label_scores.json" in result.stderr and "expect_column_median_to_be_betwen" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and started == []
    path.write_text(path.read_text().replace("_betwen", "_between"))  # the suite repaired: the table is named
    result = cli("check", workdir / "no_such_table.csv", "--out", workdir / "v.json")
    assert result.exit_code == 2 and "no_such_table.csv" in result.stderr
    assert not (workdir / "v.json").exists()
