"""The one source of the packaged defaults (src/labelgate/defaults/params.yaml) and of their reference in
docs/configuration.md: the params dataclasses. Each section of params.yaml is one dataclass (`score` several: the
stage's own and each signal's, `section_owners`); a key's default is its field's default, and its documentation is
the comment written beside the field in the dataclass source (a comment on the line(s) above a field is a note
printed above the key). Read by scripts/render_default_params.py and scripts/params_reference.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Key:
    name: str
    default: object
    comment: str  # the comment beside the field ("" when none)
    note: tuple[str, ...]  # comment lines above the field


@dataclass(frozen=True)
class Section:
    name: str
    owners: tuple[type, ...]
    keys: tuple[Key, ...]


def section_classes() -> list[tuple[str, tuple[type, ...]]]:
    """Each params.yaml section and the dataclass(es) that read it, in the file's order."""
    from labelgate.annotate.params import AnnotateParams
    from labelgate.audit import AuditSampleParams
    from labelgate.audit_reference import AuditReferenceParams
    from labelgate.config import BaseParams
    from labelgate.curves import CurveParams, EvaluateParams
    from labelgate.filter import FilterParams
    from labelgate.gate import GateParams
    from labelgate.signals.runner import section_owners
    from labelgate.train.params import TrainParams
    from labelgate.validate import ValidateParams

    score = tuple(dict.fromkeys(section_owners().values()))
    return [("base", (BaseParams,)), ("annotate", (AnnotateParams,)), ("validate", (ValidateParams,)),
            ("score", score), ("audit", (AuditSampleParams,)), ("filter", (FilterParams,)),
            ("train", (TrainParams,)), ("learning_curve", (CurveParams,)),
            ("audit_reference", (AuditReferenceParams,)), ("evaluate", (EvaluateParams,)), ("gate", (GateParams,))]


def field_comments(cls: type) -> dict[str, tuple[str, tuple[str, ...]]]:
    """field name -> (the comment beside it, the comment lines above it) in `cls`'s own source (not its bases).

    A comment line right below a field continues the field's comment when the line above it fills the width (at
    least 100 characters) and ends without a full stop: the author ran out of room. Other comment lines above a
    field, up to a blank line or code, are a note on that field."""
    source = textwrap.dedent(inspect.getsource(cls))
    fields = {f.name for f in dataclasses.fields(cls)}
    found: dict[str, tuple[str, list[str]]] = {}
    note: list[str] = []
    last = None  # the field whose comment a comment line below may continue
    previous = ""  # the line above
    statements = _field_statements(source, fields)
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if number in statements:
            name, comment = statements[number]
            found[name] = (comment, note)
            note, last = [], name
        elif stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            if last is not None and not note and len(previous) >= 100 and not previous.rstrip().endswith("."):
                comment, above = found[last]
                found[last] = (f"{comment} {text}".strip(), above)
            else:
                note.append(text)
                last = None
        else:  # a blank line or any other code ends a note and a comment's continuation
            note, last = [], None
        previous = line
    return {name: (comment, tuple(above)) for name, (comment, above) in found.items()}


def _field_statements(source: str, fields: set[str]) -> dict[int, tuple[str, str]]:
    """First line of each field's statement -> (field name, the comment(s) on the statement's lines); a default
    spanning several lines keeps its lines' comments together."""
    out: dict[int, tuple[str, str]] = {}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    current, first, comments, depth, line_start = None, 0, [], 0, True
    for tok in tokens:
        if tok.type == tokenize.NEWLINE and depth == 0:
            if current is not None:
                out[first] = (current, " ".join(comments))
            current, comments, line_start = None, [], True
            continue
        if tok.type == tokenize.COMMENT:
            if current is not None:
                comments.append(tok.string.lstrip("#").strip())
            continue
        if tok.type in (tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
            line_start = line_start or tok.type != tokenize.NL or depth == 0
            continue
        if line_start and depth == 0 and tok.type == tokenize.NAME and tok.string in fields and tok.start[1] == 4:
            current, first = tok.string, tok.start[0]
        if tok.string in "([{" and tok.type == tokenize.OP:
            depth += 1
        elif tok.string in ")]}" and tok.type == tokenize.OP:
            depth -= 1
        line_start = False
    return out


def docstring_entries(cls: type) -> dict[str, str]:
    """A class docstring's key table (`name   text`, continuation lines indented under the text; `a, b   text` for
    several keys) as name -> one line of text: the documentation of fields that carry no comment of their own."""
    entries: dict[str, str] = {}
    current: list[str] = []
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        if m := re.match(r"^(\w+(?:, \w+)*)\s{2,}(\S.*)$", line):
            current = m.group(1).split(", ")
            for name in current:
                entries[name] = m.group(2).strip()
        elif current and line.startswith(" ") and line.strip():
            for name in current:
                entries[name] = f"{entries[name]} {line.strip()}"
        else:
            current = []
    return entries


def sections() -> list[Section]:
    """Every section with its keys, defaults and documentation, from the dataclasses."""
    from labelgate.signals.runner import section_owners

    owners = section_owners()
    out = []
    for name, classes in section_classes():
        keys = []
        for cls in classes:
            comments = field_comments(cls)
            documented = docstring_entries(cls)
            instance = cls()
            for f in dataclasses.fields(cls):
                if not f.metadata.get("key", True) or (name == "score" and owners.get(f.name) is not cls):
                    continue
                comment, note = comments.get(f.name, ("", ()))
                comment = comment or documented.get(f.name, "")
                keys.append(Key(f.name, getattr(instance, f.name), comment, note))
        out.append(Section(name, classes, tuple(keys)))
    return out


def owner_names(section: Section) -> str:
    return ", ".join(f"{cls.__module__}.{cls.__qualname__}" for cls in section.owners)


def plain(value: object) -> object:
    """A default as params.yaml holds it: tuples as lists, mappings as dicts (recursively)."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    return value


#: Packaged defaults that differ from their dataclass's default, each with its reason: (value, reason). A stage run
#: without params.yaml takes the dataclass default; `labelgate check` in a folder without params.yaml and
#: `labelgate init` take these. Keep this list short: every entry is a second value for one key.
PACKAGED: dict[str, dict[str, tuple[object, str]]] = {
    "annotate": {
        "dtype": ("bfloat16", "about twice as fast on CPUs with AVX512-BF16/AMX; the dataclass keeps float32, "
                              "which every CPU runs"),
        "template": ("Label each text as one of: {labels}.\n\n{examples}Text: {text}\nLabel:",
                     "a generic prompt that names the label set"),
        "variants": ({"question": {"template": "Answer with one of: {labels}.\n\n{examples}Text: {text}\nAnswer:",
                                   "example_template": "Text: {text}\nAnswer: {label}\n\n"},
                      "category": {"template": "Categories: {labels}\n\n{examples}Input: {text}\nCategory:",
                                   "example_template": "Input: {text}\nCategory: {label}\n\n"}},
                     "a consistency ensemble of two rephrased prompts (annotator_question, annotator_category)"),
    },
    "validate": {"min_rows": (50, "a label set worth gating; the dataclass accepts any non-empty table")},
    "audit_reference": {"epochs": (3, "a few hundred audited rows need more epochs than train: gives them")},
}


def write_or_check(path: Path, text: str, argv: list[str], *, root: Path, script: str) -> int:
    """Write `text` to `path`; with --check in `argv`, write nothing and return 1 (naming `script` to re-run) when
    the file differs. The exit code of both render scripts."""
    if "--check" in argv:
        if path.read_text(encoding="utf-8") != text:
            print(f"{path.relative_to(root)} is out of date; run python {script}")
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0
