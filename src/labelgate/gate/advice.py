"""The verdict's wording: one line per blocker, and the next steps for the accuracy loss and the audit's label error
(how many more rows to audit, what to relabel, why the audit cannot be trusted)."""

from __future__ import annotations

from typing import Any

from labelgate.gate.decision import Verdict
from labelgate.gate.figures import loss_figures
from labelgate.gate.params import GateParams
from labelgate.harm import DECIDING, PREDICTED, SOURCE, loss_text
from labelgate.vocabulary import AUDIT_EVIDENCE, BLOCK, ERRORED, FAILED, PASS, WARN


def blocking_lines(verdict: Verdict) -> list[str]:
    """One line per blocker, in the order a reviewer fixes them: every failed blocking expectation (with the figure,
    its limit and, for the audit's label error, whether more audit rows can settle it), every expectation that
    could not be evaluated, every required figure not measured and every suite that measured nothing."""
    lines = []
    advice = verdict.label_error or {}
    for o in sorted(verdict.outcomes, key=lambda o: o.get("column") != f"{DECIDING}_upper"):  # the lead rule first
        if o["status"] == FAILED and o["severity"] == BLOCK:
            observed = o["observed"]
            shown = f"{observed:.3f}" if isinstance(observed, float) else str(observed)
            line = f"{o['description'] or o['column']}: {shown} (limit {o['threshold']})"
            loss = verdict.accuracy_loss or {}
            if o["column"] == f"{DECIDING}_upper" and loss.get("text"):
                lead = (f"accuracy loss {loss['text']} ({loss.get(SOURCE)}), limit "
                        f"{100 * loss['max_accuracy_loss']:g} points on the upper bound")
                line = (f"audit too small: {lead} is undecided, label about {loss['rows_needed']} more rows"
                        if loss.get("rows_needed") else f"{lead}: {loss.get('status')}")
            elif o["column"] == AUDIT_EVIDENCE and advice.get("rows_needed"):
                line = (f"audit too small: label about {advice['rows_needed']} more rows to certify "
                        f"label_error_rate <= {advice['max_label_error']:g} (now {_estimate_line(advice)})")
            elif o["column"] == AUDIT_EVIDENCE and advice.get("label_error_rate") is not None:
                high = advice["label_error_rate"] >= advice["max_label_error"]
                line = (f"label error {'too high' if high else 'not certified'}: {_estimate_line(advice)}, limit "
                        f"{advice['max_label_error']:g} on the upper bound")
            lines.append(line)
        elif o["status"] == ERRORED:
            lines.append(f"{o['description'] or o['column']}: could not be evaluated ({o['error']})")
    lines.extend(f"required figure not measured: {name}" for name in verdict.missing_required
                 if not any(o["column"] in name.split(" or ") and o["status"] == ERRORED for o in verdict.outcomes))
    lines.extend(part for part in verdict.reason.split("; ") if part.startswith("nothing measured"))
    if verdict.blocked and not lines:
        lines.append(verdict.reason)
    return list(dict.fromkeys(lines))


def _estimate_line(advice: dict[str, Any]) -> str:
    from labelgate.estimation import estimate_text

    return estimate_text(advice)


