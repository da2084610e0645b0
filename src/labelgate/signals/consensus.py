"""Multi-annotator consensus (CROWDLAB) in bounded memory: the three outputs the agreement signal reads from
`cleanlab.multiannotator.get_label_quality_multiannotator(labels, pred_probs, verbose=False)` with its defaults
(consensus_method="best_quality", quality_method="crowdlab", calibrate_probs=False): per row the consensus label
(`label_quality["consensus_label"]`) and its quality score (`label_quality["consensus_quality_score"]`), and per
annotator `annotator_stats["annotator_quality"]`, in the order cleanlab sorts `annotator_stats` (by quality, then
agreement with the consensus).

Re-implemented, not chunked around cleanlab: cleanlab (checked against 2.9.0) offers no bounded-memory path. Its
function takes the whole table at once and builds float64 rows x classes arrays of it (the vote counts, the modes,
two posterior probability matrices) and rows x annotators ones (the labels, each label's quality), plus a Python loop
over every row for the best-quality consensus: +0.34 GiB per million rows at 8 classes and 3 annotators
(bench/consensus.md), the peak of the 10M-row streamed score. Here the rows are read in chunks and the whole-table aggregates are accumulated first:

1. the annotations alone: class frequencies, each annotator's agreement with the unique-mode rows (tie-breaks 2
   and 3 of the majority vote) and with the other annotators of its rows (the CROWDLAB annotator weights);
2. the majority vote, ties broken as `get_majority_vote_label` does (highest predicted probability, then the rarer
   class, then the mean agreement of the annotators who chose it), and its agreement and model-error rates;
3. the posterior probabilities under the majority vote, whose unique maximum is the best-quality consensus label
   (else the majority vote), and that consensus's agreement and model-error rates;
4. the posterior under the consensus: per row the quality score (the posterior of the consensus label), per
   annotator the mean posterior of its labels, combined with its agreement into the annotator quality.

Held: the label codes the caller has (any integer dtype, -1 missing), one small-integer label per row, the float64
quality per row (the output) and one float64 per row with two or more annotations (the per-row agreement, whose mean
is summed by numpy over the whole array exactly as cleanlab sums it, so the weights are bit-identical); besides that
one chunk's temporaries. No copy of `pred_probs`.

Same values as cleanlab (tests/signals/test_consensus.py: consensus labels identical, scores to 1e-9; every
operation that decides a label repeats cleanlab's float operations in the same order; bench/consensus.md found the
outputs bit-identical at 1M and 5M rows) with these differences:
- where cleanlab's last tie-break picks at random (numpy's global generator: a tie left after equal probabilities,
  equal class frequencies and equal annotator agreement) this picks the lowest class, so the result is reproducible;
- where cleanlab crashes in that tie-break (no row has a unique mode, so there is no annotator agreement to break
  ties with) this also picks the lowest class;
- a row with no annotation gets label -1 and quality NaN and counts nowhere, instead of an error (the agreement
  signal passes every row, no copy of the annotated ones);
- the mean agreement of a tied label's annotators is summed in annotator order: numpy's bits up to 7 annotators of
  that label in the row (numpy sums 8 or more pairwise);
- cleanlab's warning when no two annotators agree on any row is not repeated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK_ROWS = 200_000
CLIPPING_LOWER_BOUND = 1e-6  # cleanlab.internal.constants.CLIPPING_LOWER_BOUND


@dataclass(frozen=True)
class Consensus:
    label: np.ndarray  # per row the consensus class code (-1: a row without annotations)
    quality: np.ndarray  # per row the consensus quality score (NaN: a row without annotations)
    annotator_quality: np.ndarray  # per annotator column, in column order
    annotator_order: np.ndarray  # column indices in cleanlab's annotator_stats order (quality, then agreement)


@dataclass(frozen=True)
class _Weights:
    """CROWDLAB's weights for one consensus: what the posterior of every row is computed from."""
    annotator: np.ndarray  # per annotator (adjusted agreement with the other annotators)
    model: float
    consensus_likelihood: float
    non_consensus_likelihood: float


