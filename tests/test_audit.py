"""`labelgate audit sample` and `labelgate audit merge`: the sample design, the multi-wave weights (exact values on
small asymmetric tables and a simulation of bias), the blind export formats, the round trip back into the label
table, Label Studio's shapes and votes, and bad annotation files (exit 2, one line, nothing written)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelgate.audit import AuditSampleParams, design_weights, merge_audit, sample_audit
from labelgate.audit.sample import _allocate, _split
from labelgate.errors import BadInputError

LABELS = ["a", "b", "c"]


def scores(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = np.array(["a"] * (n // 2) + ["b"] * (3 * n // 10) + ["c"] * (n - n // 2 - 3 * n // 10))
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)],
                         "llm_label": labels, "gold_label": [None] * n,
                         "cleanlab_label_quality": rng.random(n)})


def test_allocation_is_proportional_with_a_minimum():
    assert _allocate({"a": 100, "b": 60, "c": 40}, 50, 2) == {"a": 25, "b": 15, "c": 10}
    assert _allocate({"a": 1000, "b": 10, "c": 1}, 20, 2) == {"a": 17, "b": 2, "c": 1}
    assert sum(_allocate({"a": 7, "b": 5, "c": 3}, 10, 0).values()) == 10


def test_proportional_sample_and_weights():
    frame = scores()
    export, summary = sample_audit(frame, LABELS, AuditSampleParams(size=50, seed=1))
    assert list(export.columns) == ["id", "text", "audit_wave", "audit_weight", "gold_label"]  # blind
    given = frame.set_index("id").loc[export["id"], "llm_label"]
    assert given.value_counts().to_dict() == {"a": 25, "b": 15, "c": 10}
    assert export["audit_weight"].tolist() == [4.0] * 50  # 100/25 = 60/15 = 40/10
    assert export["audit_wave"].tolist() == [1] * 50
    assert export["audit_weight"].sum() == len(frame)
    assert export["id"].is_unique and export["gold_label"].isna().all()
    assert summary["risk"] == "cleanlab_label_quality" and summary["blind"] and summary["wave"] == 1
    again, _ = sample_audit(frame, LABELS, AuditSampleParams(size=50, seed=1))
    assert again.equals(export)  # deterministic for a seed
    shown, _ = sample_audit(frame, LABELS, AuditSampleParams(size=50, seed=1), show_llm_label=True)
    assert list(shown.columns) == ["id", "text", "llm_label", "audit_wave", "audit_weight", "audit_stratum",
                                   "audit_risk", "gold_label"]
    assert shown["llm_label"].tolist() == given.tolist() and shown["id"].equals(export["id"])


def test_oversampling_records_inverse_inclusion_probabilities():
    frame = scores()
    export, _ = sample_audit(frame, LABELS, AuditSampleParams(size=50, oversample=3.0, high_risk_share=0.2, seed=2),
                             show_llm_label=True)
    high = export[export["audit_stratum"] == "a/high-risk"]
    low = export[export["audit_stratum"] == "a"]
    # stratum a: 100 rows, 25 to draw; the 20 riskiest get 3x: round(25 * 60 / 140) = 11 of 20, 14 of 80
    assert len(high) == 11 and len(low) == 14
    assert high["audit_weight"].unique().tolist() == [20 / 11]
    assert low["audit_weight"].unique().tolist() == [80 / 14]
    riskiest = set(frame.loc[frame["llm_label"] == "a"].nsmallest(20, "cleanlab_label_quality")["id"])
    assert set(high["id"]) <= riskiest
    for label, rows in (("a", 100), ("b", 60), ("c", 40)):  # weights add up to each stratum's size
        assert export.loc[export["llm_label"] == label, "audit_weight"].sum() == pytest.approx(rows)


def test_already_audited_rows_are_not_sampled_again():
    frame = scores()
    frame.loc[:149, "gold_label"] = frame.loc[:149, "llm_label"]
    export, summary = sample_audit(frame, LABELS, AuditSampleParams(size=500))
    assert summary["candidates"] == 50 and len(export) == 50
    assert set(export["id"]) == {f"r{i}" for i in range(150, 200)}
    assert summary["wave"] == 1  # the 150 gold rows without a design are wave 0


def test_rows_drawn_by_an_earlier_wave_are_not_drawn_again_even_when_blank():
    frame = scores()
    frame["audit_wave"] = np.where(np.arange(200) < 40, 1, np.nan)
    frame["audit_inclusion"] = np.where(np.arange(200) < 40, 0.2, np.nan)
    frame.loc[:19, "gold_label"] = "a"  # rows 20..39: drawn, left blank
    export, summary = sample_audit(frame, LABELS, AuditSampleParams(size=500))
    assert summary["candidates"] == 160 and summary["wave"] == 2
    assert set(export["id"]) == {f"r{i}" for i in range(40, 200)} and (export["audit_wave"] == 2).all()


def test_oversampling_keeps_a_row_in_each_part():
    rows, risk = np.arange(10), np.linspace(0, 1, 10)
    parts = _split("a", rows, 2, risk, oversample=1.5, share=0.2)
    assert [(name, n) for name, _, n in parts] == [("a/high-risk", 1), ("a", 1)]  # round(2 * 3 / 11) = 1 anyway
    parts = _split("a", rows, 2, risk, oversample=1.01, share=0.1)
    assert [n for _, _, n in parts] == [1, 1]  # round(2 * 1.01 / 10.01) = 0 would leave the risky row unreachable
    assert [n for _, _, n in _split("a", rows, 1, risk, 3.0, 0.2)] == [1]  # one row: no split


def test_design_weights_exact_two_waves_with_oversampling_and_blanks():
    """Stratum a (10 rows): wave 1 draws 2 of 10 (pi 0.2); wave 2 draws both of the 2 risky remaining rows (pi 1)
    and 2 of the other 6 (pi 1/3). alpha = 2/6 * (1 - 4/8) = 1/6: old rows 1/6 * 5 + 5/6 * 1 = 5/3, new risky
    5/6 * 1, new others 5/6 * 3. Stratum b (6 rows): one wave drew 3 (pi 0.5), one left blank: the two labelled
    rows carry its weight, 3 each. Stratum c (4 rows): nothing audited."""
    strata = np.array(["a"] * 10 + ["b"] * 6 + ["c"] * 4)
    wave = np.full(20, np.nan)
    inclusion = np.full(20, np.nan)
    wave[[0, 1]], inclusion[[0, 1]] = 1, 0.2
    wave[[2, 3, 4, 5]], inclusion[[2, 3, 4, 5]] = 2, [1.0, 1.0, 1 / 3, 1 / 3]
    wave[[10, 11, 12]], inclusion[[10, 11, 12]] = 1, 0.5
    labelled = ~np.isnan(wave)
    labelled[12] = False
    weights = design_weights(strata, wave, inclusion, labelled)
    expected = [5 / 3, 5 / 3, 5 / 6, 5 / 6, 2.5, 2.5]
    assert weights[:6] == pytest.approx(expected, rel=1e-12)
    assert weights[[10, 11]] == pytest.approx([3.0, 3.0], rel=1e-12)
    assert np.isnan(weights[[6, 7, 8, 9, 12, *range(13, 20)]]).all()
    assert weights[:10][labelled[:10]].sum() == pytest.approx(10) and np.nansum(weights) == pytest.approx(16)


def test_blank_rows_pass_their_weight_to_rows_drawn_alike():
    """One wave over 10 rows: both risky rows (pi 1) and 4 of the 8 others (pi 0.5), one of those left blank. The
    blank row's weight goes to the 3 other rows of its class (8 / 3 each), not to the risky rows (a plain rescale
    of the wave would give 1.25 and 2.5)."""
    strata = np.array(["a"] * 10)
    wave = np.array([1, 1, 1, 1, 1, 1] + [np.nan] * 4, float)
    inclusion = np.array([1.0, 1.0, 0.5, 0.5, 0.5, 0.5] + [np.nan] * 4)
    labelled = np.array([True, True, True, True, True, False] + [False] * 4)
    weights = design_weights(strata, wave, inclusion, labelled)
    assert weights[:5] == pytest.approx([1.0, 1.0, 8 / 3, 8 / 3, 8 / 3], rel=1e-12)


def test_two_proportional_waves_are_one_stratified_random_sample():
    strata = np.array(["a"] * 100 + ["b"] * 30)
    wave, inclusion = np.full(130, np.nan), np.full(130, np.nan)
    wave[:10], inclusion[:10] = 1, 0.1  # a: 10 of 100
    wave[10:30], inclusion[10:30] = 2, 20 / 90  # a: 20 of the other 90
    wave[100:103], inclusion[100:103] = 0, 3 / 130  # b: 3 rows of a legacy simple random sample
    wave[103:106], inclusion[103:106] = 2, 3 / 27  # b: 3 of its other 27 rows
    weights = design_weights(strata, wave, inclusion, ~np.isnan(wave))
    assert weights[:30] == pytest.approx([100 / 30] * 30, rel=1e-12)  # 30 of 100, as if drawn at once
    assert weights[100:106] == pytest.approx([5.0] * 6, rel=1e-12)


@pytest.mark.slow
def test_a_two_wave_audit_is_unbiased_with_its_weights_and_biased_without():
    """Seeded simulation (300 audits): wave 1 proportional, wave 2 over-samples the riskiest rows 6x, strata of
    330, 180 and 90 rows with different error rates. The weighted estimate is within 3 standard errors of the
    truth; the unweighted one (the weights ignored) is far above it."""
    from labelgate.estimation import estimate_error_rate

    rng = np.random.default_rng(5)
    n = 600
    given = np.array(["a"] * 330 + ["b"] * 180 + ["c"] * 90)
    risk = rng.random(n)
    rate = pd.Series(given).map({"a": 0.05, "b": 0.15, "c": 0.3}).to_numpy() * np.where(risk > 0.8, 4.0, 0.4)
    wrong = rng.random(n) < rate
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"t{i}" for i in range(n)],
                          "llm_label": given, "entropy_normalised": risk})
    position = pd.Series(np.arange(n), index=frame["id"])
    codes = pd.Series(given).map({label: k for k, label in enumerate(LABELS)}).to_numpy()
    weighted, unweighted = [], []
    for k in range(300):
        wave, inclusion = np.full(n, np.nan), np.full(n, np.nan)
        first, _ = sample_audit(frame, LABELS, AuditSampleParams(size=40, seed=2 * k))
        rows = position[first["id"]].to_numpy()
        wave[rows], inclusion[rows] = 1, 1 / first["audit_weight"].to_numpy()
        second, _ = sample_audit(frame.assign(audit_wave=wave, audit_inclusion=inclusion), LABELS,
                                 AuditSampleParams(size=40, oversample=6.0, high_risk_share=0.2, seed=2 * k + 1))
        rows = position[second["id"]].to_numpy()
        wave[rows], inclusion[rows] = 2, 1 / second["audit_weight"].to_numpy()
        audited = ~np.isnan(wave)
        weights = design_weights(given, wave, inclusion, audited)
        assert weights[audited].sum() == pytest.approx(n)
        y = np.where(audited, wrong.astype(float), np.nan)
        weighted.append(estimate_error_rate(y, codes, weights=weights)["label_error_rate"])
        unweighted.append(estimate_error_rate(y, codes)["label_error_rate"])
    truth = wrong.mean()
    standard_error = np.std(weighted) / np.sqrt(len(weighted))
    assert abs(np.mean(weighted) - truth) < 3 * standard_error < 0.01
    assert np.mean(unweighted) - truth > 0.05  # over-sampled risky rows count as if typical


def legacy_table(n: int = 300) -> pd.DataFrame:
    """Asymmetric strata (180 / 90 / 30 rows), a risk score, and 45 gold rows audited before any recorded design."""
    rng = np.random.default_rng(3)
    given = np.array(["a"] * 180 + ["b"] * 90 + ["c"] * 30)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)],
                          "llm_label": given, "gold_label": [None] * n,
                          "cleanlab_label_quality": rng.random(n).round(6)})
    legacy = rng.choice(n, size=45, replace=False)
    frame.loc[legacy, "gold_label"] = frame.loc[legacy, "llm_label"]
    return frame


def label_sheet(sheet_path, truth: dict[str, str], blank: int = 0):
    """Fill a CSV sheet's gold_label from `truth` (id -> label), leaving the first `blank` rows empty."""
    sheet = pd.read_csv(sheet_path, dtype={"id": str})
    sheet["gold_label"] = [None if k < blank else truth[i] for k, i in enumerate(sheet["id"])]
    sheet.to_csv(sheet_path, index=False)
    return sheet


