"""The gate's limits and the loss calibration are derived by script (bench/calibration/derive_defaults.py,
derive_loss_calibration.py), never by hand: the repository's params.yaml, the packaged defaults and the dataclass
defaults carry exactly what the scripts last wrote."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from labelgate.config import load_params
from labelgate.gate.params import GateParams
from labelgate.packaged import DEFAULTS_DIR
from labelgate.signals.accuracy_loss import AccuracyLossParams

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = ROOT / "bench" / "calibration"
LOSS_KEYS = {"rate_scale": "loss_rate_scale", "concentration_scale": "loss_concentration_scale",
             "learned_scale": "loss_learned_scale", "learned_power": "loss_learned_power",
             "calibration_sd": "loss_calibration_sd", "calibration_sd_slope": "loss_calibration_sd_slope"}


def derived_gate() -> dict[str, float]:
    line = next(line for line in (CALIBRATION / "derived_defaults.md").read_text().splitlines()
                if line.startswith("Derived values:"))
    return {key: float(value) for key, value in re.findall(r"`(\w+): ([0-9.]+)`", line)}


@pytest.mark.parametrize("params_path", [ROOT / "params.yaml", DEFAULTS_DIR / "params.yaml"],
                         ids=["repository", "packaged"])
def test_params_carry_the_derived_gate_and_loss_calibration(params_path):
    params = load_params(params_path)
    gate = derived_gate()
    assert {"max_accuracy_loss", "max_label_error", "min_audit_accuracy_lower"} <= set(gate)
    assert {key: params["gate"][key] for key in gate} == gate
    fitted = json.loads((CALIBRATION / "loss_calibration.json").read_text())
    assert {name: params["score"][name] for name in LOSS_KEYS.values()} == {
        name: fitted[key] for key, name in LOSS_KEYS.items()}


def test_the_dataclass_defaults_are_the_derived_values():
    fitted = json.loads((CALIBRATION / "loss_calibration.json").read_text())
    loss = AccuracyLossParams()
    assert {name: getattr(loss, name) for name in LOSS_KEYS.values()} == {
        name: fitted[key] for key, name in LOSS_KEYS.items()}
    gate = derived_gate()
    assert {key: getattr(GateParams(), key) for key in gate} == gate