def crowdlab_consensus(codes: np.ndarray, pred_probs: np.ndarray, *, chunk_rows: int = CHUNK_ROWS) -> Consensus:
    """cleanlab's best-quality CROWDLAB consensus (module docstring) of `codes` (rows x annotators, class codes,
    -1 missing) and the out-of-fold `pred_probs` (rows x classes), `chunk_rows` rows at a time.

    ValueError where cleanlab raises one: codes beyond the classes of `pred_probs`, an annotator without any
    label, no row with two annotations, or a row count that differs from `pred_probs`."""
    codes, pred_probs = np.asarray(codes), np.asarray(pred_probs)
    if codes.ndim != 2 or pred_probs.ndim != 2 or len(codes) != len(pred_probs):
        raise ValueError(f"codes {codes.shape} and pred_probs {pred_probs.shape}: need the same rows")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    n_classes = pred_probs.shape[1]
    totals = _annotation_totals(codes, n_classes, chunk_rows)  # pass 1: the annotations alone
    label = np.full(len(codes), -1, dtype=np.int8 if n_classes <= 127 else np.int32)
    agreement = np.empty(totals.multi_rows)  # per row with >= 2 annotations, re-used by both consensus passes

    # pass 2: the majority vote and its rates
    rates = _Rates(codes.shape[1], n_classes)
    for start, stop in _chunks(len(codes), chunk_rows):
        chunk, probs = codes[start:stop], pred_probs[start:stop]
        label[start:stop] = _majority_vote(chunk, probs, totals)
        rates.add(chunk, probs, label[start:stop], agreement)
    weights = rates.weights(agreement, totals)

    # pass 3: the best-quality consensus from the posterior under the majority vote, and its rates
    rates = _Rates(codes.shape[1], n_classes)
    for start, stop in _chunks(len(codes), chunk_rows):
        chunk, probs = codes[start:stop], pred_probs[start:stop]
        posterior = _posterior(chunk, probs, weights)
        top = posterior.max(axis=1)
        unique_top = (posterior == top[:, None]).sum(axis=1) == 1  # a NaN row has none: the majority vote stays
        unique_top &= label[start:stop] >= 0  # a row without annotations keeps -1
        label[start:stop] = np.where(unique_top, posterior.argmax(axis=1), label[start:stop])
        rates.add(chunk, probs, label[start:stop], agreement)
    weights = rates.weights(agreement, totals)
    del agreement

    # pass 4: the consensus quality per row and each annotator's mean label quality
    quality = np.full(len(codes), np.nan)
    label_quality_sum = np.zeros(codes.shape[1])
    for start, stop in _chunks(len(codes), chunk_rows):
        chunk = codes[start:stop]
        posterior = _posterior(chunk, pred_probs[start:stop], weights)
        rows = np.arange(len(chunk))
        given = label[start:stop] >= 0
        quality[start:stop][given] = posterior[rows[given], label[start:stop][given]]
        for k in range(chunk.shape[1]):
            labelled = chunk[:, k] >= 0
            label_quality_sum[k] += posterior[rows[labelled], chunk[labelled, k]].sum()

    annotator_quality = _annotator_quality(label_quality_sum / totals.labelled, rates, weights, totals)
    with_consensus = rates.matches_all / totals.labelled
    order = np.lexsort((with_consensus, annotator_quality))  # pandas' sort_values: stable, NaN last
    return Consensus(label, quality, annotator_quality, order)


def _chunks(n_rows: int, chunk_rows: int):
    for start in range(0, n_rows, chunk_rows):
        yield start, min(start + chunk_rows, n_rows)


