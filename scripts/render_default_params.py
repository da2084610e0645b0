"""Render src/labelgate/defaults/params.yaml, the packaged defaults, from the params dataclasses (scripts/
params_source.py): every key with its field's default and the comment written beside the field, section by section.

    python scripts/render_default_params.py            # rewrite the file
    python scripts/render_default_params.py --check    # exit 1 when the file is out of date (tests/test_docs.py)

Change a default or its comment in its dataclass, then run this (and scripts/params_reference.py).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from params_source import PACKAGED, Key, Section, owner_names, plain, sections, write_or_check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "src" / "labelgate" / "defaults" / "params.yaml"
WIDTH = 118
COMMENT_COLUMN = 34  # trailing comments start here (or two spaces after a longer key line)
LONG_LINE = 60  # a key line longer than this gets its comment on the lines above
HEADER = """\
# labelgate default parameters: what `labelgate check` uses in a folder without params.yaml, and what
# `labelgate init` starts a repository's params.yaml from. Each stage lists in dvc.yaml only the keys it reads.
# The demo's params.yaml in the labelgate repository holds the same values outside `base:` and `annotate:`
# (a test keeps them equal). Written by scripts/render_default_params.py from the params dataclasses: change a
# default or its comment there, not here.
"""


def scalar(value: object) -> str:
    """One YAML scalar; a string with a line break double-quoted on one line."""
    style = '"' if isinstance(value, str) and "\n" in value else None
    text = yaml.safe_dump(value, default_style=style, width=10**6, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def value_lines(key: str, value: object, indent: str = "  ") -> list[str]:
    """`key: value` as YAML lines: scalars and lists of scalars on the key's line (flow style), mappings and lists
    of lists below it (block style)."""
    value = plain(value)
    if isinstance(value, dict) and value:
        return [f"{indent}{key}:"] + [line for k, v in value.items() for line in value_lines(k, v, indent + "  ")]
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [f"{indent}{key}:"] + [f"{indent}  - [{', '.join(scalar(x) for x in v)}]" for v in value]
    flow = f"{indent}{key}: [{', '.join(scalar(v) for v in value)}]" if isinstance(value, list) else ""
    if isinstance(value, list) and len(flow) > WIDTH:
        return [f"{indent}{key}:"] + [f"{indent}  - {scalar(v)}" for v in value]
    if isinstance(value, list):
        return [flow]
    return [f"{indent}{key}: {'{}' if value == {} else scalar(value)}"]


def commented(line: str, comment: str) -> list[str]:
    """`line` with `comment` beside it, wrapped onto continuation lines aligned under the first."""
    if not comment:
        return [line]
    column = max(COMMENT_COLUMN, len(line) + 2)
    parts = textwrap.wrap(comment, max(40, WIDTH - column - 2), break_on_hyphens=False, break_long_words=False)
    return [line.ljust(column) + f"# {parts[0]}"] + [" " * column + f"# {part}" for part in parts[1:]]


def wrapped_note(lines: tuple[str, ...] | list[str], indent: str = "  ") -> list[str]:
    text = " ".join(lines)
    return [f"{indent}# {part}" for part in textwrap.wrap(text, WIDTH - len(indent) - 2, break_on_hyphens=False,
                                                          break_long_words=False)]


def packaged_value(section: str, key: Key) -> object:
    """The key's packaged default: its dataclass default, or its entry in PACKAGED."""
    return PACKAGED[section][key.name][0] if key.name in PACKAGED.get(section, {}) else key.default


def render_section(section: Section) -> list[str]:
    lines = wrapped_note([f"{section.name}: the keys of {owner_names(section)}"], indent="") + [f"{section.name}:"]
    for key in section.keys:
        lines += wrapped_note(key.note)
        first, *rest = value_lines(key.name, packaged_value(section.name, key))
        if len(first) > LONG_LINE:  # no room beside it: the comment goes above
            lines += wrapped_note([key.comment]) + [first] + rest
        else:
            lines += commented(first, key.comment) + rest
    return lines


def render() -> str:
    out = [HEADER.rstrip("\n")]
    for section in sections():
        out += [""] + render_section(section)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    return write_or_check(PARAMS, render(), argv, root=ROOT, script="scripts/render_default_params.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
