"""Harm benchmark: does `labelgate check` predict the accuracy a label set costs the fine-tuned model, and
does its verdict block exactly the sets that cost >= 3 points?

Usage (from the repository root; PYTHONPATH=src HF_HUB_OFFLINE=1; every step resumes from its cache):
  python bench/calibration/build_corpus.py; python bench/calibration/build_wordnet.py     # the corpora (once)
  python bench/calibration/finetune_truth.py run                 # the fine-tuned truth (slow; truth/<corpus>.jsonl)
  python bench/calibration/run_harm_benchmark.py proxies         # cheap proxies on every set (harm/proxies_*.jsonl)
  python bench/calibration/run_harm_benchmark.py check [--with-truth] [--rates 0.08 0.1 0.12] [--draws 0]
  python bench/calibration/run_harm_benchmark.py score           # -> results.md, results.json
  python bench/calibration/derive_defaults.py                    # -> derived_defaults.md

Label sets (labelsets.py): per corpus (tweets, fortunes, wordnet) the gold labels, the annotator's raw labels, and
4 noise kinds (uniform, class_conditional, llm, text_following) x rates 3-30% x draws 0-2. `check` gives each set a
simple random gold audit of 150 and of 300 rows (`gold_label` on the sampled rows) and runs
`labelgate check LABELS --test TEST --out verdict.json` in-process with the repository's params.yaml and
expectations/, keeping the verdict's figures, label-error block, status and blocking expectations. Its cache
(harm/checks_<corpus>.jsonl) is keyed by a fingerprint of src/labelgate, params.yaml and expectations/: after the
code or the params change, `check` re-runs every set (seconds each) and nothing is re-trained.

Scoring: the measured loss of a set is the fine-tuned, seed-paired accuracy drop (finetune_truth.py,
points); "risky" = loss >= 3 points (gate.max_accuracy_loss); sets within 0.75 points of it are grey (listed, not
scored). A policy is right on a set when it blocks exactly the risky ones. Targets per corpus and noise kind: right
on >= 95% of the non-grey sets and on >= 90% of the non-grey 5-15% sets; expected_accuracy_loss within 1.5 points
of the measured loss on >= 80%; its interval covers it on >= 90%. Baselines: today's error-rate rule
(label_error_rate_upper > gate.max_label_error) and the verdict as a whole.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from derive_loss_calibration import FIT_CORPORA, FIT_DRAWS  # noqa: E402
from finetune_truth import SEEDS, default_plan, read_records, summarise  # noqa: E402
from labelsets import KINDS, load_corpus, make_labels, noise_seed, set_frame, set_name  # noqa: E402
from noise import audit_sample  # noqa: E402

CORPORA = ("tweets", "fortunes", "wordnet")
AUDITS = (150, 300)
HARM_DIR = HERE / "harm"
RUNS_DIR = HERE / "runs" / "harm"
LIMIT_POINTS = 3.0      # "risky" = fine-tuned accuracy loss >= 3 points
GREY_POINTS = 0.75      # sets within this of the limit are listed, not scored
WITHIN_POINTS = 1.5     # target: expected_accuracy_loss within 1.5 points of the measured loss
BAND = (0.05, 0.15)     # the middle band of error rates
TARGETS = {"right": 0.95, "right_band": 0.90, "within": 0.80, "covers": 0.90}
LOSS_KEYS = ("expected_accuracy_loss", "expected_accuracy_loss_lower", "expected_accuracy_loss_upper")
DECIDING_KEYS = ("accuracy_loss", "accuracy_loss_lower", "accuracy_loss_upper")


# ----------------------------------------------------------------------------------------------------- the sets
def plan(corpus: str) -> list[tuple[str, float, int]]:
    """(kind, rate, draw) of every set of a corpus, most informative first (finetune_truth's order)."""
    return [(k, r, d) for (_, k, r, d) in default_plan((corpus,))]


def audit_mask(n: int, kind: str, rate: float, draw: int, size: int) -> np.ndarray:
    return audit_sample(n, size, seed=10_000_000 + noise_seed(kind, rate, draw) + size)


def _corpora(names):
    """(name, corpus) for each corpus whose data is built; the others are skipped with one line each."""
    for name in names:
        try:
            corpus = load_corpus(name)
        except (FileNotFoundError, OSError) as exc:
            print(f"skip corpus {name}: {exc}", flush=True)
            continue
        yield name, corpus


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _select(items, args):
    out = []
    for kind, rate, draw in items:
        if args.kinds and kind not in args.kinds and kind not in ("gold", "llm_raw"):
            continue
        if args.rates and kind not in ("gold", "llm_raw") and not any(abs(rate - r) < 1e-9 for r in args.rates):
            continue
        if args.draws is not None and draw not in args.draws:
            continue
        out.append((kind, rate, draw))
    return out


# -------------------------------------------------------------------------------------------------- proxies
def tfidf_model(c: float):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
                         LogisticRegression(C=c, max_iter=3000))


TFIDF_CS = (1.0, 3.0, 10.0, 30.0)


def pick_tfidf_c(texts: list[str], truth: np.ndarray) -> float:
    """The C of the TF-IDF logistic regression: best 5-fold CV accuracy on the gold training labels."""
    from sklearn.model_selection import cross_val_score

    scores = {c: float(cross_val_score(tfidf_model(c), texts, truth, cv=5).mean()) for c in TFIDF_CS}
    return max(scores, key=scores.get)


