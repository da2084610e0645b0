"""Property-based fuzzing of `labelgate check` (hypothesis): random label tables in every format, and malformed
variants of them. Invariants: check never crashes (no traceback; exit 0, 1 or 2; an exit-2 error is one line), never
passes a malformed table, and never passes a table it could not measure.

Kept fast: few examples, small tables, no deadline (scoring a table takes a second on a busy machine). A longer
hunt: LABELGATE_FUZZ_EXAMPLES=200 python -m pytest tests/faults/test_properties.py (random, not derandomised).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LABELS = ["a", "b", "c"]
WORDS = np.array([f"w{i}" for i in range(60)])
PARAMS = """base:
  labels: [a, b, c]
validate:
  min_rows: 1
score:
  cv_folds: 3
"""

_EXAMPLES = int(os.environ.get("LABELGATE_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_EXAMPLES or 12, deadline=None, derandomize=not _EXAMPLES, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def label_tables(draw) -> dict:
    """A random label table in the data contract, with the facts the invariants need."""
    n = draw(st.integers(1, 90))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    used = draw(st.sampled_from([["a"], ["a", "b"], LABELS]))
    skew = rng.dirichlet(np.ones(len(used)))
    given_codes = rng.choice(len(used), size=n, p=skew)
    llm = np.asarray(used, dtype=object)[given_codes]
    truth_words = {label: WORDS[i * 15:(i + 1) * 15] for i, label in enumerate(LABELS)}
    texts = [" ".join(rng.choice(truth_words[label], 3).tolist() + rng.choice(WORDS[45:], 5).tolist()) + f" r{i}"
             for i, label in enumerate(llm)]
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": texts, "llm_label": llm})
    has_probs = draw(st.booleans())
    if has_probs:
        probs = rng.dirichlet(np.ones(3) * draw(st.sampled_from([0.2, 1.0, 5.0])), size=n)
        for k, label in enumerate(LABELS):
            frame[f"llm_prob_{label}"] = probs[:, k]
    n_annotators = draw(st.integers(0, 2))
    empty_share = draw(st.sampled_from([0.0, 0.5, 1.0]))
    for j in range(n_annotators):
        values = np.where(rng.random(n) < 0.8, llm, rng.choice(LABELS, n)).astype(object)
        values[rng.random(n) < empty_share] = None
        frame[f"annotator_v{j}"] = values
    gold_share = draw(st.sampled_from([0.0, 0.0, 0.3, 1.0]))
    gold = np.where(rng.random(n) < 0.85, llm, rng.choice(LABELS, n)).astype(object)
    gold[rng.random(n) >= gold_share] = None
    if gold_share:
        frame["gold_label"] = gold
    return {"frame": frame, "format": draw(st.sampled_from(["csv", "parquet", "jsonl"]))}


MALFORMATIONS = ["missing_text", "missing_llm_label", "label_outside_set", "empty_text", "duplicate_id", "nan_prob",
                 "prob_sum", "prob_text", "prob_above_one", "annotator_outside_set", "list_text"]
CSV_MALFORMATIONS = ["truncated_quote", "ragged_row", "latin1"]


def write(frame: pd.DataFrame, fmt: str, folder: Path) -> Path:
    path = folder / f"labels.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    return path


def malform(frame: pd.DataFrame, kind: str, row: int, fmt: str) -> pd.DataFrame | None:
    """The table with one contract violation at `row`; None when the table (or the format) cannot carry it."""
    frame = frame.copy()
    row = row % len(frame)
    probs = [c for c in frame.columns if c.startswith("llm_prob_")]
    annotators = [c for c in frame.columns if c.startswith("annotator_")]
    if kind == "missing_text":
        return frame.drop(columns=["text"])
    if kind == "missing_llm_label":
        return frame.drop(columns=["llm_label"])
    if kind == "label_outside_set":
        frame.loc[row, "llm_label"] = "zzz"
    elif kind == "empty_text":
        frame.loc[row, "text"] = "  "
    elif kind == "duplicate_id":
        if len(frame) < 2:
            return None
        frame.loc[row, "id"] = frame.loc[(row + 1) % len(frame), "id"]
    elif kind in ("nan_prob", "prob_sum", "prob_text", "prob_above_one"):
        if not probs:
            return None
        frame[probs] = frame[probs].astype(object)
        if kind == "nan_prob":  # the others still sum to 1: only the NaN check can catch it
            frame.loc[row, probs] = [np.nan, 0.5, 0.5]
        elif kind == "prob_sum":
            frame.loc[row, probs] = [0.5, 0.5, 0.5]
        elif kind == "prob_text":
            frame.loc[row, probs[0]] = "high"
        else:
            frame.loc[row, probs] = [1.5, -0.25, -0.25]
    elif kind == "annotator_outside_set":
        if not annotators:
            return None
        frame[annotators[0]] = frame[annotators[0]].astype(object)
        frame.loc[row, annotators[0]] = "zzz"
    elif kind == "list_text":
        if fmt == "csv":  # CSV has no lists: the cell would be the valid text "['not', 'text']"
            return None
        frame["text"] = frame["text"].astype(object)
        frame.at[row, "text"] = ["not", "text"]
    return frame


def corrupt_csv(path: Path, kind: str, row: int) -> None:
    raw = path.read_bytes()
    if kind == "truncated_quote":
        path.write_bytes(raw + b'"unterminated, quote\n')
    elif kind == "ragged_row":
        lines = raw.splitlines(keepends=True)
        index = 1 + row % (len(lines) - 1)
        lines[index] = lines[index].rstrip(b"\r\n") + b",extra\n"
        path.write_bytes(b"".join(lines))
    else:
        path.write_bytes(raw + "r_x,caf\xe9,a\n".encode("latin-1"))


def run_check(cli, path: Path, folder: Path):
    verdict = folder / "verdict.json"
    result = cli("check", path, "--params", folder / "params.yaml", "--expectations", folder / "expectations",
                 "--out", verdict)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    if result.exit_code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("labelgate check: error: "), result.stderr
        assert not verdict.exists()
    return result, (json.loads(verdict.read_text()) if verdict.exists() else None)


@pytest.fixture()
def folder(repo):
    def make() -> Path:
        path = Path(tempfile.mkdtemp(prefix="labelgate-fuzz-"))
        shutil.copytree(repo / "expectations", path / "expectations")
        (path / "params.yaml").write_text(PARAMS)
        return path
    made: list[Path] = []

    def factory() -> Path:
        made.append(make())
        return made[-1]

    yield factory
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow  # a dozen whole `check` runs (about half a minute); make test runs it
@FUZZ
@given(table=label_tables())
def test_check_never_crashes_and_never_passes_what_it_could_not_measure(cli, folder, table):
    work = folder()
    frame = table["frame"]
    result, verdict = run_check(cli, write(frame, table["format"], work), work)
    if result.exit_code == 2:
        return
    assert verdict is not None and verdict["blocked"] is (result.exit_code == 1)
    if result.exit_code == 0:
        # what the table lets a signal measure, worked out independently of the gate
        has_gold = "gold_label" in frame.columns and frame["gold_label"].notna().any()
        has_probs = any(c.startswith("llm_prob_") for c in frame.columns)
        has_votes = any(c.startswith("annotator_") and frame[c].notna().any() for c in frame.columns)
        several_labels = frame["llm_label"].nunique() >= 2
        assert several_labels, "passed a single-class table: cleanlab cannot estimate its noise"
        assert has_probs or has_votes or has_gold, "passed without an entropy or an audit figure"
        assert verdict["missing_required"] == []
        measured = {o["column"] for o in verdict["outcomes"] if o["status"] in ("pass", "fail")}
        assert "estimated_noise_rate" in measured or "audit_accuracy_lower" in measured


@pytest.mark.slow
@FUZZ
@given(table=label_tables(), kind=st.sampled_from(MALFORMATIONS + CSV_MALFORMATIONS), row=st.integers(0, 10**6))
def test_check_never_passes_a_malformed_table(cli, folder, table, kind, row):
    work = folder()
    frame = table["frame"]
    if kind in CSV_MALFORMATIONS:
        path = write(frame, "csv", work)
        corrupt_csv(path, kind, row)
    else:
        bad = malform(frame, kind, row, table["format"])
        if bad is None:
            return
        path = write(bad, table["format"], work)
    result, _ = run_check(cli, path, work)
    assert result.exit_code == 2, (kind, result.output)


# ------------------------------------------------------------------------------------ audit shapes

AUDIT_SHAPES = ["partial_strata", "blanks", "duplicates", "boolean_weight", "boolean_wave"]
MIN_AUDITED = 2  # score.min_audited_per_stratum (default)
MAX_LABEL_ERROR, MAX_MISSING = 0.2, 0.05  # gate.max_label_error, gate.max_audit_missing_share (defaults)


@st.composite
def audited_tables(draw, shape: str) -> dict:
    """A label table with a gold audit of one shape that used to fool the gate: only some LLM-label strata audited,
    rows an audit drew (audit_wave) left blank, every row there 2-4 times (copies, some with other case and
    punctuation), or a boolean where the audit's weight or wave is a number. With the facts the invariants need,
    worked out here."""
    table = draw(label_tables())
    frame = table["frame"].drop(columns=["gold_label"], errors="ignore")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, llm = len(frame), frame["llm_label"].to_numpy(object)
    drawn = rng.random(n) < draw(st.sampled_from([0.3, 0.6, 1.0]))
    drawn[0] = True  # an audit holds at least one row (a boolean column at least one value)
    gold = np.where(rng.random(n) < 0.85, llm, rng.choice(LABELS, n)).astype(object)
    gold[~drawn] = None
    if shape == "partial_strata":
        audited_label = draw(st.sampled_from(sorted(set(llm))))
        gold[llm != audited_label] = None
    elif shape == "blanks":
        frame["audit_wave"] = pd.array(np.where(drawn, 1, 0), dtype="Int64")
        frame.loc[~drawn, "audit_wave"] = pd.NA
        gold[drawn & (rng.random(n) < draw(st.sampled_from([0.02, 0.1, 0.5])))] = None
    elif shape in ("boolean_weight", "boolean_wave"):
        column = "audit_weight" if shape == "boolean_weight" else "audit_wave"
        frame[column] = pd.array(np.where(drawn, True, False), dtype="boolean")
        frame.loc[~drawn, column] = pd.NA
    frame["gold_label"] = gold
    if shape == "duplicates":
        copies = draw(st.integers(2, 4))
        parts = []
        for c in range(copies):
            part = frame.copy()
            part["id"] = part["id"] + f"_c{c}"
            if c % 2:
                part["text"] = part["text"].str.upper() + "!"
            parts.append(part)
        frame = pd.concat(parts, ignore_index=True)
    audited = frame["gold_label"].notna()
    counts = frame["llm_label"].map(frame.loc[audited, "llm_label"].value_counts()).fillna(0)
    sizes = frame["llm_label"].map(frame["llm_label"].value_counts())
    unmeasured = float(counts.lt(np.minimum(MIN_AUDITED, sizes)).mean())  # a stratum smaller than the minimum: all
    missing = float((drawn & pd.isna(gold)).sum() / drawn.sum()) if shape == "blanks" and drawn.any() else None
    return {"frame": frame, "format": table["format"], "shape": shape, "audited": bool(audited.any()),
            "unmeasured": unmeasured, "missing": missing,
            "exact_copies": 1.0 - frame["text"].nunique() / len(frame)}


@pytest.mark.slow  # 4 whole `check` runs per shape; make test runs it
@pytest.mark.parametrize("shape", AUDIT_SHAPES)
def test_check_never_passes_an_audit_it_cannot_trust(cli, folder, shape):
    """Partial strata are bounded as wrong, blank drawn rows above the limit block, copies are counted, and a
    boolean audit weight or wave is bad input (never 1/0). Every shape is drawn (a parameter, not a draw)."""

    @settings(FUZZ, max_examples=_EXAMPLES or 4)
    @given(table=audited_tables(shape))
    def fuzz(table):
        trust_invariants(cli, folder, table)

    fuzz()


def trust_invariants(cli, folder, table: dict) -> None:
    work = folder()
    result, verdict = run_check(cli, write(table["frame"], table["format"], work), work)
    if table["shape"].startswith("boolean"):
        assert result.exit_code == 2, result.output
        return
    if verdict is None:
        return
    figures = verdict["figures"]
    if table["missing"] is not None:
        assert figures["audit_missing_share"] == pytest.approx(table["missing"])
    if table["audited"] and figures.get("label_error_rate_upper") is not None:
        assert verdict["label_error"]["unmeasured_share"] == pytest.approx(table["unmeasured"])
        assert figures["label_error_rate_upper"] >= table["unmeasured"] - 1e-9
        assert verdict["label_error"]["duplicate_share"] >= table["exact_copies"] - 1e-9
    if result.exit_code == 0:
        assert table["unmeasured"] <= MAX_LABEL_ERROR, "passed with more unmeasured rows than max_label_error"
        assert table["missing"] is None or table["missing"] <= MAX_MISSING, "passed an audit left blank"
