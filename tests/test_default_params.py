"""The packaged defaults (src/labelgate/defaults/params.yaml) are rendered from the params dataclasses
(scripts/render_default_params.py, scripts/params_source.py): the committed file is what the renderer writes, every
packaged value is the dataclass default unless PACKAGED names it with a reason, and a key's comment is the one
beside its field."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import params_source  # noqa: E402
import render_default_params  # noqa: E402


def test_the_packaged_file_is_what_the_dataclasses_render():
    committed = (ROOT / "src" / "labelgate" / "defaults" / "params.yaml").read_text(encoding="utf-8")
    assert committed == render_default_params.render(), "run python scripts/render_default_params.py"


@pytest.mark.parametrize("name", [name for name, _ in params_source.section_classes()])
def test_each_packaged_section_builds_to_its_dataclass_defaults_but_the_named_exceptions(name):
    from labelgate.config import section
    from labelgate.packaged import default_params

    classes = dict(params_source.section_classes())[name]
    built = section(default_params(), name, classes[0])
    expected = classes[0]()
    if name == "score":  # one flat section, several dataclasses: compare each owner's part
        from labelgate.signals.runner import ScoreParams

        assert built == ScoreParams()
        return
    overrides = {key: value for key, (value, _) in params_source.PACKAGED.get(name, {}).items()}
    if name == "annotate":  # AnnotateParams normalises variants into prompt specs: compare what it builds
        expected = dataclasses.replace(expected, **{k: v for k, v in overrides.items() if k != "variants"})
        assert built.prompts()[1:] and [p.name for p in built.prompts()[1:]] == list(overrides["variants"])
        assert dataclasses.replace(built, variants=expected.variants) == expected
        return
    assert built == dataclasses.replace(expected, **overrides)


def test_every_packaged_exception_names_a_real_key_and_a_reason():
    keys = {section.name: {key.name for key in section.keys} for section in params_source.sections()}
    for name, entries in params_source.PACKAGED.items():
        for key, (_, reason) in entries.items():
            assert key in keys[name] and len(reason) > 20, f"{name}.{key}"


@dataclass(frozen=True)
class Example:
    """A dataclass whose comments the renderer reads.

    documented   from the docstring table, when the field has no comment
                 of its own (continued here)
    """

    plain: int = 1  # beside the field
    # a note on the next field,
    # over two lines
    noted: str = "x"  # and its own comment
    long_comment: float = 0.5  # a comment that fills its line up to the width limit and so goes on, as written
    # on the next line
    spanning: tuple = (1,  # the first part
                       2)  # the second part
    documented: bool = False


def test_field_comments_beside_above_continued_and_from_the_docstring():
    comments = params_source.field_comments(Example)
    assert comments["plain"] == ("beside the field", ())
    assert comments["noted"] == ("and its own comment", ("a note on the next field,", "over two lines"))
    assert comments["long_comment"][0].endswith("as written on the next line")
    assert comments["spanning"] == ("the first part the second part", ())
    assert params_source.docstring_entries(Example)["documented"] == (
        "from the docstring table, when the field has no comment of its own (continued here)")


def test_a_section_renders_each_default_with_its_comment_and_note(monkeypatch):
    monkeypatch.setattr(params_source, "section_classes", lambda: [("example", (Example,))])
    [section] = params_source.sections()
    lines = render_default_params.render_section(section)
    assert lines[:2] == ["# example: the keys of test_default_params.Example", "example:"]
    lines = lines[1:]
    assert lines[1].startswith("  plain: 1 ") and lines[1].endswith("# beside the field")
    assert lines[2:4] == ["  # a note on the next field, over two lines", lines[3]]
    assert lines[3].startswith("  noted: x ") and lines[3].endswith("# and its own comment")
    assert any(line.startswith("  spanning: [1, 2] ") for line in lines)
    assert any(line.startswith("  documented: false ") and "from the docstring table" in line for line in lines)
    assert all(len(line) <= render_default_params.WIDTH + 2 for line in lines)