def cmd_proxies(args) -> None:
    """Per set: the frozen-MiniLM logistic probe (downstream.py) and a TF-IDF logistic regression, trained on the set
    and scored on the gold test set (accuracy, macro-F1); cached in harm/proxies_<corpus>.jsonl."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from downstream import PROBE_C, embed

    for cname, corpus in _corpora(args.corpora):
        path = HARM_DIR / f"proxies_{cname}.jsonl"
        done = {r["set"] for r in _jsonl(path) if "set" in r}
        texts = corpus.train["text"].tolist()
        test_texts = corpus.test["text"].tolist()
        code = {c: i for i, c in enumerate(corpus.labels)}
        y_test = corpus.test["label"].map(code).to_numpy()
        cache = HERE / "cache"
        x_train, x_test = embed(texts, cache_dir=cache), embed(test_texts, cache_dir=cache)
        meta = [r for r in _jsonl(path) if r.get("meta")]
        if meta:
            c_tfidf = meta[0]["tfidf_c"]
        else:
            c_tfidf = pick_tfidf_c(texts, corpus.truth)
            _append(path, {"meta": True, "tfidf_c": c_tfidf, "probe_c": PROBE_C})
        for kind, rate, draw in _select(plan(cname), args):
            name = set_name(kind, rate, draw)
            if name in done:
                continue
            try:
                codes, note = make_labels(corpus, kind, rate, draw)
            except ValueError as exc:
                print(f"skip {cname} {name}: {exc}", flush=True)
                continue
            t0 = time.perf_counter()
            probe = LogisticRegression(C=PROBE_C, max_iter=3000).fit(x_train, codes).predict(x_test)
            tfidf = tfidf_model(c_tfidf).fit(texts, codes).predict(test_texts)
            rec = {"set": name, "kind": kind, "rate": rate, "draw": draw, "note": note,
                   "true_error": float((codes != corpus.truth).mean()),
                   "probe_accuracy": float((probe == y_test).mean()),
                   "probe_macro_f1": float(f1_score(y_test, probe, average="macro", labels=range(len(code)),
                                                    zero_division=0)),
                   "tfidf_accuracy": float((tfidf == y_test).mean()),
                   "tfidf_macro_f1": float(f1_score(y_test, tfidf, average="macro", labels=range(len(code)),
                                                    zero_division=0)),
                   "seconds": round(time.perf_counter() - t0, 2)}
            _append(path, rec)
            print(f"{cname} {name}: probe {rec['probe_accuracy']:.3f} tfidf {rec['tfidf_accuracy']:.3f}", flush=True)


# ---------------------------------------------------------------------------------------------------- check
def code_fingerprint(params: Path, expectations: Path) -> str:
    """Content hash of what decides a verdict: the imported labelgate package's *.py, the params file and the
    expectation suites."""
    import labelgate

    package = Path(labelgate.__file__).resolve().parent  # the code that really runs (PYTHONPATH decides)
    h = hashlib.sha256()
    for f in sorted(package.rglob("*.py")):
        h.update(str(f.relative_to(package)).encode() + b"\0" + f.read_bytes())
    for f in [Path(params)] + sorted(Path(expectations).rglob("*.json")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


def _compact_verdict(verdict: dict | None) -> dict:
    """Everything of the verdict but its rendered table, with the outcomes cut to what the scoring reads."""
    if not verdict:
        return {}
    out = {k: v for k, v in verdict.items() if k not in ("table", "outcomes")}
    out["outcomes"] = [{k: o.get(k) for k in ("column", "status", "severity", "observed")}
                       for o in verdict.get("outcomes", [])]
    return out


def blocking(verdict: dict) -> list[str]:
    return [str(o.get("column")) for o in verdict.get("outcomes", [])
            if o.get("status") in ("fail", "error") and o.get("severity") in ("critical", "block")]


def run_check(table: Path, test: Path, labels, workdir: Path, *, params: Path, expectations: Path) -> dict:
    from typer.testing import CliRunner

    from labelgate.cli import app

    verdict_path = workdir / "verdict.json"
    verdict_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, ["check", str(table), "--out", str(verdict_path), "--labels", ",".join(labels),
                                   "--test", str(test), "--params", str(params), "--expectations",
                                   str(expectations)])
    out = {"exit": res.exit_code, "seconds": round(time.perf_counter() - t0, 2)}
    if res.exit_code not in (0, 1):
        out["error"] = (res.output or repr(res.exception))[-600:]
    verdict = json.loads(verdict_path.read_text()) if verdict_path.exists() else None
    out["verdict"] = _compact_verdict(verdict)
    out["blocked_by"] = blocking(verdict or {})
    return out


def cmd_check(args) -> None:
    fingerprint = code_fingerprint(args.params, args.expectations)
    print(f"code fingerprint {fingerprint}", flush=True)
    n_done, t_start = 0, time.time()
    for cname, corpus in _corpora(args.corpora):
        path = HARM_DIR / f"checks_{cname}.jsonl"
        done = {(r["set"], r["audit"]) for r in _jsonl(path) if r.get("fingerprint") == fingerprint}
        names = np.asarray(corpus.labels, dtype=object)
        test_path = RUNS_DIR / cname / "test.csv"
        test_path.parent.mkdir(parents=True, exist_ok=True)
        corpus.test.to_csv(test_path, index=False)
        items = _select(plan(cname), args)
        if args.with_truth:  # only the sets the score can use: a fine-tuned loss over --min-seeds seed pairs
            measured = {r["set"] for r in summarise(read_records(cname))
                        if len(r.get("paired_seeds", [])) >= args.min_seeds}
            items = [(k, r, d) for (k, r, d) in items if set_name(k, r, d) in measured]
        todo = [(k, r, d, a) for (k, r, d) in items for a in args.audits if (set_name(k, r, d), a) not in done]
        for kind, rate, draw, size in todo:
            name = set_name(kind, rate, draw)
            try:
                codes, note = make_labels(corpus, kind, rate, draw)
            except ValueError as exc:
                print(f"skip {cname} {name}: {exc}", flush=True)
                continue
            audited = audit_mask(len(codes), kind, rate, draw, size)
            frame = set_frame(corpus, codes).rename(columns={"label": "llm_label"})
            frame["gold_label"] = np.where(audited, names[corpus.truth], None)
            workdir = RUNS_DIR / cname / name / f"a{size}"
            workdir.mkdir(parents=True, exist_ok=True)
            frame.to_csv(workdir / "labels.csv", index=False)
            result = run_check(workdir / "labels.csv", test_path, corpus.labels, workdir, params=args.params,
                               expectations=args.expectations)
            rec = {"set": name, "kind": kind, "rate": rate, "draw": draw, "audit": size, "note": note,
                   "true_error": float((codes != corpus.truth).mean()),
                   "audited_error": float((codes[audited] != corpus.truth[audited]).mean()),
                   "fingerprint": fingerprint,
                   "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **result}
            _append(path, rec)
            n_done += 1
            v = rec["verdict"] or {}
            eal = find_figure(v, "expected_accuracy_loss")
            print(f"{cname} {name} a{size}: exit {rec['exit']} {v.get('status')} err "
                  f"{find_figure(v, 'label_error_rate')} eal {eal} ({rec['seconds']:.0f}s; "
                  f"{(time.time() - t_start) / n_done:.0f} s/check)", flush=True)


# ---------------------------------------------------------------------------------------------------- score
def find_figure(verdict: dict, key: str):
    """A figure of the verdict wherever it reports it: top level, `figures`, or a nested block (label_error, ...)."""
    if not verdict:
        return None
    if isinstance(verdict.get(key), (int, float)):
        return verdict[key]
    figures = verdict.get("figures") or {}
    if isinstance(figures.get(key), (int, float)):
        return figures[key]
    for value in verdict.values():
        if isinstance(value, dict) and isinstance(value.get(key), (int, float)):
            return value[key]
    return None


def flat_figures(verdict: dict) -> dict:
    """Every numeric figure of a verdict: `figures`, then the numbers of its nested blocks (label_error, ...)."""
    out = {k: v for k, v in (verdict.get("figures") or {}).items() if isinstance(v, (int, float))}
    for key, value in verdict.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.setdefault(key, value)
        elif isinstance(value, dict) and key != "figures":
            for k, v in value.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.setdefault(k, v)
    return out


def read_params_gate(params: Path) -> dict:
    import yaml

    return (yaml.safe_load(params.read_text()) or {}).get("gate", {}) or {}


CALIBRATION_KEYS = ("loss_learned_scale", "loss_rate_scale", "loss_concentration_scale", "loss_learned_power",
                    "loss_calibration_sd", "loss_calibration_sd_slope", "audit_confidence")


def read_params_calibration(params: Path) -> dict:
    """The estimator's calibration constants in the params file's `score:` section (what derive_defaults refits)."""
    import yaml

    score = (yaml.safe_load(params.read_text()) or {}).get("score", {}) or {}
    return {k: score[k] for k in CALIBRATION_KEYS if k in score}


def _share(xs):
    return float(np.mean(xs)) if len(xs) else None


def _spearman(a, b):
    if len(a) < 3:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr(a, b).statistic
    return None if rho is None or np.isnan(rho) else float(rho)


def score_rows(rows: list[dict]) -> dict:
    """Target shares over rows (one per set and audit size with a measured loss)."""
    scored = [r for r in rows if not r["grey"]]
    band = [r for r in scored if r["band"]]
    out = {"sets": len(rows), "grey": len(rows) - len(scored), "scored": len(scored), "band_scored": len(band),
           "risky": sum(r["risky"] for r in scored)}
    for policy in ("error_rule", "verdict", "loss_rule"):
        have = [r for r in scored if r[policy] is not None]
        have_band = [r for r in band if r[policy] is not None]
        out[policy] = {"n": len(have), "right": _share([r[policy] == r["risky"] for r in have]),
                       "n_band": len(have_band), "right_band": _share([r[policy] == r["risky"] for r in have_band]),
                       "blocked_safe": sum(1 for r in have if r[policy] and not r["risky"]),
                       "passed_risky": sum(1 for r in have if not r[policy] and r["risky"])}
    have = [r for r in rows if r["eal"] is not None]
    out["eal"] = {"n": len(have),
                  "within": _share([abs(r["eal"] - r["loss"]) <= WITHIN_POINTS + 1e-9 for r in have]),
                  "covers": _share([r["eal_lower"] is not None and r["eal_upper"] is not None
                                    and r["eal_lower"] - 1e-9 <= r["loss"] <= r["eal_upper"] + 1e-9 for r in have]),
                  "mean_abs_error": _share([abs(r["eal"] - r["loss"]) for r in have]), **truth_noise(have)}
    v = out["verdict"]  # the targets are on what users get: the whole verdict
    out["targets_met"] = None if not have else {
        "right": v["right"] is not None and v["right"] >= TARGETS["right"],
        "right_band": v["right_band"] is None or v["right_band"] >= TARGETS["right_band"],
        "within": out["eal"]["within"] >= TARGETS["within"], "covers": out["eal"]["covers"] >= TARGETS["covers"]}
    return out


def truth_noise(rows: list[dict]) -> dict:
    """How much of the within-1.5-points miss the measured loss's own seed noise explains. The measured loss is a
    mean over seeds with standard error se = std / sqrt(seeds): `truth_wide` = the share of checks whose measured
    loss's 95% t-interval is wider than +-1.5 points; `ceiling` = the share an exact estimate of the expected loss
    would get within 1.5 points of the measured one (normal, mean over checks of P(|N(0, se)| <= 1.5));
    `misses_in_noise` = of the checks missed by more than 1.5 points, the share missed by less than 1.5 points plus
    the measured loss's 95% half-width."""
    from scipy.stats import norm, t

    noisy = [r for r in rows if r.get("loss_std") is not None and r.get("loss_seeds", 0) > 1]
    if not noisy:
        return {"truth_wide": None, "ceiling": None, "misses_in_noise": None, "misses": 0}
    se = {id(r): r["loss_std"] / np.sqrt(r["loss_seeds"]) for r in noisy}
    half = {id(r): float(t.ppf(0.975, r["loss_seeds"] - 1)) * se[id(r)] for r in noisy}
    misses = [r for r in noisy if abs(r["eal"] - r["loss"]) > WITHIN_POINTS + 1e-9]
    return {"truth_wide": _share([half[id(r)] > WITHIN_POINTS for r in noisy]),
            "ceiling": _share([2 * norm.cdf(WITHIN_POINTS / se[id(r)]) - 1 if se[id(r)] > 0 else 1.0 for r in noisy]),
            "misses_in_noise": _share([abs(r["eal"] - r["loss"]) <= WITHIN_POINTS + half[id(r)] for r in misses]),
            "misses": len(misses)}


