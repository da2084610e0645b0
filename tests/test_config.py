"""labelgate.config: reading params.yaml and building each stage's typed params (unknown keys, wrong types and
out-of-range values are one-line ConfigErrors naming the section and key)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from labelgate.config import BaseParams, build, check_range, is_number, load_params, section
from labelgate.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Example:
    ratio: float = 0.5
    count: int = 3
    flag: bool = False
    name: str = "x"
    limit: float | None = None
    words: tuple[str, ...] = ()

    def __post_init__(self):
        check_range("ratio", self.ratio, 0.0, 1.0)


class TestLoadParams:
    def test_missing_file_means_all_defaults(self, tmp_path):
        assert load_params(tmp_path / "params.yaml") == {}

    def test_empty_file_is_an_empty_mapping(self, tmp_path):
        (tmp_path / "params.yaml").write_text("")
        assert load_params(tmp_path / "params.yaml") == {}

    def test_invalid_yaml(self, tmp_path):
        path = tmp_path / "params.yaml"
        path.write_text("score: [1, 2\n")
        with pytest.raises(ConfigError, match=r"params.yaml: not valid YAML") as info:
            load_params(path)
        assert "\n" not in str(info.value)

    def test_top_level_must_be_a_mapping(self, tmp_path):
        path = tmp_path / "params.yaml"
        path.write_text("- a\n- b\n")
        with pytest.raises(ConfigError, match="top level must be a mapping"):
            load_params(path)


class TestBuild:
    def test_defaults_and_values(self):
        assert build(Example, None, section="s") == Example()
        assert build(Example, {"ratio": 1, "count": 2, "limit": None, "words": ["a"]}, section="s") == Example(
            ratio=1, count=2, words=["a"])  # conversion is the dataclass's job (e.g. BaseParams.labels)

    def test_unknown_key_names_the_section(self):
        with pytest.raises(ConfigError, match=r"unknown key\(s\) colour, size in section 's'"):
            build(Example, {"size": 1, "colour": 2}, section="s")

    @pytest.mark.parametrize(("key", "value", "expected"), [
        ("ratio", True, "must be a number"),       # YAML `true` is not 1.0
        ("count", 2.5, "must be an integer"),
        ("count", False, "must be an integer"),
        ("flag", 1, "must be true or false"),
        ("name", 3, "must be a string"),
        ("limit", "high", "must be a number or null"),
        ("words", "a b", "must be a list of a string values"),
        ("words", [1], "must be a list of a string values"),
    ])
    def test_wrong_type(self, key, value, expected):
        with pytest.raises(ConfigError, match=rf"section 's': {key}=.* {expected}"):
            build(Example, {key: value}, section="s")

    def test_range_check_from_post_init(self):
        with pytest.raises(ConfigError, match=r"params.yaml: section 's': ratio=1.5 must lie in \[0.0, 1.0\]"):
            build(Example, {"ratio": 1.5}, section="s")

    def test_section_must_be_a_mapping(self):
        with pytest.raises(ConfigError, match="section 'base' must be a mapping"):
            section({"base": [1]}, "base", BaseParams)
        assert section({}, "base", BaseParams) == BaseParams()


class TestNumbers:
    @pytest.mark.parametrize("value", [0, 1.5, np.float64(0.2), np.int64(3)])
    def test_numbers(self, value):
        assert is_number(value)

    @pytest.mark.parametrize("value", [True, np.bool_(False), float("nan"), "1", None])
    def test_not_numbers(self, value):
        assert not is_number(value)

    def test_check_range(self):
        check_range("x", 0.5, 0, 1)
        check_range("x", 10, 0)
        with pytest.raises(ValueError, match=r"x=-1 must lie in \[0, None\]"):
            check_range("x", -1, 0)
        with pytest.raises(ValueError, match="x=True must be a number"):
            check_range("x", True, 0, 1)


class TestBaseParams:
    def test_labels_are_strings_and_unique(self):
        assert BaseParams(labels=[1, 2]).labels == ("1", "2")
        with pytest.raises(ValueError, match="must be unique"):
            BaseParams(labels=("a", "a"))
        with pytest.raises(ValueError, match="at least two classes"):
            BaseParams(labels=("a",))