def _accuracy_loss_advice(verdict: Verdict, label_risk: dict[str, Any], evaluation: dict[str, Any] | None,
                          params: GateParams) -> str:
    """Attach the deciding accuracy loss, whether it is within, above or undecided against gate.max_accuracy_loss,
    and what to do: an undecided predicted loss says how many more audited rows would decide it (only when more rows
    can), a loss above the limit names the classes and words whose errors the model learns. Returns the reason's
    part for the loss ("" when it is within the limit)."""
    loss = loss_figures(label_risk, evaluation, subset=params.subset)
    value, low, high = loss.get(DECIDING), loss.get(f"{DECIDING}_lower"), loss.get(f"{DECIDING}_upper")
    limit = params.max_accuracy_loss
    signal = (label_risk.get("signals") or {}).get("accuracy_loss") or {}
    text = loss_text(value, low, high)
    steps, more = [], None
    if text == "not measured":
        status = "not measured"
        steps.append(signal.get("reason") or "audit rows with gold labels (labelgate audit sample / merge)")
    elif high <= limit:
        status = "within"
    elif value >= limit:
        status = "above"
        classes = signal.get("loss_by_llm_label") or {}
        worst = sorted((n for n, c in classes.items() if c.get("reproduced_errors")),
                       key=lambda n: -classes[n]["reproduced_errors"])
        words = signal.get("loss_words") or []
        steps.append("the model learns the LLM's errors"
                     + (f" on rows it labels {', '.join(worst[:3])}" if worst else "")
                     + (f" (words: {', '.join(words[:6])})" if words else "")
                     + ": re-prompt or relabel those classes (few-shot examples with these words), or filter "
                       "(labelgate filter) and gate the subset")
    else:
        status = "undecided"
        more = loss_rows_needed(signal, value, high, limit) if loss.get(SOURCE) == PREDICTED else None
        if more:
            steps.append(f"audit about {more} more rows (labelgate audit sample) to decide the accuracy loss")
        else:
            steps.append("more audit rows cannot decide it (the calibration's own uncertainty is larger than the "
                         "margin): filter or re-prompt to bring the loss down")
    verdict.accuracy_loss = {
        DECIDING: value, f"{DECIDING}_lower": low, f"{DECIDING}_upper": high, SOURCE: loss.get(SOURCE),
        "text": text, "max_accuracy_loss": limit, "status": status, "rows_needed": more,
        "predicted": loss.get("predicted"), "next_steps": steps,
        # what the predicted figure is made of (signals/accuracy_loss.py)
        **{k: signal.get(k) for k in ("label_error_rate", "errors_learned_share", "errors_learned_chance",
                                      "errors_learned_excess", "audited_errors", "error_concentration",
                                      "calibration")},
    }
    lead = f"accuracy loss {text} ({loss.get(SOURCE)}), limit {100 * limit:g} points"
    if status == "above":
        return f"{lead}: above the limit"
    if status == "undecided" and more:
        return f"audit too small: {lead} is undecided, label about {more} more rows"
    if status == "undecided":
        return f"{lead} is undecided and more audit rows cannot decide it"
    return ""


def note_uncalibrated(verdict: Verdict, differences: list[str]) -> None:
    """When the predicted accuracy loss decides and params `train:` differs from the settings its calibration was
    fitted with (train.params.uncalibrated_settings): say so first in the reason and the loss's next steps, and turn
    a PASS into a WARN. Another learner loses other amounts on the same labels (the full fine-tuning settings against
    the packaged ones, at 10% wrong labels: bench/calibration/results.md), so a figure calibrated for one cannot
    certify a set for the other."""
    loss = verdict.accuracy_loss
    if not differences or not loss or loss.get(SOURCE) != PREDICTED or loss.get("text") == "not measured":
        return
    note = ("the predicted accuracy loss is calibrated for the packaged train: settings, and params train: differs ("
            + ", ".join(differences) + ")")
    loss["uncalibrated_train_settings"] = differences
    loss["next_steps"] = [*loss.get("next_steps", []), "measure the loss with the pipeline's own fine-tuned models "
                          "(dvc repro: a gold reference or the audit reference), or re-fit the calibration for these "
                          "settings (bench/calibration/finetune_truth.py --params, derive_loss_calibration.py)"]
    verdict.reason = "; ".join(part for part in (note, verdict.reason) if part)
    if verdict.status == PASS:
        verdict.status = WARN