def in_band(row: dict) -> bool:
    """Whether a set (its rate and kind) is in the middle band the targets score apart: 5-15% of a noise kind."""
    return BAND[0] - 1e-9 <= row["rate"] <= BAND[1] + 1e-9 and row["kind"] in KINDS


def is_grey(loss: float) -> bool:
    """Whether a measured loss lies within GREY_POINTS of the limit: listed, not scored."""
    return abs(loss - LIMIT_POINTS) <= GREY_POINTS


def build_rows(cname: str, *, gate: dict, min_seeds: int, fingerprint: str | None,
               baseline_max_label_error: float = 0.13) -> tuple[list[dict], list[dict]]:
    """(scored rows: one per set and audit with a check and a measured loss; truth table: one per set)."""
    truth = {r["set"]: r for r in summarise(read_records(cname)) if len(r.get("paired_seeds", [])) >= min_seeds}
    proxies = {r["set"]: r for r in _jsonl(HARM_DIR / f"proxies_{cname}.jsonl") if "set" in r}
    gold_p = proxies.get("gold")
    checks: dict = {}
    for r in _jsonl(HARM_DIR / f"checks_{cname}.jsonl"):
        if fingerprint is None or r.get("fingerprint") == fingerprint:
            checks[(r["set"], r["audit"])] = r  # later lines win
    max_err = baseline_max_label_error  # today's error-rate policy, whatever the params under test say
    max_loss = float(gate.get("max_accuracy_loss", 0.03))
    table = []
    for kind, rate, draw in plan(cname):
        name = set_name(kind, rate, draw)
        t, p = truth.get(name), proxies.get(name)
        if t is None and p is None:
            continue
        row = {"corpus": cname, "set": name, "kind": kind, "rate": rate, "draw": draw,
               "true_error": (t or p)["true_error"], "note": (t or p).get("note", ""),
               "loss": t["drop"] if t else None, "loss_std": t.get("drop_std") if t else None,
               "f1_loss": t.get("f1_drop") if t else None, "seeds": t["paired_seeds"] if t else [],
               "ft_accuracy": t["accuracy"] if t else None, "drops": t.get("drops", []) if t else []}
        if p and gold_p:
            row["probe_loss"] = 100 * (gold_p["probe_accuracy"] - p["probe_accuracy"])
            row["tfidf_loss"] = 100 * (gold_p["tfidf_accuracy"] - p["tfidf_accuracy"])
        table.append(row)
    rows = []
    for trow in table:
        if trow["loss"] is None:
            continue
        for size in AUDITS:
            c = checks.get((trow["set"], size))
            if c is None:
                continue
            v = c.get("verdict") or {}
            upper = find_figure(v, "label_error_rate_upper")
            eal = [find_figure(v, k) for k in LOSS_KEYS]
            deciding = [find_figure(v, k) for k in DECIDING_KEYS]  # what the gate checks (= eal when predicted)
            if deciding[2] is not None:
                eal = [deciding[i] if eal[i] is None else eal[i] for i in range(3)]
            loss = trow["loss"]
            rows.append({
                **{k: trow[k] for k in ("corpus", "set", "kind", "rate", "draw", "true_error", "loss", "loss_std")},
                "loss_seeds": len(trow["seeds"]),
                "audit": size, "band": in_band(trow), "risky": loss >= LIMIT_POINTS, "grey": is_grey(loss),
                "status": v.get("status"), "exit": c.get("exit"), "blocked_by": c.get("blocked_by", []),
                "reason": v.get("reason"),
                "label_error_rate": find_figure(v, "label_error_rate"),
                "label_error_rate_lower": find_figure(v, "label_error_rate_lower"),
                "label_error_rate_upper": upper,
                "eal": None if eal[0] is None else 100 * eal[0],
                "eal_lower": None if eal[1] is None else 100 * eal[1],
                "eal_upper": None if eal[2] is None else 100 * eal[2],
                "error_rule": None if upper is None else upper > max_err + 1e-12,
                "verdict": None if c.get("exit") not in (0, 1) else c.get("exit") == 1,
                "loss_rule": None if eal[2] is None else eal[2] > max_loss + 1e-12,
                "check_s": c.get("seconds"), "fingerprint": c.get("fingerprint"), "figures": flat_figures(v)})
    return rows, table


