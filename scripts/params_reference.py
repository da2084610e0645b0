"""Regenerate the params reference in docs/configuration.md (one table per section: key, packaged default, its
documentation) from the params dataclasses, the same source scripts/render_default_params.py renders
src/labelgate/defaults/params.yaml from (scripts/params_source.py). Run after changing a params dataclass:

    python scripts/params_reference.py            # rewrite the block between the markers
    python scripts/params_reference.py --check    # exit 1 when the block is out of date (tests/test_docs.py)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from params_source import sections, write_or_check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"
BEGIN, END = "<!-- params reference: begin (scripts/params_reference.py) -->", "<!-- params reference: end -->"


def rows() -> dict[str, list[list[str]]]:
    """section -> [key, packaged default as params.yaml writes it ("(below)" for a block), documentation]."""
    from render_default_params import packaged_value, value_lines

    found: dict[str, list[list[str]]] = {}
    for section in sections():
        found[section.name] = []
        for key in section.keys:
            first, *rest = value_lines(key.name, packaged_value(section.name, key))
            value = first.split(":", 1)[1].strip() if not rest else "(below)"
            found[section.name].append([key.name, value, " ".join([*key.note, key.comment]).strip()])
    return found


def render() -> str:
    out = [BEGIN]
    for section, entries in rows().items():
        out += ["", f"### `{section}:`", "", "| key | default | meaning |", "|---|---|---|"]
        for key, value, comment in entries:
            value = value if len(value) <= 40 else value[:37] + "..."
            out.append(f"| `{key}` | `{value.replace('|', '/')}` | {comment.replace('|', '/')} |")
    return "\n".join([*out, "", END])


def main(argv: list[str]) -> int:
    doc = DOC.read_text(encoding="utf-8")
    start, stop = doc.index(BEGIN), doc.index(END) + len(END)
    return write_or_check(DOC, doc[:start] + render() + doc[stop:], argv, root=ROOT,
                          script="scripts/params_reference.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
