"""The HTML page (labelgate.report.html): every section from a real gate run, user text escaped by the templates,
self-contained under its Content-Security-Policy, and checked in a headless browser."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from labelgate.report import ReportInputs
from labelgate.report.html import build_html, content_security_policy
from labelgate.report.inputs import observed_text
from report_case import EVIL, N_PLOTS, evaluation, failed, invoke, tags, text, worst

SECTION_IDS = ("verdict", "blockers", "label-error", "label-set", "entropy", "noise-matrix", "seeds", "learning-curves", "subsets")


@pytest.mark.slow
class TestGateReport:
    def test_blocked_gate_writes_both_reports(self, run, verdict, page, summary):
        assert verdict["blocked"] and verdict["subset"] == "raw"
        assert {o["suite"] for o in failed(verdict)} == {"label_scores", "label_summary", "training_stability"}
        assert 'data-status="block"' in page and "BLOCKED" in page
        assert summary.startswith("## ❌ labelgate: BLOCKED")

    def test_every_section_rendered(self, page):
        for anchor in SECTION_IDS:
            assert f'<section id="{anchor}">' in page
        assert 'class="missing"' not in page
        blockers = page[page.index('<section id="blockers">'):page.index('<section id="label-error">')]
        assert page.count("<img ") - blockers.count("<img ") == N_PLOTS
        assert blockers.count("<img ") >= 1  # the audit gap's learning curves

    def test_blockers_section_has_the_numbers_behind_each(self, page, verdict):
        blockers = text(page[page.index('<section id="blockers">'):page.index('<section id="label-error">')])
        for line in verdict["blocking"]:
            assert line in blockers
        assert "Subset raw: test scores per seed" in blockers and "0.660" in blockers  # accuracy_std's seeds
        assert "Audited error per LLM label" in blockers

    def test_verdict_table_explains_each_failure(self, page, verdict):
        table = page[page.index('<section id="verdict">'):page.index('<section id="label-error">')]
        rows = re.findall(r'<tr class="row-(?:fail|error)[^"]*">(.*?)</tr>', table, flags=re.S)
        assert len(rows) == len(failed(verdict))
        for outcome, row in zip(sorted(failed(verdict), key=worst), map(text, rows)):  # worst first
            assert outcome["description"] in row
            assert observed_text(outcome) in row and outcome["threshold"] in row and outcome["mitigation"] in row
            assert outcome["severity"] in row

    def test_self_contained(self, page):
        found = tags(page)
        linked = [(tag, name, value) for tag, attrs in found for name, value in attrs
                  if name in ("src", "href", "action", "srcset", "poster", "data", "formaction")]
        assert {tag for tag, _, _ in linked} == {"img"}  # no link, script src, iframe, form, object ...
        for _, _, value in linked:
            assert value.startswith("data:image/png;base64,")
            assert base64.b64decode(value.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        assert not any(name == "style" or name.startswith("on") for _, attrs in found for name, _ in attrs)
        style = page[page.index("<style>"):page.index("</style>")]
        assert "url(" not in style and "@import" not in style
        csp = next(dict(attrs)["content"] for tag, attrs in found if dict(attrs).get("http-equiv") ==
                   "Content-Security-Policy")
        assert csp.startswith("default-src 'none'; img-src data:;")

    def test_policy_admits_exactly_the_inline_style_and_script(self, page):
        csp = next(dict(attrs)["content"] for tag, attrs in tags(page) if dict(attrs).get("http-equiv") ==
                   "Content-Security-Policy")
        assert csp == content_security_policy()
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives == {"default-src": "'none'", "img-src": "data:", "style-src": directives["style-src"],
                              "script-src": directives["script-src"], "base-uri": "'none'", "form-action": "'none'"}
        for tag, directive in (("style", "style-src"), ("script", "script-src")):
            blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
            assert len(blocks) == 1
            digest = base64.b64encode(hashlib.sha256(blocks[0].encode("utf-8")).digest()).decode("ascii")
            assert directives[directive] == f"'sha256-{digest}'"

    def test_user_text_is_escaped(self, page):
        assert EVIL not in page and "<b>co</b>" not in page
        assert html.escape(EVIL) in page and html.escape("neu & <b>co</b>") in page
        assert page.count("<script>") == 1

    def test_script_in_label_and_subset_names_is_escaped(self):
        evil = "<script>alert(1)</script>"
        figures = evaluation()
        figures["labels"] = ["neg", evil]
        figures["subsets"][evil] = figures["subsets"].pop("cleanlab")
        outcome = {"suite": evil, "status": "fail", "severity": "block", "description": evil, "column": evil,
                   "expectation": "x", "observed": 0.5, "threshold": evil, "mitigation": evil}
        inputs = ReportInputs(
            verdict={"status": "block", "blocked": True, "reason": evil, "subset": evil, "outcomes": [outcome]},
            evaluation=figures, subsets={evil: {"rows_kept": 3, "rows_in": 4, "kept_per_class": {evil: 3}}},
            label_risk={"labels": ["neg", evil], "n_rows": 4, "llm_label_counts": {evil: 4}, "metrics": {evil: 0.1}})
        page = build_html(inputs)
        assert page.count("<script") == 1 and page.count("</script>") == 1  # only the page's own script
        content = page[:page.index("<footer>")]
        for section in ("verdict", "label-set", "seeds", "subsets"):
            body = content[content.index(f'<section id="{section}">'):]
            assert html.escape(evil, quote=False) in body[:body.index("</section>")], section
        assert evil in text(content)  # shown as text

    def test_subset_and_seed_figures(self, page, run):
        subsets = text(page[page.index('<section id="subsets">'):])
        kept = json.loads((run / "subsets" / "cleanlab.json").read_text())
        assert f"{kept['rows_kept']} / {kept['rows_in']}" in subsets
        assert f"{kept['audit_error_rate_kept']:.3f}" in subsets and f"{kept['audit_error_rate_all']:.3f}" in subsets
        seeds = text(page[page.index('<section id="seeds">'):page.index('<section id="learning-curves">')])
        assert "raw (gated)" in seeds and "gold (reference)" in seeds and "0.710 ± 0.046" in seeds

    def test_label_error_estimate_interval_audit_size_and_next_steps(self, page, run, verdict):
        risk = json.loads((run / "label_risk.json").read_text())["signals"]["label_error"]
        shown = (f"{risk['label_error_rate']:.2f} [{risk['label_error_rate_lower']:.2f}, "
                 f"{risk['label_error_rate_upper']:.2f}], audit of {risk['n_audited']} rows")
        section = text(page[page.index('<section id="label-error">'):page.index('<section id="label-set">')])
        assert f"label_error_rate {shown}" in section
        assert "stratified difference estimator" in section and "systematic share" in section
        assert verdict["label_error"]["next_steps"] and verdict["label_error"]["next_steps"][0] in section
        kept = json.loads((run / "subsets" / "cleanlab.json").read_text())
        subsets = text(page[page.index('<section id="subsets">'):])
        assert (f"{kept['label_error_rate']:.2f} [{kept['label_error_rate_lower']:.2f}, "
                f"{kept['label_error_rate_upper']:.2f}]") in subsets

    def test_gate_error_still_reports_blocked(self, run, tmp_path):
        figures = evaluation()
        del figures["subsets"]["raw"]  # the gated subset was not evaluated: the gate itself errors
        (tmp_path / "evaluate.json").write_text(json.dumps(figures))
        result = invoke("gate", "--evaluation", tmp_path / "evaluate.json", "--out", tmp_path / "gate.json",
                        "--params", run / "params.yaml", "--expectations", run / "expectations",
                        "--report-dir", tmp_path / "reports", "--subsets", run / "subsets", "--curves", run / "curves")
        assert result.exit_code == 2  # bad input, one line naming the file and key
        page = (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")
        banner = text(re.search(r'<header id="verdict-banner".*?</header>', page, flags=re.S).group(0))
        assert 'data-status="block"' in page and "BLOCKED gate error: BadInputError" in banner
        assert "has no evaluation of 'raw'" in banner
        assert "BLOCKED" in (tmp_path / "reports" / "summary.md").read_text(encoding="utf-8")


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


@pytest.mark.slow  # starts a headless browser
class TestBrowser:
    def test_rendered_dom_explains_the_verdict(self, browser, run, verdict, tmp_path):
        report = run / "reports" / "report.html"
        dom = _headless(browser, tmp_path / "profile", "--dump-dom", url=report.as_uri())
        body = re.search(r"<body([^>]*)>", dom).group(1)
        assert 'data-images-decoded="true"' in body, body  # every <img> has naturalWidth > 0
        page = report.read_text(encoding="utf-8")
        images = page.count("<img ")  # the sections' plots and the blockers section's curves
        assert images > N_PLOTS
        assert f'data-image-count="{images}"' in body and f'data-images-ok="{images}"' in body
        assert re.findall(r"<img\b[^>]*>", dom) and all(
            'src="data:image/png;base64,' in tag for tag in re.findall(r"<img\b[^>]*>", dom))
        assert len(re.findall(r"<img\b", dom)) == images  # the label named <img ...> stayed text
        banner = re.search(r'<header id="verdict-banner"[^>]*data-status="block"[^>]*>(.*?)</header>', dom, re.S)
        assert banner and text(banner.group(1)).startswith(f"labelgate verdict BLOCKED {verdict['reason']}")
        rows = [text(r) for r in re.findall(r'<tr class="row-(?:fail|error)[^"]*">(.*?)</tr>', dom, flags=re.S)]
        for outcome in failed(verdict):
            row = next(r for r in rows if r.startswith(outcome["description"]))
            for part in (observed_text(outcome), outcome["threshold"], outcome["mitigation"], outcome["severity"]):
                assert part in row, (part, row)
        assert EVIL in text(dom)  # shown as text

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