FULL_SETTINGS = ROOT / "params-gpu.yaml"  # the full fine-tuning settings, measured on a subset (finetune_truth.py)


def full_settings(cname: str, rows: list[dict], table: list[dict]) -> list[dict]:
    """Per set with runs of the full fine-tuning settings (params-gpu.yaml `train:`, on this CPU, recorded apart):
    its seed-paired loss next to the packaged settings' loss and check's expected loss (mean over the audits), which
    is calibrated on the packaged settings."""
    packaged = {t["set"]: t for t in table}
    out = []
    for t in summarise(read_records(cname, FULL_SETTINGS)):
        if t["set"] == "gold" or "drop" not in t:
            continue
        checks = [r for r in rows if r["set"] == t["set"] and r["eal"] is not None]
        p = packaged.get(t["set"]) or {}
        out.append({"set": t["set"], "true_error": t["true_error"], "loss": t["drop"], "loss_std": t.get("drop_std"),
                    "seeds": len(t["paired_seeds"]), "run_s": t["wall_s"],
                    "packaged_loss": p.get("loss"), "packaged_seeds": len(p.get("seeds") or []),
                    "eal": _share([r["eal"] for r in checks]), "eal_upper": _share([r["eal_upper"] for r in checks])})
    return out


def proxy_agreement(table: list[dict]) -> dict:
    out = {}
    for proxy in ("probe_loss", "tfidf_loss"):
        both = [r for r in table if r.get("loss") is not None and r.get(proxy) is not None]
        a = [r[proxy] for r in both]
        b = [r["loss"] for r in both]
        out[proxy] = {"n": len(both), "spearman": _spearman(a, b),
                      "mean_abs_diff": _share([abs(x - y) for x, y in zip(a, b)]),
                      "mean_diff": _share([x - y for x, y in zip(a, b)])}
    return out


