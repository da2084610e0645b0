"""The out-of-fold text model: its settings (TextModelParams) and what it returns."""

from __future__ import annotations

import numpy as np
import pytest

from labelgate.signals.text_model import TextModelParams, out_of_fold_probabilities
from synthetic import make_texts


class TestTextModel:
    def test_params_defaults_and_ranges(self):
        params = TextModelParams()
        assert (params.text_model, params.text_model_c, params.cv_folds) == ("tfidf_logreg", 0.25, 5)
        with pytest.raises(ValueError, match="text_model must be one of"):
            TextModelParams(text_model="bert")
        with pytest.raises(ValueError, match=r"cv_folds=1 must lie in \[2, 20\]"):
            TextModelParams(cv_folds=1)

    def test_out_of_fold_probabilities_learn_the_classes(self):
        texts, truth = make_texts(300, 3, seed=1)
        probs = out_of_fold_probabilities(texts, truth, n_classes=3)
        assert probs.shape == (300, 3) and np.allclose(probs.sum(axis=1), 1.0)
        assert (probs.argmax(axis=1) == truth).mean() > 0.8