@pytest.mark.slow
def test_second_and_third_wave_on_a_legacy_audit(workdir, cli):
    """The route "audit more": a table with an unweighted audit gets a proportional and then an over-sampled
    wave; every merge writes weights that sum to the row count, validate and check accept the table, the earlier
    rows keep their recorded inclusion probability, and a merge that adds nothing leaves the table byte-identical."""
    frame = legacy_table()
    truth = dict(zip(frame["id"], np.where(np.arange(300) % 7 == 0, "b", frame["llm_label"])))
    frame.to_csv(workdir / "labels.csv", index=False)
    (workdir / "params.yaml").write_text("base:\n  labels: [a, b, c]\n")
    table = workdir / "labels.csv"
    assert cli("audit", "sample", table, "--out", workdir / "w1.csv", "--size", "30").exit_code == 0
    sheet = label_sheet(workdir / "w1.csv", truth)
    assert not set(sheet["id"]) & set(frame.loc[frame["gold_label"].notna(), "id"])
    result = cli("audit", "merge", table, workdir / "w1.csv", "--out", table)
    assert result.exit_code == 0, result.output
    assert "45 rows audited before any recorded design (wave 0) are treated as a simple random sample" in result.output
    one = pd.read_csv(table, dtype={"id": str}).set_index("id")
    assert one["audit_weight"].sum() == pytest.approx(300) and one["gold_label"].notna().sum() == 75
    for label, rows in (("a", 180), ("b", 90), ("c", 30)):
        assert one.loc[one["llm_label"] == label, "audit_weight"].sum() == pytest.approx(rows)
    assert set(one.loc[one["audit_wave"] == 0].index) == set(frame.loc[frame["gold_label"].notna(), "id"])
    assert (one.loc[one["audit_wave"] == 0, "audit_inclusion"] == 45 / 300).all()
    assert cli("validate", table).exit_code == 0

    before = table.read_bytes()
    again = cli("audit", "merge", table, workdir / "w1.csv", "--out", table)
    assert again.exit_code == 0 and "unchanged: nothing rewritten" in again.output
    assert table.read_bytes() == before
    copy = cli("audit", "merge", table, workdir / "w1.csv", "--out", workdir / "copy.csv")
    assert copy.exit_code == 0 and (workdir / "copy.csv").read_bytes() == before

    result = cli("audit", "sample", table, "--out", workdir / "w2.csv", "--size", "40", "--oversample", "4")
    assert result.exit_code == 0 and "wave 2" in result.output
    sheet = label_sheet(workdir / "w2.csv", truth)
    assert not set(sheet["id"]) & set(one.index[one["audit_wave"].notna()])
    assert (sheet["audit_weight"].nunique() > 3)  # over-sampled: risky and other rows weigh differently
    assert cli("audit", "merge", table, workdir / "w2.csv", "--out", table).exit_code == 0
    two = pd.read_csv(table, dtype={"id": str}).set_index("id")
    assert two["gold_label"].notna().sum() == 115 and two["audit_weight"].sum() == pytest.approx(300)
    for label, rows in (("a", 180), ("b", 90), ("c", 30)):
        assert two.loc[two["llm_label"] == label, "audit_weight"].sum() == pytest.approx(rows)
    kept = one["audit_wave"].notna()
    assert two.loc[kept, "audit_inclusion"].equals(one.loc[kept, "audit_inclusion"])  # the record never changes
    assert not two.loc[kept, "audit_weight"].equals(one.loc[kept, "audit_weight"])  # the weights follow it
    assert cli("validate", table).exit_code == 0
    result = cli("check", table, "--out", workdir / "v.json")
    verdict = json.loads((workdir / "v.json").read_text())
    assert verdict["label_error"]["n_audited"] == 115, result.output
    assert verdict["figures"]["audit_missing_share"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json"])
def test_cli_round_trip(workdir, cli, suffix):
    frame = scores()
    frame.drop(columns=["cleanlab_label_quality"]).to_csv(workdir / "labels.csv", index=False)
    frame.to_parquet(workdir / "scores.parquet")
    (workdir / "params.yaml").write_text("base:\n  labels: [a, b, c]\naudit:\n  size: 30\n  oversample: 2.0\n")
    sheet = workdir / f"sheet{suffix}"
    result = cli("audit", "sample", workdir / "scores.parquet", "--out", sheet)
    assert result.exit_code == 0, result.output
    assert "30 of 200 rows not drawn yet" in result.output and "blind" in result.output
    if suffix == ".json":
        records = json.loads(sheet.read_text())
        assert isinstance(records, list) and set(records[0]) == {"id", "text", "audit_wave", "audit_weight",
                                                                 "gold_label"}
        for record in records:
            record["gold_label"] = "b"
        sheet.write_text(json.dumps(records))
    else:
        table = pd.read_csv(sheet) if suffix == ".csv" else pd.read_json(sheet, lines=True)
        assert "llm_label" not in table.columns
        table["gold_label"] = "b"
        table.to_csv(sheet, index=False) if suffix == ".csv" else table.to_json(sheet, orient="records", lines=True)
    result = cli("audit", "merge", workdir / "labels.csv", sheet, "--out", workdir / "merged.csv")
    assert result.exit_code == 0, result.output
    merged = pd.read_csv(workdir / "merged.csv")
    assert merged["gold_label"].notna().sum() == 30
    assert merged.loc[merged["gold_label"].notna(), "audit_weight"].gt(0).all()
    assert merged["audit_weight"].notna().sum() == 30 and merged["audit_weight"].sum() == pytest.approx(200)
    assert (merged["audit_wave"].notna() == merged["gold_label"].notna()).all()
    checked = cli("check", workdir / "merged.csv", "--out", workdir / "verdict.json")
    verdict = json.loads((workdir / "verdict.json").read_text())
    assert verdict["label_error"]["n_audited"] == 30, checked.output


def studio_export(sheet: list[dict], votes: dict[str, list]) -> list[dict]:
    """Label Studio's JSON export of the tasks `sheet` (the .json sheet): per id a list of annotations, each a
    label or "cancel"; a pre-annotation (prediction) of "a" on every task that must never be read as gold."""
    tasks = []
    for k, record in enumerate(sheet):
        annotations = [{"was_cancelled": True, "result": []} if vote == "cancel" else
                       {"was_cancelled": False, "result": [{"from_name": "sentiment", "type": "choices",
                                                            "value": {"choices": [vote]}}]}
                       for vote in votes.get(record["id"], ["c"])]
        tasks.append({"id": 100 + k, "data": record, "annotations": annotations,
                      "predictions": [{"result": [{"from_name": "sentiment", "value": {"choices": ["a"]}}]}]})
    return tasks


def test_label_studio_export_votes_skips_and_disagreements(workdir, cli):
    scores().drop(columns=["cleanlab_label_quality"]).to_csv(workdir / "labels.csv", index=False)
    (workdir / "params.yaml").write_text("base:\n  labels: [a, b, c]\n")
    assert cli("audit", "sample", workdir / "labels.csv", "--out", workdir / "tasks.json", "--size", "40"
               ).exit_code == 0
    sheet = json.loads((workdir / "tasks.json").read_text())
    ids = [record["id"] for record in sheet]
    votes = {ids[0]: ["cancel"], ids[1]: ["a", "b"], ids[2]: ["b", "b", "a"], ids[3]: ["cancel", "b"],
             ids[4]: []}
    (workdir / "export.json").write_text(json.dumps(studio_export(sheet, votes)))
    result = cli("audit", "merge", workdir / "labels.csv", workdir / "export.json", "--out", workdir / "m.csv")
    assert result.exit_code == 0, result.output
    assert "37 gold labels merged (3 rows of the sheet unlabelled, 1 cancelled, 1 unresolved)" in result.output
    assert "3 drawn rows have no gold label (audit_missing_share 0.075)" in result.output
    merged = pd.read_csv(workdir / "m.csv").set_index("id")
    assert merged.loc[ids[:2] + [ids[4]], "gold_label"].isna().all()  # skipped, 1-1, no annotation
    assert merged.loc[ids[2], "gold_label"] == "b" and merged.loc[ids[3], "gold_label"] == "b"  # 2-1; skip + b
    assert (merged.loc[ids[5:], "gold_label"] == "c").all()  # the prediction "a" is never gold
    assert merged.loc[ids, "audit_wave"].eq(1).all()  # every drawn row recorded, blank ones too
    assert merged["audit_weight"].sum() == pytest.approx(200)


def test_sample_writes_label_studios_config_with_the_sheet(workdir, cli):
    """`--label-config`: the text and one single-choice `gold_label` control with every label (escaped), nothing
    else of the sheet; written with the sheet or not at all."""
    import xml.etree.ElementTree as ET

    frame = scores().drop(columns=["cleanlab_label_quality"])
    frame["llm_label"] = frame["llm_label"].map({"a": 'a "quoted" <label>', "b": "b & c", "c": "c"})
    frame.to_csv(workdir / "labels.csv", index=False)
    (workdir / "params.yaml").write_text(json.dumps({"base": {"labels": sorted(frame["llm_label"].unique())}}))
    result = cli("audit", "sample", workdir / "labels.csv", "--out", workdir / "tasks.json", "--size", "20",
                 "--label-config", workdir / "config.xml")
    assert result.exit_code == 0, result.output
    assert f"Label Studio config -> {workdir / 'config.xml'}" in result.output
    view = ET.fromstring((workdir / "config.xml").read_text())
    (text,) = view.findall("Text")
    (choices,) = view.findall("Choices")
    assert text.attrib == {"name": "text", "value": "$text"} and len(view) == 2
    assert choices.attrib["name"] == "gold_label" and choices.attrib["toName"] == "text"
    assert choices.attrib["choice"] == "single" and choices.attrib["required"] == "true"
    assert sorted(c.attrib["value"] for c in choices) == sorted(['a "quoted" <label>', "b & c", "c"])

    (workdir / "other.xml").unlink(missing_ok=True)
    result = cli("audit", "sample", workdir / "labels.csv", "--out", workdir / "tasks.txt", "--label-config",
                 workdir / "other.xml")
    assert result.exit_code == 2 and not (workdir / "other.xml").exists()  # a bad sheet: no config either
    result = cli("audit", "sample", workdir / "labels.csv", "--out", workdir / "t.json", "--label-config",
                 workdir / "labels.csv")
    assert result.exit_code == 2 and "--label-config is the same file as TABLE" in result.output


BAD_SHEETS = {
    "unknown id": ("id,gold_label\nr1,a\nzz,b\n", ["row 2", "column 'id'", "id not in the label table"]),
    "duplicate id": ("id,gold_label\nr1,a\nr1,b\n", ["rows 1, 2", "column 'id'", "duplicate id"]),
    "label outside the set": ("id,gold_label\nr1,a\nr2,angry\n", ["row 2", "column 'gold_label'", "label set"]),
    "bad weight": ("id,gold_label,audit_weight\nr1,a,0\n", ["row 1", "column 'audit_weight'", ">= 1"]),
    "no gold column": ("id,label\nr1,a\n", ["column 'gold_label'", "required column missing"]),
    "conflict": ("id,gold_label\nr0,c\n", ["row 1", "conflicts with the label table's existing gold_label"]),
    "two waves in one sheet": ("id,gold_label,audit_wave,audit_weight\nr1,a,1,4\nr2,a,2,4\n",
                               ["row 2", "column 'audit_wave'", "one audit wave"]),
    "legacy row in a wave": ("id,gold_label,audit_wave,audit_weight\nr0,a,1,4\n",
                             ["row 1", "column 'id'", "already drawn in another audit wave"]),
}


@pytest.mark.parametrize("name", sorted(BAD_SHEETS))
def test_bad_sheets_exit_2_with_one_line_and_write_nothing(workdir, cli, name):
    frame = scores().drop(columns=["cleanlab_label_quality"])
    frame.loc[0, "gold_label"] = "a"
    frame.to_csv(workdir / "labels.csv", index=False)
    (workdir / "params.yaml").write_text("base:\n  labels: [a, b, c]\n")
    content, fragments = BAD_SHEETS[name]
    (workdir / "sheet.csv").write_text(content)
    result = cli("audit", "merge", workdir / "labels.csv", workdir / "sheet.csv", "--out", workdir / "out.csv")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labelgate audit merge: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (workdir / "out.csv").exists()


def test_merge_without_ids_in_the_table_uses_text_hashes():
    from labelgate.contract import stable_id

    frame = pd.DataFrame({"text": ["x", "y", "z"], "llm_label": ["a", "b", "b"]})
    sheet = pd.DataFrame({"id": [stable_id("y")], "gold_label": ["a"]})
    merged, summary = merge_audit(frame, sheet, LABELS)
    assert merged["gold_label"].tolist() == [None, "a", None] and summary["merged"] == 1
    assert merged["audit_weight"].tolist()[1] == 2.0  # a simple random sample: carries both rows of label b
    assert summary["unmeasured_labels"] == ["a", "c"] and summary["legacy_rows"] == 1
    with pytest.raises(BadInputError):
        merge_audit(frame, pd.DataFrame({"id": ["nope"], "gold_label": ["a"]}), LABELS)


def test_audit_params_are_range_checked(workdir, cli):
    scores().to_parquet(workdir / "scores.parquet")
    (workdir / "params.yaml").write_text("audit:\n  oversample: 0.5\n")
    result = cli("audit", "sample", workdir / "scores.parquet", "--out", workdir / "s.csv")
    assert result.exit_code == 2 and "oversample" in result.output


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_a_merge_that_adds_nothing_rewrites_nothing(workdir, cli, suffix):
    """Every table format: the second merge of the same sheet (blank rows, over-sampled weights with many digits)
    leaves the table untouched, so DVC sees no change."""
    frame = legacy_table()
    table = workdir / f"labels{suffix}"
    {".csv": lambda: frame.to_csv(table, index=False), ".parquet": lambda: frame.to_parquet(table),
     ".jsonl": lambda: frame.to_json(table, orient="records", lines=True)}[suffix]()
    (workdir / "params.yaml").write_text("base:\n  labels: [a, b, c]\n")
    assert cli("audit", "sample", table, "--out", workdir / "s.json", "--size", "25", "--oversample", "3"
               ).exit_code == 0
    sheet = json.loads((workdir / "s.json").read_text())
    for k, record in enumerate(sheet):
        record["gold_label"] = None if k == 0 else "b"
    (workdir / "s.json").write_text(json.dumps(sheet))
    assert cli("audit", "merge", table, workdir / "s.json", "--out", table).exit_code == 0
    before, stamp = table.read_bytes(), table.stat().st_mtime_ns
    result = cli("audit", "merge", table, workdir / "s.json", "--out", table)
    assert result.exit_code == 0 and "unchanged: nothing rewritten" in result.output, result.output
    assert table.read_bytes() == before and table.stat().st_mtime_ns == stamp


def test_a_weighted_audit_without_a_recorded_wave_becomes_wave_1():
    """A table merged by an earlier labelgate: 30 gold rows with the weights of an over-sampled sheet, no
    audit_wave. The next sample is wave 2 and draws none of them; the merge records them as wave 1 (pi = 1 /
    weight), and every label's weights sum to its rows."""
    frame = scores()
    first, _ = sample_audit(frame, LABELS, AuditSampleParams(size=30, oversample=3.0, seed=4))
    old = frame.set_index("id")
    old.loc[first["id"], "gold_label"] = "a"
    old.loc[first["id"], "audit_weight"] = first["audit_weight"].to_numpy()
    old = old.reset_index()
    second, summary = sample_audit(old, LABELS, AuditSampleParams(size=20, seed=5))
    assert summary["wave"] == 2 and not set(second["id"]) & set(first["id"])
    second["gold_label"] = "b"
    merged, summary = merge_audit(old, second, LABELS)
    assert summary["legacy_rows"] == 0 and summary["wave"] == 2
    recorded = merged.set_index("id")
    assert (recorded.loc[first["id"], "audit_wave"] == 1).all()
    assert recorded.loc[first["id"], "audit_inclusion"].to_numpy() == pytest.approx(1 / first["audit_weight"])
    for label, rows in (("a", 100), ("b", 60), ("c", 40)):
        assert merged.loc[merged["llm_label"] == label, "audit_weight"].sum() == pytest.approx(rows)
