"""The report: a self-contained HTML page and a Markdown PR summary, built from a real score -> filter -> gate run
on a synthetic label set (labels with HTML in their names), and checked in a headless browser."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from labelgate.cli import app
from labelgate.report import (
    ReportInputs,
    build_html,
    build_markdown,
    load_inputs,
    md_escape,
    observed_text,
    verdict_status,
)
from synthetic import flip_systematic, label_table, make_texts

# User text reaches the page: label names must be escaped, never become markup.
EVIL = "pos|<img src=x onerror=alert(1)>"
LABELS = ["neg", "neu & <b>co</b>", EVIL]
STRATEGIES = ("raw", "entropy", "cleanlab")
N_PLOTS = 4  # entropy histograms, noise matrix, seed scores, learning curves


def _evaluation() -> dict:
    def subset(accs, f1s, alpha, gap, plateau):
        return {"n_seeds": len(accs), "accuracy_mean": float(np.mean(accs)),
                "accuracy_std": float(np.std(accs, ddof=1)),
                "macro_f1_mean": float(np.mean(f1s)), "macro_f1_std": float(np.std(f1s, ddof=1)),
                "krippendorff_alpha": alpha, "unchanged_prediction_rate": alpha, "ensemble_accuracy": max(accs),
                "ensemble_macro_f1": max(f1s), "accuracy_gap_to_reference": gap, "macro_f1_gap_to_reference": gap,
                "plateau": plateau, "learning_curve_gain_last_doubling": 0.01, "learning_curve_decline": -0.01,
                "audit_accuracy_gap": gap, "audit_macro_f1_gap": gap,
                "seeds": {str(k): {"accuracy": a, "macro_f1": f} for k, (a, f) in enumerate(zip(accs, f1s))}}

    return {"reference": "gold", "labels": LABELS, "subsets": {
        "raw": subset([0.66, 0.72, 0.75], [0.61, 0.67, 0.70], 0.7, 0.12, True),
        "cleanlab": subset([0.78, 0.80, 0.79], [0.76, 0.78, 0.77], 0.9, 0.04, False),
        "gold": subset([0.82, 0.84, 0.83], [0.81, 0.83, 0.82], 0.93, 0.0, False),
    }}


def _curve(name: str, accs: list[float]) -> dict:
    points = [{"fraction": f, "n": int(480 * f), "accuracy": a, "macro_f1": a - 0.04}
              for f, a in zip((0.125, 0.25, 0.5, 1.0), accs)]
    return {"subset": name, "points": points, "final_accuracy": accs[-1], "gain_last_doubling": accs[-1] - accs[-2],
            "gap_to_reference": 0.85 - accs[-1], "plateau": name == "raw"}


def _invoke(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """score -> filter -> gate --report-dir on a noisy synthetic label set, plus a hand-written evaluation."""
    root = tmp_path_factory.mktemp("pipeline")
    repo = Path(__file__).resolve().parents[1]
    shutil.copytree(repo / "expectations", root / "expectations")
    (root / "params.yaml").write_text(
        "base:\n  labels: " + json.dumps(LABELS) + "\nfilter:\n  strategies: [raw, entropy, cleanlab]\n"
        "  min_class_count: 5\n", encoding="utf-8")
    texts, truth = make_texts(480, 3, seed=7)
    given = flip_systematic(truth, {(1, 0): 0.5, (2, 1): 0.4})
    frame = label_table(texts, given, LABELS, truth=truth, audit_share=0.25)
    probs = np.random.default_rng(0).dirichlet(np.full(3, 0.6), size=len(frame))
    probs[np.arange(len(frame)), given] += 1.5
    probs /= probs.sum(axis=1, keepdims=True)
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, k]
    frame.to_csv(root / "labels.csv", index=False)
    pd.DataFrame({"text": ["x"] * 90, "label": LABELS * 30}).to_csv(root / "test.csv", index=False)
    common = ["--params", root / "params.yaml"]
    result = _invoke("score", root / "labels.csv", "--test", root / "test.csv", "--out", root / "scores.parquet",
                     "--summary", root / "label_risk.json", *common, "--expectations", root / "expectations")
    assert result.exit_code == 0, result.output
    for strategy in STRATEGIES:
        result = _invoke("filter", root / "scores.parquet", "--strategy", strategy,
                         "--out", root / "subsets" / f"{strategy}.parquet", *common)
        assert result.exit_code == 0, result.output
    (root / "evaluate.json").write_text(json.dumps(_evaluation()))
    (root / "curves").mkdir()
    for name, accs in {"raw": [0.62, 0.68, 0.705, 0.709], "gold": [0.65, 0.74, 0.8, 0.85]}.items():
        (root / "curves" / f"{name}.json").write_text(json.dumps(_curve(name, accs)))
    result = _invoke("gate", "--scores", root / "scores.parquet", "--label-risk", root / "label_risk.json",
                     "--evaluation", root / "evaluate.json", "--out", root / "gate.json", *common,
                     "--expectations", root / "expectations", "--report-dir", root / "reports",
                     "--subsets", root / "subsets", "--curves", root / "curves")
    assert result.exit_code == 1, result.output  # systematic noise and unstable seeds: blocked
    return root


@pytest.fixture(scope="module")
def verdict(run) -> dict:
    return json.loads((run / "gate.json").read_text())


@pytest.fixture(scope="module")
def page(run) -> str:
    return (run / "reports" / "report.html").read_text(encoding="utf-8")


def _inputs(run: Path, **overrides) -> ReportInputs:
    paths = dict(verdict=run / "gate.json", label_risk=run / "label_risk.json", scores=run / "scores.parquet",
                 evaluation=run / "evaluate.json", subsets=run / "subsets", curves=run / "curves")
    paths.update(overrides)
    return load_inputs(**paths)


def _text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _tags(page: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""
    from html.parser import HTMLParser

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, [(name, value or "") for name, value in attrs]))

    parser = Collect()
    parser.feed(page)
    return parser.tags


def _failed(verdict: dict) -> list[dict]:
    return [o for o in verdict["outcomes"] if o["status"] in ("fail", "error")]


class TestGateReport:
    def test_blocked_gate_writes_both_reports(self, run, verdict, page):
        assert verdict["blocked"] and verdict["subset"] == "raw"
        assert {o["suite"] for o in _failed(verdict)} == {"label_risk", "label_summary", "training_stability"}
        assert 'data-status="block"' in page and "BLOCKED" in page
        assert (run / "reports" / "summary.md").read_text(encoding="utf-8").startswith("## ❌ labelgate: BLOCKED")

    def test_every_section_rendered(self, page):
        for anchor in ("verdict", "label-error", "label-set", "entropy", "noise-matrix", "seeds", "learning-curves", "subsets"):
            assert f'<section id="{anchor}">' in page
        assert 'class="missing"' not in page
        assert page.count("<img ") == N_PLOTS

    def test_verdict_table_explains_each_failure(self, page, verdict):
        table = page[page.index('<section id="verdict">'):page.index('<section id="label-error">')]
        rows = re.findall(r'<tr class="row-(?:fail|error)[^"]*">(.*?)</tr>', table, flags=re.S)
        assert len(rows) == len(_failed(verdict))
        for outcome, row in zip(sorted(_failed(verdict), key=_worst), map(_text, rows)):  # worst first
            assert outcome["description"] in row
            assert observed_text(outcome) in row and outcome["threshold"] in row and outcome["mitigation"] in row
            assert outcome["severity"] in row

    def test_self_contained(self, page):
        tags = _tags(page)
        linked = [(tag, name, value) for tag, attrs in tags for name, value in attrs
                  if name in ("src", "href", "action", "srcset", "poster", "data", "formaction")]
        assert {tag for tag, _, _ in linked} == {"img"}  # no link, script src, iframe, form, object ...
        for _, _, value in linked:
            assert value.startswith("data:image/png;base64,")
            assert base64.b64decode(value.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        assert not any(name == "style" or name.startswith("on") for _, attrs in tags for name, _ in attrs)
        style = page[page.index("<style>"):page.index("</style>")]
        assert "url(" not in style and "@import" not in style
        csp = next(dict(attrs)["content"] for tag, attrs in tags if dict(attrs).get("http-equiv") ==
                   "Content-Security-Policy")
        assert csp.startswith("default-src 'none'; img-src data:;")

    def test_user_text_is_escaped(self, page):
        assert EVIL not in page and "<b>co</b>" not in page
        assert html.escape(EVIL) in page and html.escape("neu & <b>co</b>") in page
        assert page.count("<script>") == 1

    def test_subset_and_seed_figures(self, page, run):
        subsets = _text(page[page.index('<section id="subsets">'):])
        kept = json.loads((run / "subsets" / "cleanlab.json").read_text())
        assert f"{kept['rows_kept']} / {kept['rows_in']}" in subsets
        assert f"{kept['audit_error_rate_kept']:.3f}" in subsets and f"{kept['audit_error_rate_all']:.3f}" in subsets
        seeds = _text(page[page.index('<section id="seeds">'):page.index('<section id="learning-curves">')])
        assert "raw (gated)" in seeds and "gold (reference)" in seeds and "0.710 ± 0.046" in seeds


    def test_label_error_estimate_interval_audit_size_and_next_steps(self, page, run, verdict):
        risk = json.loads((run / "label_risk.json").read_text())["signals"]["label_error"]
        shown = (f"{risk['label_error_rate']:.2f} [{risk['label_error_rate_lower']:.2f}, "
                 f"{risk['label_error_rate_upper']:.2f}], audit of {risk['n_audited']} rows")
        section = _text(page[page.index('<section id="label-error">'):page.index('<section id="label-set">')])
        assert f"label_error_rate {shown}" in section
        assert "stratified difference estimator" in section and "systematic share" in section
        assert verdict["label_error"]["next_steps"] and verdict["label_error"]["next_steps"][0] in section
        summary = (run / "reports" / "summary.md").read_text(encoding="utf-8")
        assert f"**label_error_rate {md_escape(shown)}**" in summary
        kept = json.loads((run / "subsets" / "cleanlab.json").read_text())
        subsets = _text(page[page.index('<section id="subsets">'):])
        assert (f"{kept['label_error_rate']:.2f} [{kept['label_error_rate_lower']:.2f}, "
                f"{kept['label_error_rate_upper']:.2f}]") in subsets


def _worst(outcome: dict) -> int:
    return {"error": 0, "fail": 1}[outcome["status"]] + (outcome["severity"] == "warn")


class TestMissingInputs:
    def test_check_output_before_training(self, run, tmp_path):
        """What `labelgate check` leaves: a verdict over label figures, no evaluation, subsets or curves."""
        result = _invoke("gate", "--scores", run / "scores.parquet", "--label-risk", run / "label_risk.json",
                         "--out", tmp_path / "check.json", "--params", run / "params.yaml",
                         "--expectations", run / "expectations")
        assert result.exit_code == 1, result.output
        inputs = _inputs(run, verdict=tmp_path / "check.json", evaluation=tmp_path / "nope.json",
                         subsets=tmp_path / "none", curves=None)
        page = build_html(inputs)
        assert f"No evaluation (train and evaluate the subsets first): {tmp_path / 'nope.json'} not found" in (
            _text(page))
        assert "No learning curves: not given" in _text(page) and "No filter subsets:" in _text(page)
        assert page.count("<img ") == 2  # entropy and noise matrix still drawn
        summary = build_markdown(inputs)
        assert "| Subset |" not in summary and "**Label set:**" in summary

    def test_nothing_at_all(self, tmp_path):
        inputs = load_inputs(verdict=tmp_path / "gate.json")
        page = build_html(inputs)
        assert 'data-status="none"' in page and "NO VERDICT" in page
        assert page.count('class="missing"') == 8  # every section
        assert build_markdown(inputs).startswith("## ❔ labelgate: NO VERDICT")
        result = _invoke("report", "--verdict", tmp_path / "gate.json", "--label-risk", tmp_path / "x.json",
                         "--scores", tmp_path / "x.parquet", "--evaluation", tmp_path / "e.json",
                         "--subsets", tmp_path / "s", "--curves", tmp_path / "c", "--html", tmp_path / "r.html",
                         "--markdown", tmp_path / "s.md")
        assert result.exit_code == 2 and "none of the report inputs exist" in result.output
        assert not (tmp_path / "r.html").exists()

    def test_malformed_inputs_cost_only_their_section(self, run, tmp_path):
        risk = json.loads((run / "label_risk.json").read_text())
        risk["signals"]["cleanlab"]["noise_matrix"] = [[1.0, 0.0]]
        (tmp_path / "risk.json").write_text(json.dumps(risk))
        (tmp_path / "evaluate.json").write_text("{not json")
        inputs = _inputs(run, label_risk=tmp_path / "risk.json", evaluation=tmp_path / "evaluate.json")
        text = _text(build_html(inputs))
        assert "The noise matrix has shape (1, 2), which does not match the 3 labels." in text
        assert f"No evaluation (train and evaluate the subsets first): {tmp_path / 'evaluate.json'}: could not " \
               "read (JSONDecodeError" in text
        assert "BLOCKED" in text and "Entropy of the LLM labels per class" in text

    def test_unrecognised_status_fails_closed(self):
        assert verdict_status({"status": "ok", "blocked": False}) == "block"
        assert verdict_status({"status": "warn", "blocked": False}) == "warn"
        page = build_html(ReportInputs(verdict={"status": "ok", "outcomes": []}))
        assert 'data-status="block"' in page and "unrecognised verdict status" in page

    def test_gate_error_still_reports_blocked(self, run, tmp_path):
        evaluation = _evaluation()
        del evaluation["subsets"]["raw"]  # the gated subset was not evaluated: the gate itself errors
        (tmp_path / "evaluate.json").write_text(json.dumps(evaluation))
        result = _invoke("gate", "--evaluation", tmp_path / "evaluate.json", "--out", tmp_path / "gate.json",
                         "--params", run / "params.yaml", "--expectations", run / "expectations",
                         "--report-dir", tmp_path / "reports", "--subsets", run / "subsets", "--curves", run / "curves")
        assert result.exit_code == 1
        page = (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")
        banner = _text(re.search(r'<header id="verdict-banner".*?</header>', page, flags=re.S).group(0))
        assert 'data-status="block"' in page and "BLOCKED gate error: KeyError" in banner
        assert "BLOCKED" in (tmp_path / "reports" / "summary.md").read_text(encoding="utf-8")


class TestMarkdown:
    def test_summary_for_a_pr_comment(self, run, verdict):
        summary = (run / "reports" / "summary.md").read_text(encoding="utf-8")
        lines = summary.splitlines()
        assert len(lines) < 60
        assert lines[2].startswith(f"**{verdict['reason']}**")
        for outcome in _failed(verdict):
            column = outcome["column"].replace("_", "\\_")
            row = next(line for line in lines if line.startswith("| ") and f"({column})" in line)
            assert observed_text(outcome) in row
            assert outcome["threshold"].replace(">", "&gt;").replace("<", "&lt;") in row
            assert md_escape(outcome["mitigation"]) in row
            assert row.startswith("| ⚠️ warn" if outcome["severity"] == "warn" else "| ❌ block")
        assert "| raw (gated) | 480 / 480 |" in summary
        assert "| gold (reference) | — | — | — | 0.830 ± 0.010 |" in summary
        assert "Full report with plots: report.html" in summary

    def test_user_text_cannot_break_the_table_or_mention(self):
        outcome = {"suite": "s", "status": "fail", "severity": "block", "description": "a | b <script> @team",
                   "column": "c", "observed": 0.5, "threshold": "<= 0.1", "mitigation": "[x](http://e)"}
        summary = build_markdown(ReportInputs(verdict={"status": "block", "blocked": True, "reason": "r",
                                                       "outcomes": [outcome]}))
        row = next(line for line in summary.splitlines() if line.startswith("| ❌"))
        assert row.count(" | ") == 4  # five cells: nothing from the user text split a cell
        assert "a \\| b &lt;script&gt; &#64;team" in row and "\\[x\\](http://e)" in row

    def test_long_verdicts_stay_short(self):
        outcomes = [{"suite": "s", "status": "fail", "severity": "warn", "description": f"check {i}", "column": f"c{i}",
                     "observed": i / 100, "threshold": "<= 0", "mitigation": "m"} for i in range(80)]
        subsets = {f"s{i}": {"rows_kept": 10, "rows_in": 20} for i in range(30)}
        summary = build_markdown(ReportInputs(verdict={"status": "warn", "outcomes": outcomes}, subsets=subsets))
        assert len(summary.splitlines()) < 60
        assert "…and 65 more failed expectation(s)" in summary and "…and 20 more subset(s)" in summary


# ----------------------------------------------------------------------------------------------------- browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BANNER_RED = np.array([0xB4, 0x23, 0x18])  # .status-block


@pytest.fixture(scope="module")
def browser() -> str:
    names = [os.environ.get("LABELGATE_CHROMIUM"), *BROWSERS]
    found = next((shutil.which(n) for n in names if n and shutil.which(n)), None)
    if found is None:
        if os.environ.get("LABELGATE_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail("LABELGATE_REQUIRE_BROWSER is set but no chromium was found: run `make browser`")
        pytest.skip("chromium not installed (`make browser`); set LABELGATE_REQUIRE_BROWSER=1 to fail instead")
    return found


def _headless(browser: str, profile: Path, *args: str, url: str) -> str:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", *args, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


class TestBrowser:
    def test_rendered_dom_explains_the_verdict(self, browser, run, verdict, tmp_path):
        report = run / "reports" / "report.html"
        dom = _headless(browser, tmp_path / "profile", "--dump-dom", url=report.as_uri())
        body = re.search(r"<body([^>]*)>", dom).group(1)
        assert 'data-images-decoded="true"' in body, body  # every <img> has naturalWidth > 0
        assert f'data-image-count="{N_PLOTS}"' in body and f'data-images-ok="{N_PLOTS}"' in body
        assert re.findall(r"<img\b[^>]*>", dom) and all(
            'src="data:image/png;base64,' in tag for tag in re.findall(r"<img\b[^>]*>", dom))
        assert len(re.findall(r"<img\b", dom)) == N_PLOTS  # the label named <img ...> stayed text
        banner = re.search(r'<header id="verdict-banner"[^>]*data-status="block"[^>]*>(.*?)</header>', dom, re.S)
        assert banner and _text(banner.group(1)).startswith(f"labelgate verdict BLOCKED {verdict['reason']}")
        rows = [_text(r) for r in re.findall(r'<tr class="row-(?:fail|error)[^"]*">(.*?)</tr>', dom, flags=re.S)]
        for outcome in _failed(verdict):
            row = next(r for r in rows if r.startswith(outcome["description"]))
            for part in (observed_text(outcome), outcome["threshold"], outcome["mitigation"], outcome["severity"]):
                assert part in row, (part, row)
        assert EVIL in _text(dom)  # shown as text

    def test_screenshot_is_not_blank(self, browser, run, tmp_path):
        from PIL import Image

        shot = tmp_path / "report.png"
        _headless(browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000",
                  url=(run / "reports" / "report.html").as_uri())
        with Image.open(shot) as image:
            assert image.size == (1280, 2000)
            pixels = np.asarray(image.convert("RGB"), dtype=int)
        assert pixels.std() > 20
        assert (np.abs(pixels - 255).sum(axis=2) > 30).mean() > 0.1  # a tenth of the page is not white
        banner = pixels[10:60, 10:1200]
        assert (np.abs(banner - BANNER_RED).max(axis=2) <= 12).mean() > 0.5  # the red BLOCKED banner on top
