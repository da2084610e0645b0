"""labelgate.train.loop on a tiny real run (the session fixture `tiny`): determinism, seed variation, freezing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from labelgate.errors import ConfigError
from labelgate.train.run import train_run

pytestmark = pytest.mark.slow  # every test here trains (the `tiny` runs)


def test_same_seed_same_probabilities(tiny):
    a, b = tiny["runs"]["a"], tiny["runs"]["b"]
    assert np.array_equal(a.probabilities, b.probabilities)
    assert a.record.epoch_loss == b.record.epoch_loss


def test_other_seed_other_probabilities(tiny):
    a, c = tiny["runs"]["a"], tiny["runs"]["c"]
    assert np.abs(a.probabilities - c.probabilities).max() > 1e-3


def test_freezing_more_layers_than_the_model_has_is_a_config_error(tiny):
    params = replace(tiny["params"], freeze_layers=7)
    with pytest.raises(ConfigError, match="freeze_layers=7 but the model has 6 layers"):
        train_run(tiny["train"], tiny["test"], tiny["labels"], params, subset="tiny", seed=0)
