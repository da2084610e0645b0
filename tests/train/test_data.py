"""labelgate.train.data: table checks, length buckets and per-batch padding (the label set: tests/test_contract.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelgate.errors import BadInputError
from labelgate.train.data import check_training_frame, collate, length_buckets, padder, tokenize


class TestInputs:
    def test_missing_label_names_the_row(self):
        frame = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "label": ["positive", None]})
        with pytest.raises(BadInputError, match="row 2.*column 'label'"):
            check_training_frame(frame, path="s.parquet")

    def test_missing_column(self):
        with pytest.raises(BadInputError, match="column 'label'"):
            check_training_frame(pd.DataFrame({"id": ["a"], "text": ["x"]}), path="s.parquet")

    def test_duplicate_id(self):
        frame = pd.DataFrame({"id": ["a", "a"], "text": ["x", "y"], "label": ["p", "q"]})
        with pytest.raises(BadInputError, match="duplicate id"):
            check_training_frame(frame)


class TestLengthBuckets:
    def test_every_row_once_and_sorted_inside_pools(self):
        lengths = np.random.default_rng(0).integers(1, 60, size=103)
        batches = length_buckets(lengths, 8, rng=np.random.default_rng(1), pool=4)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(103))
        assert max(len(b) for b in batches) == 8
        pooled = length_buckets(lengths, 8, rng=np.random.default_rng(1), pool=1000)  # one pool: global sort
        spread = np.mean([np.ptp(lengths[b]) for b in pooled])
        shuffled = np.mean([np.ptp(lengths[b]) for b in np.array_split(np.random.default_rng(2).permutation(103), 13)])
        assert spread < shuffled / 3  # bucketing keeps similar lengths together

    def test_seeded_order_is_reproducible_and_seed_dependent(self):
        lengths = np.arange(50) % 7
        first = length_buckets(lengths, 4, rng=np.random.default_rng(3))
        again = length_buckets(lengths, 4, rng=np.random.default_rng(3))
        other = length_buckets(lengths, 4, rng=np.random.default_rng(4))
        assert all(np.array_equal(x, y) for x, y in zip(first, again))
        assert not all(np.array_equal(x, y) for x, y in zip(first, other))

    def test_inference_batches_sorted(self):
        batches = length_buckets([5, 1, 3, 2], 3, rng=None)
        assert [b.tolist() for b in batches] == [[1, 3, 2], [0]]


class TestCollate:
    @pytest.mark.slow
    def test_pads_the_batch_to_its_longest_row(self):
        from transformers import AutoTokenizer

        from labelgate.encoders import resolve_encoder_path

        tokenizer = AutoTokenizer.from_pretrained(resolve_encoder_path("minilm"))
        encoded = tokenize(tokenizer, ["good", "a much longer text than that", "fine, ok"], max_length=32)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        batch = collate(encoded, np.array([2, 0]), padder(tokenizer))
        width = max(lengths[2], lengths[0])
        assert set(batch) == set(encoded) and all(v.shape == (2, width) for v in batch.values())
        assert batch["input_ids"][0].tolist() == encoded["input_ids"][2] + [tokenizer.pad_token_id] * (width - lengths[2])
        assert batch["input_ids"][1].tolist() == encoded["input_ids"][0] + [tokenizer.pad_token_id] * (width - lengths[0])
        assert batch["attention_mask"].sum(dim=1).tolist() == [lengths[2], lengths[0]]
        assert str(batch["input_ids"].dtype) == "torch.int64"