def loss_rows_needed(signal: dict[str, Any], value: float, upper: float, limit: float) -> int | None:
    """About how many more audited rows would bring the predicted loss's upper bound to `limit`, the point
    estimates unchanged (signals.accuracy_loss.projected_upper: the bound recomputed through the calibrated form with
    the audit's half-widths shrunk, the calibration's sd kept): the fewest rows, by bisection. None when no number of
    the rows not yet audited can (or nothing was measured)."""
    from labelgate.signals.accuracy_loss import projected_upper

    n, n_rows = signal.get("n_audited"), signal.get("n_rows")
    if not n or not n_rows or value >= limit or upper <= limit:
        return None

    def decided(extra: int) -> bool:
        projected = projected_upper(signal, extra)
        return projected is not None and projected <= limit

    left = n_rows - n
    if left <= 0 or not decided(left):
        return None
    low, high = 0, left  # projected_upper(low) > limit >= projected_upper(high)
    while high - low > 1:
        middle = (low + high) // 2
        if decided(middle):
            high = middle
        else:
            low = middle
    return high


def _label_error_advice(verdict: Verdict, label_risk: dict[str, Any], params: GateParams) -> tuple[str, str]:
    """Attach the audit estimate and next steps. Returns the reason's parts: why the audit cannot be trusted, and,
    when the upper bound fails only for want of audited rows (the point estimate is under gate.max_label_error) and
    more rows can unblock the verdict, how many more rows to label ("" where none applies)."""
    from labelgate.estimation import estimate_text, rows_needed

    estimate = (label_risk.get("signals") or {}).get("label_error")
    if not isinstance(estimate, dict) or estimate.get("label_error_rate") is None:
        return "", ""
    threshold = params.max_label_error
    more = rows_needed(estimate, threshold)
    rate, upper = estimate["label_error_rate"], estimate["label_error_rate_upper"]
    steps = _label_error_steps(estimate, more, params)
    share = estimate.get("systematic_error_share")
    verdict.label_error = {
        "label_error_rate": rate,
        "label_error_rate_lower": estimate.get("label_error_rate_lower"),
        "label_error_rate_upper": upper,
        "n_audited": estimate.get("n_audited"),
        "confidence_level": estimate.get("confidence_level"),
        "method": estimate.get("method"),
        "max_label_error": threshold,
        "rows_needed": more,
        "systematic_error_share": share,
        "unmeasured_share": estimate.get("unmeasured_share"),
        "unmeasured_strata": estimate.get("unmeasured_strata"),
        "audit_representativeness_p": estimate.get("audit_representativeness_p"),
        "audit_imbalance_worst": estimate.get("audit_imbalance_worst"),
        "audit_rubber_stamp_flag_share": estimate.get("audit_rubber_stamp_flag_share"),
        "audit_contradiction": estimate.get("audit_contradiction"),
        "confident_disagreement": estimate.get("confident_disagreement"),
        "duplicate_share": estimate.get("duplicate_share"),
        "next_steps": steps,
    }
    failed = {o["column"] for o in verdict.outcomes if o["status"] == FAILED and o["severity"] == BLOCK}
    integrity = _audit_integrity_reason(estimate, failed, params)
    loss = verdict.accuracy_loss or {}
    # more audit rows cannot unblock a loss above the limit, or an undecided one that no number of rows decides
    hopeless = loss.get("status") == "above" or (loss.get("status") == "undecided" and not loss.get("rows_needed"))
    if integrity:
        steps.insert(0, integrity)
        return integrity, ""
    if AUDIT_EVIDENCE in failed and more is not None and more > 0 and not hopeless:
        return "", (f"audit too small: label about {more} more rows to certify label_error_rate <= {threshold:g} "
                    f"(now {estimate_text(estimate)})")
    return "", ""