def best_threshold(pairs: list[tuple[float, bool]]) -> tuple[float | None, float | None]:
    """(threshold t, share right) of the rule "block when figure > t" that is right on the most (figure, risky) pairs;
    of equally good thresholds the lowest."""
    if not pairs:
        return None, None
    values = sorted({v for v, _ in pairs})
    candidates = [values[0] - 1.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1.0]
    shares = [(_share([(v > t) == risky for v, risky in pairs]), -t) for t in candidates]
    share, t = max(shares)
    return -t, share


CEILING_FIGURES = (  # (key, where it lives, label): what a threshold on each figure can reach
    ("eal", "checks", "check's expected loss (its point estimate)"),
    ("eal_upper", "checks", "check's upper bound (the loss rule at its best limit)"),
    ("probe_loss", "sets", "frozen-MiniLM probe loss (needs every row's gold label and the test set)"),
    ("tfidf_loss", "sets", "TF-IDF loss (needs every row's gold label and the test set)"),
)


def threshold_ceiling(rows: list[dict], tables: list[dict]) -> dict:
    """How far the verdict targets can be reached by any single threshold on a figure, pooled over the corpora and
    tuned on the very sets it is scored on (an optimistic ceiling): per figure the best threshold, its share right
    per corpus and in the 5-15% band, and each corpus's own best share (a threshold per corpus, more optimistic
    still). Check's figures are scored per check (set x audit), the proxies per set; grey sets are left out. Also
    the fine-tuned truth re-measured: how often one seed pair's drop is on the same side of the 3 points as the
    mean over the other seeds (no threshold tuned): the pipeline's own measurement is that noisy."""
    out: dict = {}
    for figure, source, label in CEILING_FIGURES:
        items = [{"corpus": x["corpus"], "value": x[figure], "risky": x["loss"] >= LIMIT_POINTS, "band": in_band(x)}
                 for x in (rows if source == "checks" else tables)
                 if x.get("loss") is not None and not is_grey(x["loss"]) and x.get(figure) is not None]
        t, share = best_threshold([(i["value"], i["risky"]) for i in items])
        if t is None:
            continue
        corpora = sorted({i["corpus"] for i in items}, key=list(CORPORA).index)
        out[figure] = {"label": label, "n": len(items), "threshold": t, "right": share,
                       "right_band": _share([(i["value"] > t) == i["risky"] for i in items if i["band"]]),
                       "per_corpus": {c: _share([(i["value"] > t) == i["risky"] for i in items if i["corpus"] == c])
                                      for c in corpora},
                       "own_best": {c: best_threshold([(i["value"], i["risky"]) for i in items
                                                       if i["corpus"] == c])[1] for c in corpora}}
    measured = [t for t in tables if t.get("loss") is not None and not is_grey(t["loss"])
                and t["kind"] != "gold" and len(t.get("drops") or []) >= 2]
    seeds = [(t["corpus"], d >= LIMIT_POINTS, (sum(t["drops"]) - d) / (len(t["drops"]) - 1) >= LIMIT_POINTS,
              in_band(t)) for t in measured for d in t["drops"]]
    if seeds:
        out["one_seed"] = {"label": "one fine-tuning seed pair against the mean of the other seeds (no threshold "
                                    "tuned)",
                           "n": len(seeds), "threshold": LIMIT_POINTS,
                           "right": _share([a == b for _, a, b, _ in seeds]),
                           "right_band": _share([a == b for _, a, b, band in seeds if band]),
                           "per_corpus": {c: _share([a == b for cc, a, b, _ in seeds if cc == c])
                                          for c in dict.fromkeys(c for c, *_ in seeds)}, "own_best": {}}
    return out


def _f(x, fmt=".1f"):
    return "—" if x is None else format(x, fmt)


def _pct(x):
    return "—" if x is None else f"{100 * x:.0f}%"


def held_out(row: dict) -> bool:
    """Whether the loss calibration never saw this check's set: another corpus, or another noise draw."""
    return row["corpus"] not in FIT_CORPORA or row["draw"] not in FIT_DRAWS