def _vote_counts(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per row the number of annotations of each class (int32)."""
    counts = np.zeros((len(codes), n_classes), dtype=np.int32)
    rows = np.arange(len(codes))
    for k in range(codes.shape[1]):
        labelled = codes[:, k] >= 0
        counts[rows[labelled], codes[labelled, k]] += 1  # one annotation per annotator and row: no repeated index
    return counts


@dataclass
class _Totals:
    """Pass 1, from the annotations alone."""
    rows: int  # rows with at least one annotation
    annotations: int
    multi_rows: int  # rows with two or more annotations
    labelled: np.ndarray  # per annotator, rows it labelled
    class_frequency: np.ndarray  # per class, annotations of it (tie-break 2)
    unique_mode_agreement: np.ndarray  # per annotator, agreement with the unique-mode rows' mode (tie-break 3)
    annotator_weight_agreement: np.ndarray  # per annotator, agreement with the other annotators of its rows


def _annotation_totals(codes: np.ndarray, n_classes: int, chunk_rows: int) -> _Totals:
    n_annotators = codes.shape[1]
    rows = annotations = multi_rows = 0
    labelled = np.zeros(n_annotators, dtype=np.int64)
    class_frequency = np.zeros(n_classes, dtype=np.int64)
    mode_rows, mode_matches = np.zeros(n_annotators, dtype=np.int64), np.zeros(n_annotators, dtype=np.int64)
    pair_matches, pair_total = np.zeros(n_annotators, dtype=np.int64), np.zeros(n_annotators, dtype=np.int64)
    for start, stop in _chunks(len(codes), chunk_rows):
        chunk = codes[start:stop]
        if chunk.max(initial=-1) >= n_classes or chunk.min(initial=0) < -1:
            raise ValueError(f"label codes outside -1..{n_classes - 1} (pred_probs has {n_classes} classes)")
        counts = _vote_counts(chunk, n_classes)
        given = counts.sum(axis=1)
        rows += int((given > 0).sum())
        annotations += int(given.sum())
        multi_rows += int((given >= 2).sum())
        class_frequency += counts.sum(axis=0)
        top = counts.max(axis=1)
        unique_mode = ((counts == top[:, None]).sum(axis=1) == 1) & (given > 0)
        mode = counts.argmax(axis=1)
        index = np.arange(len(chunk))
        for k in range(n_annotators):
            code = chunk[:, k]
            mask = code >= 0
            labelled[k] += int(mask.sum())
            mode_rows[k] += int((mask & unique_mode).sum())
            mode_matches[k] += int((mask & unique_mode & (code == mode)).sum())
            # cleanlab's _get_single_annotator_agreement: sum over rows of (same label - 1) / (n - 1) weighted by
            # n - 1; each term is an integer in floating point (exactly so below 23 annotators), so integer sums
            # give its value to the bit
            pair_matches[k] += int((counts[index[mask], code[mask]] - 1).sum())
            pair_total[k] += int((given[mask] - 1).sum())
    if rows == 0:
        raise ValueError("no row has an annotation")
    if (labelled == 0).any():
        raise ValueError(f"annotator columns {np.flatnonzero(labelled == 0).tolist()} did not label any row")
    if multi_rows == 0:
        raise ValueError("each row has only one annotation")
    with np.errstate(invalid="ignore", divide="ignore"):
        unique_mode_agreement = _impute_mean(mode_matches / mode_rows)
        annotator_weight_agreement = _impute_mean(pair_matches / pair_total)
    return _Totals(rows, annotations, multi_rows, labelled, class_frequency, unique_mode_agreement,
                   annotator_weight_agreement)


def _impute_mean(values: np.ndarray) -> np.ndarray:
    """NaN entries (an annotator with no rows to compare) get the mean of the others, as cleanlab imputes them."""
    missing = np.isnan(values)
    if missing.any() and not missing.all():
        values[missing] = np.mean(values[~missing])
    return values


def _majority_vote(codes: np.ndarray, pred_probs: np.ndarray, totals: _Totals) -> np.ndarray:
    """cleanlab's get_majority_vote_label for one chunk: the class most annotators chose; among tied classes the one
    with the highest predicted probability, then the one annotated least often in the whole table, then the one
    whose annotators agree most with the unique-mode rows, then (cleanlab: at random) the lowest. -1: no annotation."""
    n_classes = pred_probs.shape[1]
    counts = _vote_counts(codes, n_classes)
    candidates = counts == counts.max(axis=1)[:, None]
    label = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)
    tied = np.flatnonzero((candidates.sum(axis=1) > 1) & (label >= 0))
    if len(tied):
        candidates, counts = candidates[tied], counts[tied]
        candidates = _keep_best(candidates, pred_probs[tied], np.max)
        candidates = _keep_best(candidates, np.broadcast_to(totals.class_frequency, candidates.shape), np.min)
        still = np.flatnonzero(candidates.sum(axis=1) > 1)
        if len(still):
            # mean agreement of the annotators who chose each class, summed in annotator order like np.mean
            summed = np.zeros(candidates[still].shape)
            rows = np.arange(len(still))
            for k in range(codes.shape[1]):
                code = codes[tied[still], k]
                labelled = code >= 0
                summed[rows[labelled], code[labelled]] += totals.unique_mode_agreement[k]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = summed / counts[still]
            candidates[still] = _keep_best(candidates[still], mean, np.max)
        label[tied] = candidates.argmax(axis=1)  # the first remaining candidate
    return label


def _keep_best(candidates: np.ndarray, values: np.ndarray, best) -> np.ndarray:
    """The candidates whose value equals the best (np.max or np.min) among the candidates; all of them where that
    best is NaN (nothing equals it)."""
    fill = -np.inf if best is np.max else np.inf
    masked = np.where(candidates, values, fill)
    kept = candidates & (masked == best(masked, axis=1)[:, None])
    return np.where(kept.any(axis=1)[:, None], kept, candidates)


class _Rates:
    """What the CROWDLAB weights of one consensus labelling need, summed over the chunks."""

    def __init__(self, n_annotators: int, n_classes: int):
        self.filled = 0  # rows with >= 2 annotations seen (the next free place in the agreement buffer)
        self.consensus_counts = np.zeros(n_classes, dtype=np.int64)  # over rows with >= 2 annotations
        self.model_errors = 0  # rows with >= 2 annotations whose pred_probs argmax is not the consensus
        self.matches_multi = np.zeros(n_annotators, dtype=np.int64)  # annotator = consensus, rows with >= 2
        self.labelled_multi = np.zeros(n_annotators, dtype=np.int64)
        self.matches_all = np.zeros(n_annotators, dtype=np.int64)  # annotator = consensus, every row

    def add(self, codes: np.ndarray, pred_probs: np.ndarray, label: np.ndarray, agreement: np.ndarray) -> None:
        matches = np.zeros(len(codes))  # cleanlab adds the annotators' matches in float64
        given = np.zeros(len(codes), dtype=np.int64)
        for k in range(codes.shape[1]):
            same = codes[:, k] == label
            matches += same
            given += codes[:, k] >= 0
        multi = given >= 2
        for k in range(codes.shape[1]):
            labelled, same = codes[:, k] >= 0, (codes[:, k] == label) & (label >= 0)
            self.matches_all[k] += int(same.sum())
            self.matches_multi[k] += int((same & multi).sum())
            self.labelled_multi[k] += int((labelled & multi).sum())
        n_multi = int(multi.sum())
        agreement[self.filled:self.filled + n_multi] = matches[multi] / given[multi]
        self.filled += n_multi
        self.consensus_counts += np.bincount(label[multi], minlength=len(self.consensus_counts))
        self.model_errors += int((pred_probs[multi].argmax(axis=1) != label[multi]).sum())

    def weights(self, agreement: np.ndarray, totals: _Totals) -> _Weights:
        """cleanlab's _get_post_pred_probs_and_weights (crowdlab): the same float operations on the same values."""
        n_classes = len(self.consensus_counts)
        consensus_likelihood = np.mean(agreement)  # the whole array at once: numpy's pairwise sum, as in cleanlab
        non_consensus_likelihood = (1 - consensus_likelihood) / (n_classes - 1)
        most_likely_class_error = np.clip(
            np.float64((totals.multi_rows - self.consensus_counts[np.argmax(self.consensus_counts)])
                       / totals.multi_rows), a_min=CLIPPING_LOWER_BOUND, a_max=None)
        annotator_error = 1 - totals.annotator_weight_agreement
        annotator = np.clip(1 - (annotator_error / most_likely_class_error), a_min=CLIPPING_LOWER_BOUND, a_max=None)
        model_error = np.float64(self.model_errors / totals.multi_rows)
        model = np.max([(1 - (model_error / most_likely_class_error)), CLIPPING_LOWER_BOUND]) * np.sqrt(
            np.float64(totals.annotations / totals.rows))
        return _Weights(annotator, model, consensus_likelihood, non_consensus_likelihood)


def _posterior(codes: np.ndarray, pred_probs: np.ndarray, weights: _Weights) -> np.ndarray:
    """CROWDLAB's posterior class probabilities of one chunk: the model's probabilities and each annotation weighted,
    each element built by cleanlab's operations in cleanlab's order (so ties and argmax come out the same)."""
    posterior = pred_probs.astype(np.float64) * weights.model
    total_weight = np.zeros(len(codes))
    classes = np.arange(pred_probs.shape[1])
    for k in range(codes.shape[1]):
        code = codes[:, k]
        labelled = code >= 0
        total_weight[labelled] += weights.annotator[k]
        share = np.where(code[:, None] == classes, weights.annotator[k] * weights.consensus_likelihood,
                         weights.annotator[k] * weights.non_consensus_likelihood)
        posterior[labelled] += share[labelled]
    total_weight += weights.model
    posterior /= total_weight[:, None]
    return posterior


def _annotator_quality(label_quality: np.ndarray, rates: _Rates, weights: _Weights, totals: _Totals) -> np.ndarray:
    """cleanlab's _get_annotator_quality (crowdlab): the mean quality of an annotator's labels and its agreement
    with the consensus on rows with two or more annotations, weighted by the model's share of the weight."""
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = rates.matches_multi / rates.labelled_multi  # NaN: never on a row with another annotator
    average_annotations = np.float64(totals.annotations / totals.rows) / len(weights.annotator)
    annotator_weight = np.sum(weights.annotator) * average_annotations
    w = weights.model / (weights.model + annotator_weight)
    return w * label_quality + (1 - w) * agreement