def _label_error_steps(estimate: dict[str, Any], more: int | None, params: GateParams) -> list[str]:
    """The next steps the audit estimate calls for: audit more rows, filter, relabel the worst classes, audit again
    blind, or change the LLM or prompt when the errors are systematic."""
    threshold = params.max_label_error
    classes = estimate.get("per_class_error") or {}
    worst = sorted((name for name, c in classes.items() if c.get("error") is not None),
                   key=lambda name: -classes[name]["error"])
    rate, upper = estimate["label_error_rate"], estimate["label_error_rate_upper"]
    steps = []
    if more:
        steps.append(f"audit about {more} more rows (labelgate audit sample) to certify "
                     f"label_error_rate <= {threshold:g}")
    if rate >= threshold or (upper is not None and upper > threshold and not more):
        steps.append("filter the label set (labelgate filter) and check the subset's label_error_rate")
    if worst and (upper is not None and upper > threshold):
        steps.append("relabel or re-prompt the classes with the highest audited error: "
                     + ", ".join(f"{name} ({classes[name]['error']:.2f})" for name in worst[:3]))
    stamp = estimate.get("audit_rubber_stamp_flag_share")
    if stamp is not None and 0.1 < stamp <= params.max_audit_rubber_stamp_flag_share:
        steps.append(f"the audit found no wrong label although cleanlab flags at least {stamp:.0%} of the audited "
                     "rows: if the annotators saw the LLM label, audit again blind")
    share = estimate.get("systematic_error_share")
    if share is not None and share > params.max_systematic_error_share:
        steps.append(f"{share:.0%} of the audited errors are invisible to cleanlab (systematic): filtering will "
                     "not remove them; change the LLM or prompt for those classes")
    return steps


def _audit_integrity_reason(estimate: dict[str, Any], failed: set[str], params: GateParams) -> str:
    """Why the audit itself cannot be trusted, as one line of clauses naming the strata or the figure: strata left
    unmeasured (when the upper bound failed), a non-representative audit, a rubber stamp; "" when none applies."""
    clauses = []
    unmeasured = estimate.get("unmeasured_strata") or {}
    if AUDIT_EVIDENCE in failed and unmeasured:
        need = ", ".join(f"label {s['label_more']} more rows in stratum '{name}' ({s['audited']} of {s['rows']} rows "
                         "audited)" for name, s in unmeasured.items())
        clauses.append(f"audit incomplete: {len(unmeasured)} LLM-label stratum/strata unmeasured (fewer than "
                       f"{estimate.get('min_audited_per_stratum')} audited rows), "
                       f"{estimate.get('unmeasured_share', 0.0):.0%} of the rows counted as wrong in the upper "
                       f"bound: {need}")
    if "audit_representativeness_p" in failed:
        worst = estimate.get("audit_imbalance_worst")
        figure = (estimate.get("audit_imbalance") or {}).get(worst) or {}
        means = (f" (audited mean {figure['audited_mean']:.3g} vs {figure['all_mean']:.3g} over all rows)"
                 if figure.get("audited_mean") is not None else "")
        clauses.append(f"audit not representative: the audited rows differ from the whole set in {worst}{means}, "
                       f"p = {estimate.get('audit_representativeness_p'):.2g} < "
                       f"{params.min_audit_representativeness_p:g}; audit a random sample (labelgate audit sample) "
                       "and label every drawn row")
    if "audit_rubber_stamp_flag_share" in failed:
        clauses.append(f"audit implausible: it agrees with every LLM label, although cleanlab flags at least "
                       f"{estimate.get('audit_rubber_stamp_flag_share'):.0%} of the audited rows as label issues; "
                       "label the audit blind (without the LLM label)")
    if "audit_contradiction" in failed:
        clauses.append(f"audit contradicted: it bounds the label error rate at "
                       f"{estimate.get('label_error_rate_upper'):.2f}, but the LLM label disagrees with the text model "
                       f"on {estimate.get('confident_disagreement'):.0%} (at least "
                       f"{estimate.get('confident_disagreement_lower'):.0%}) of the "
                       f"{estimate.get('confident_rows')} rows the model is most confident about "
                       f"(gap {estimate.get('audit_contradiction'):.2f} > {params.max_audit_contradiction:g}); "
                       "label the audit blind (without the LLM label)")
    return "; ".join(clauses)