def cmd_score(args) -> None:
    gate = read_params_gate(args.params)
    fingerprint = (None if args.any_fingerprint else args.fingerprint
                   or code_fingerprint(args.params, args.expectations))
    results = {"command": "python bench/calibration/run_harm_benchmark.py " + " ".join(sys.argv[1:]),
               "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared by other jobs; fine-tuning on 1 "
                          f"torch thread (nice 5; the draw-1 runs nice 15)", "fingerprint": fingerprint,
               "gate": {k: gate.get(k) for k in ("max_label_error", "max_accuracy_loss")},
               "baseline_max_label_error": args.baseline_max_label_error,
               "params": str(args.params), "calibration": read_params_calibration(args.params),
               "limit_points": LIMIT_POINTS, "grey_points": GREY_POINTS, "within_points": WITHIN_POINTS,
               "targets": TARGETS, "min_seeds": args.min_seeds, "corpora": {}}
    all_rows: list[dict] = []
    all_tables: list[dict] = []
    for cname in args.corpora:
        rows, table = build_rows(cname, gate=gate, min_seeds=args.min_seeds, fingerprint=fingerprint,
                                 baseline_max_label_error=args.baseline_max_label_error)
        records = read_records(cname)
        entry = {"truth_runs": len(records),
                 "truth_wall_s": float(sum(r["wall_s"] for r in records)),
                 "truth_run_s_median": float(np.median([r["wall_s"] for r in records])) if records else None,
                 "check_s_median": float(np.median([r["check_s"] for r in rows if r["check_s"]])) if rows else None,
                 "summary": score_rows(rows),
                 "by_kind": {k: score_rows([r for r in rows if r["kind"] == k])
                             for k in dict.fromkeys(r["kind"] for r in rows)},
                 # what the loss calibration was not fitted on (derive_loss_calibration.py FIT_CORPORA, --fit-draws)
                 "held_out": score_rows([r for r in rows if held_out(r)]),
                 "held_out_by_kind": {k: score_rows([r for r in rows if r["kind"] == k and held_out(r)])
                                      for k in dict.fromkeys(r["kind"] for r in rows if held_out(r))},
                 "proxies": proxy_agreement(table),
                 "proxies_by_kind": {k: proxy_agreement([r for r in table if r["kind"] == k]) for k in KINDS},
                 "table": table, "rows": rows, "full_settings": full_settings(cname, rows, table)}
        results["corpora"][cname] = entry
        all_rows += rows
        all_tables += table
    results["overall"] = score_rows(all_rows)
    results["ceiling"] = threshold_ceiling(all_rows, all_tables)
    results["overall_held_out"] = score_rows([r for r in all_rows if held_out(r)])
    results["fit_draws"] = list(FIT_DRAWS)
    results["fit_corpora"] = list(FIT_CORPORA)
    (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (HERE / "results.md").write_text(render(results) + "\n")
    print(json.dumps({c: e["summary"] for c, e in results["corpora"].items()}, indent=1)[:3000])


def _policy_line(label, s, policy):
    p = s[policy]
    return (f"| {label} | {p['n']} | {_pct(p['right'])} | {p['n_band']} | {_pct(p['right_band'])} | "
            f"{p['blocked_safe']} | {p['passed_risky']} |")


def targets_table(res: dict) -> list[str]:
    """The issue's four targets per corpus and noise kind, on the whole verdict and the estimate, met or short."""
    def cell(value, target):
        if value is None:
            return "—"
        return f"{_pct(value)} {'met' if value >= target - 1e-9 else '**short**'}"

    lines = ["## Targets, per corpus and noise kind", "",
             f"Verdict right on >= {_pct(TARGETS['right'])} of the non-grey checks and on >= "
             f"{_pct(TARGETS['right_band'])} of those with 5-15% wrong labels; expected_accuracy_loss within "
             f"{WITHIN_POINTS:g} points of the measured loss on >= {_pct(TARGETS['within'])}, its interval covering it "
             f"on >= {_pct(TARGETS['covers'])}. (n) = non-grey checks for the verdict, all checks for the estimate.",
             "", "| corpus | kind | verdict right (n) | right, 5-15% (n) | within 1.5 pts (n) | interval covers |",
             "|---|---|--:|--:|--:|--:|"]
    for cname, e in res["corpora"].items():
        for kind, s in [("all", e["summary"])] + [(k, v) for k, v in e["by_kind"].items() if k in KINDS]:
            if not s["eal"]["n"]:
                continue
            v = s["verdict"]
            lines.append(f"| {cname} | {kind} | {cell(v['right'], TARGETS['right'])} ({v['n']}) | "
                         f"{cell(v['right_band'], TARGETS['right_band'])} ({v['n_band']}) | "
                         f"{cell(s['eal']['within'], TARGETS['within'])} ({s['eal']['n']}) | "
                         f"{cell(s['eal']['covers'], TARGETS['covers'])} |")
    return lines + [""]


def render(res: dict) -> str:
    lines = [
        "# Harm benchmark results", "",
        f"Command: `{res['command']}` (after `finetune_truth.py run`, `run_harm_benchmark.py proxies` and `check`)  ",
        f"Date: {res['date']}; machine: {res['machine']}; code fingerprint {res['fingerprint']}  ",
        f"Gate: {res['gate']}. Risky = fine-tuned loss >= {res['limit_points']:g} points; grey = within "
        f"{res['grey_points']:g} points of it (listed, not scored); truth = `labelgate train`'s packaged settings "
        f"(params.yaml `train:`), seed-paired drop against the gold labels over >= {res['min_seeds']} seeds.", "",
        f"Policies scored: **error rule** = today's `label_error_rate_upper > {res['baseline_max_label_error']}`; "
        "**verdict** = the whole `check` verdict (exit 1) at this code; **loss rule** = `accuracy_loss_upper > "
        "max_accuracy_loss` (when the verdict reports it). Targets: right on >= 95% of non-grey sets and >= 90% of "
        "non-grey 5-15% sets; expected loss within 1.5 points on >= 80%; interval covers on >= 90%.", ""]
    lines += targets_table(res)
    for cname, e in res["corpora"].items():
        s = e["summary"]
        role = ("the loss calibration and the gate limit are fitted on its draw(s) " + str(res.get("fit_draws"))
                if cname in res.get("fit_corpora", ()) else "held out whole: neither the loss calibration nor the "
                "gate limit saw it")
        lines += [f"## {cname}", "", f"Role: {role}.", "",
                  f"Fine-tuning runs: {e['truth_runs']} ({_f(e['truth_run_s_median'], '.0f')} s each, median; "
                  f"{e['truth_wall_s'] / 3600:.1f} h in all); checks scored: {s['sets']} (set x audit), grey "
                  f"{s['grey']}, risky {s['risky']} of {s['scored']}; median check {_f(e['check_s_median'], '.0f')} s.",
                  "", "| policy / kind | n | right | n 5-15% | right 5-15% | blocked safe | passed risky |",
                  "|---|--:|--:|--:|--:|--:|--:|"]
        for policy, label in (("error_rule", "error rule (today, baseline)"), ("verdict", "verdict"),
                              ("loss_rule", "loss rule")):
            lines.append(_policy_line(f"**{label}**, all kinds", s, policy))
            for kind, k in e["by_kind"].items():
                lines.append(_policy_line(f"{label}, {kind}", k, policy))
        lines += ["", "| expected_accuracy_loss | n | within 1.5 pts | interval covers | mean abs. error (pts) | "
                  "truth's 95% CI wider than +-1.5 | ceiling: exact estimate within 1.5 | misses within 1.5 + truth's "
                  "95% half-width |", "|---|--:|--:|--:|--:|--:|--:|--:|"]
        for kind, k in [("all kinds", s)] + list(e["by_kind"].items()):
            lines.append(f"| {kind} | {k['eal']['n']} | {_pct(k['eal']['within'])} | {_pct(k['eal']['covers'])} | "
                         f"{_f(k['eal']['mean_abs_error'], '.2f')} | {_pct(k['eal'].get('truth_wide'))} | "
                         f"{_pct(k['eal'].get('ceiling'))} | {_pct(k['eal'].get('misses_in_noise'))} "
                         f"({k['eal'].get('misses', 0)}) |")
        if e.get("held_out", {}).get("sets"):
            h = e["held_out"]
            lines += ["", f"**Held out** (sets the loss calibration never saw; it was fitted on draw(s) "
                      f"{res.get('fit_draws')} of {', '.join(res.get('fit_corpora', []))}): {h['sets']} checks, "
                      f"grey {h['grey']}, risky {h['risky']} of "
                      f"{h['scored']}.", "",
                      "| held out, kind | checks | within 1.5 pts | interval covers | mean abs. error (pts) | "
                      "loss rule right (non-grey) | verdict right (non-grey) | error rule right (non-grey) |",
                      "|---|--:|--:|--:|--:|--:|--:|--:|"]
            for kind, k in [("all kinds", h)] + list(e["held_out_by_kind"].items()):
                lines.append(f"| {kind} | {k['eal']['n']} | {_pct(k['eal']['within'])} | {_pct(k['eal']['covers'])} | "
                             f"{_f(k['eal']['mean_abs_error'], '.2f')} | {_pct(k['loss_rule']['right'])} "
                             f"({k['loss_rule']['n']}) | {_pct(k['verdict']['right'])} | "
                             f"{_pct(k['error_rule']['right'])} |")
        lines += ["", "Cheap proxies against the fine-tuned loss (sets with both):", "",
                  "| proxy | kind | n | Spearman | mean abs. diff (pts) | mean diff (pts) |",
                  "|---|---|--:|--:|--:|--:|"]
        for proxy, label in (("probe_loss", "frozen-MiniLM logistic probe"), ("tfidf_loss", "TF-IDF logistic")):
            for kind, agg in [("all", e["proxies"])] + list(e["proxies_by_kind"].items()):
                a = agg[proxy]
                if a["n"]:
                    lines.append(f"| {label} | {kind} | {a['n']} | {_f(a['spearman'], '.2f')} | "
                                 f"{_f(a['mean_abs_diff'], '.2f')} | {_f(a['mean_diff'], '+.2f')} |")
        if e.get("full_settings"):
            lines += ["", "The full fine-tuning settings (params-gpu.yaml `train:`: every layer, 3 epochs, max_length "
                      "128; "
                      "run on this CPU) on a subset, seed-paired against the gold labels with the same settings, next "
                      "to the packaged settings' loss and check's estimate (calibrated on the packaged settings; mean "
                      "over the audits):", "",
                      "| set | true error | full fine-tuning loss (seeds) | packaged loss (seeds) | check's expected "
                      "loss | its upper bound |", "|---|--:|--:|--:|--:|--:|"]
            for f in e["full_settings"]:
                lines.append(f"| {f['set']} | {100 * f['true_error']:.1f}% | {f['loss']:.1f} ± "
                             f"{_f(f['loss_std'], '.1f')} ({f['seeds']}) | {_f(f['packaged_loss'])} "
                             f"({f['packaged_seeds']}) | {_f(f['eal'])} | {_f(f['eal_upper'])} |")
        lines += ["", "Per set (loss in accuracy points; fine-tuned mean ± std over seeds):", "",
                  "| set | true error | fine-tuned loss | F1 loss | probe loss | TF-IDF loss | note |",
                  "|---|--:|--:|--:|--:|--:|---|"]
        for t in e["table"]:
            ft = "—" if t["loss"] is None else f"{t['loss']:.1f} ± {_f(t['loss_std'], '.1f')} ({len(t['seeds'])})"
            lines.append(f"| {t['set']} | {100 * t['true_error']:.1f}% | {ft} | {_f(t['f1_loss'])} | "
                         f"{_f(t.get('probe_loss'))} | {_f(t.get('tfidf_loss'))} | {t['note']} |")
        wrong = [r for r in e["rows"] if not r["grey"] and any(
            r[p] is not None and r[p] != r["risky"] for p in ("error_rule", "verdict", "loss_rule"))]
        lines += ["", "Checks where a policy is wrong (non-grey):", "",
                  "| set | audit | loss | risky | error rule | verdict | loss rule | error [interval] | "
                  "expected loss [interval] | blocked by |", "|---|--:|--:|---|---|---|---|---|---|---|"]
        for r in wrong:
            yn = (lambda x: "—" if x is None else ("block" if x else "pass"))
            lines.append(f"| {r['set']} | {r['audit']} | {r['loss']:.1f} | {'yes' if r['risky'] else 'no'} | "
                         f"{yn(r['error_rule'])} | {yn(r['verdict'])} | {yn(r['loss_rule'])} | "
                         f"{_f(r['label_error_rate'], '.3f')} [{_f(r['label_error_rate_lower'], '.3f')}, "
                         f"{_f(r['label_error_rate_upper'], '.3f')}] | {_f(r['eal'])} [{_f(r['eal_lower'])}, "
                         f"{_f(r['eal_upper'])}] | {', '.join(r['blocked_by'])} |")
        grey = sorted({(r["set"], round(r["loss"], 2)) for r in e["rows"] if r["grey"]})
        lines += ["", "Grey sets (not scored): " + (", ".join(f"{n} ({l:.1f})" for n, l in grey) or "none") + ".", ""]
    o = res["overall"]
    lines += ["## All corpora", "", "| policy | n | right | n 5-15% | right 5-15% | blocked safe | passed risky |",
              "|---|--:|--:|--:|--:|--:|--:|"]
    for policy in ("error_rule", "verdict", "loss_rule"):
        lines.append(_policy_line(policy, o, policy))
    lines.append(f"\nexpected_accuracy_loss: n {o['eal']['n']}, within 1.5 points {_pct(o['eal']['within'])}, "
                 f"interval covers {_pct(o['eal']['covers'])}.")
    h = res.get("overall_held_out") or {}
    if h.get("sets"):
        lines.append(f"Held out (other corpora, and draws other than {res.get('fit_draws')}): n {h['eal']['n']}, "
                     "within 1.5 points "
                     f"{_pct(h['eal']['within'])}, interval covers {_pct(h['eal']['covers'])}; loss rule right on "
                     f"{_pct(h['loss_rule']['right'])} of {h['loss_rule']['n']} non-grey checks.")
    return "\n".join(lines + ceiling_lines(res.get("ceiling") or {}))


def ceiling_lines(ceiling: dict) -> list[str]:
    """The threshold ceiling (threshold_ceiling) as a section of results.md."""
    if not ceiling:
        return []
    corpora = list(dict.fromkeys(c for f in ceiling.values() for c in f["per_corpus"]))
    lines = ["", "## How far a threshold on any figure goes (the ceiling of the verdict targets)", "",
             "Each figure's best single threshold (block when the figure exceeds it), tuned on the very non-grey sets "
             "it is scored on, pooled over the corpora; then each corpus with a threshold of its own (more "
             "optimistic still). The proxies are trained on every row's gold label and scored on the test set, which "
             "`check` never has. Targets: right on >= 95% per corpus, >= 90% in the 5-15% band.", "",
             "| figure | n | best threshold (pts) | right, pooled | right, 5-15% | "
             + " | ".join(f"{c} at it" for c in corpora) + " | "
             + " | ".join(f"{c}, own threshold" for c in corpora) + " |",
             "|---|--:|--:|--:|--:|" + "--:|" * (2 * len(corpora))]
    for f in ceiling.values():
        lines.append(f"| {f['label']} | {f['n']} | {_f(f['threshold'], '.2f')} | {_pct(f['right'])} | "
                     f"{_pct(f['right_band'])} | " + " | ".join(_pct(f['per_corpus'].get(c)) for c in corpora) + " | "
                     + " | ".join(_pct(f['own_best'].get(c)) for c in corpora) + " |")
    return lines


# ------------------------------------------------------------------------------------------------------ main
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("proxies", "check", "score"))
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA))
    parser.add_argument("--kinds", nargs="+", default=None)
    parser.add_argument("--rates", nargs="+", type=float, default=None)
    parser.add_argument("--draws", nargs="+", type=int, default=None)
    parser.add_argument("--audits", nargs="+", type=int, default=list(AUDITS))
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--expectations", type=Path, default=ROOT / "expectations")
    parser.add_argument("--min-seeds", type=int, default=len(SEEDS),
                        help="score a set's fine-tuned loss only with this many seed pairs")
    parser.add_argument("--any-fingerprint", action="store_true",
                        help="score: use the latest check of each set whatever code made it")
    parser.add_argument("--baseline-max-label-error", type=float, default=0.13,
                        help="score: the error-rate rule of today (label_error_rate_upper > this), the baseline row")
    parser.add_argument("--with-truth", action="store_true",
                        help="check: only the sets that have a fine-tuned loss (what score can use)")
    parser.add_argument("--fingerprint", default=None,
                        help="score: the checks made by this code fingerprint (default: the code that runs now)")
    args = parser.parse_args(argv)
    {"proxies": cmd_proxies, "check": cmd_check, "score": cmd_score}[args.command](args)


if __name__ == "__main__":
    main()
