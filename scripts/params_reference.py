"""Regenerate the params reference in docs/configuration.md from the packaged defaults (one table per section:
key, default, the comment beside it). Run after changing src/labelgate/defaults/params.yaml:

    python scripts/params_reference.py            # rewrite the block between the markers
    python scripts/params_reference.py --check    # exit 1 when the block is out of date (tests/test_docs.py)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "src" / "labelgate" / "defaults" / "params.yaml"
DOC = ROOT / "docs" / "configuration.md"
BEGIN, END = "<!-- params reference: begin (scripts/params_reference.py) -->", "<!-- params reference: end -->"


def rows(text: str) -> dict[str, list[list[str]]]:
    """section -> [key, default, comment] for each second-level key (continuation comments joined)."""
    found: dict[str, list[list[str]]] = {}
    section, last = None, None
    for line in text.splitlines():
        if m := re.match(r"^([a-z0-9_]+):\s*(#.*)?$", line):
            section, last = m.group(1), None
            found.setdefault(section, [])
        elif section and (m := re.match(r"^  ([a-z0-9_]+):\s*(.*?)\s*(?:#\s*(.*))?$", line)):
            key, value, comment = m.groups()
            last = [key, value or "(below)", comment or ""]
            found[section].append(last)
        elif last is not None and (m := re.match(r"^\s{10,}#\s*(.*)$", line)):
            last[2] = f"{last[2]} {m.group(1)}".strip()
        elif not line.startswith("  "):
            last = None
    return found


def render(text: str) -> str:
    out = [BEGIN]
    for section, entries in rows(text).items():
        out += ["", f"### `{section}:`", "", "| key | default | meaning |", "|---|---|---|"]
        for key, value, comment in entries:
            value = value if len(value) <= 40 else value[:37] + "..."
            out.append(f"| `{key}` | `{value.replace('|', '/')}` | {comment.replace('|', '/')} |")
    return "\n".join([*out, "", END])


def main(argv: list[str]) -> int:
    doc = DOC.read_text(encoding="utf-8")
    start, stop = doc.index(BEGIN), doc.index(END) + len(END)
    new = doc[:start] + render(PARAMS.read_text(encoding="utf-8")) + doc[stop:]
    if "--check" in argv:
        if new != doc:
            print(f"{DOC.relative_to(ROOT)}: params reference out of date; run python scripts/params_reference.py")
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
