"""The other generated files: params.yaml (the packaged defaults with the user's labels, strategies and annotation
prompt), the PR workflow, and the packaged expectation suites."""

from __future__ import annotations

import json
import re

import yaml

from labelgate.errors import LabelgateError
from labelgate.scaffold.options import HEADER, InitOptions


WORKFLOW_PATH = ".github/workflows/labelgate.yml"
CONSTRAINTS_PATH = ".github/labelgate-constraints.txt"  # the workflow installs labelgate under it (pip -c)


def annotation_prompt_note(labels: tuple[str, ...]) -> str:
    shown = ", ".join(labels) if labels else "the label set (base.labels)"
    return f"# the prompts below ask for one of: {shown}"


def render_params(options: InitOptions, strategies: tuple[str, ...]) -> str:
    """The packaged default params with the user's labels, strategies, annotator and reference."""
    from labelgate.packaged import default_params_path

    text = default_params_path().read_text(encoding="utf-8")
    text = re.sub(r"^# labelgate default parameters:.*?(?=^base:)", "", text, flags=re.S | re.M)
    head = [f"{HEADER} {options.version}; the single source of settings and thresholds of this repository's "
            "labelgate pipeline.", "# Each stage in dvc.yaml lists only the keys it reads.", ""]
    text = _set(text, "base", "labels", _flow(list(options.labels)))
    if options.annotates:
        text = _set(text, "annotate", "backend", options.annotator)
        if options.annotator == "openai":  # a served model name; chat returns top logprobs for the label token
            text = _set(text, "annotate", "model", "gpt-4o-mini", "the served model's name (vLLM, Ollama: theirs)")
            text = _set(text, "annotate", "endpoint", "chat")
        text = text.replace("\nannotate:\n", f"\n{annotation_prompt_note(options.labels)}\nannotate:\n", 1)
    else:
        text = _drop_section(text, "annotate")
    text = _set(text, "filter", "strategies", _flow(list(strategies)))
    if not options.gold_pool:
        text = _set(text, "evaluate", "reference", '""')
    # The packaged comments cite labelgate's own benchmark files, which an adopting repository does not have.
    text = re.sub(r"\bbench/([\w./-]*[\w/])", r"labelgate's benchmark notes (\1, in labelgate's source)", text)
    version = f"labelgate:\n  version: {_scalar(options.version)}   # the installed labelgate; every stage lists it\n\n"
    return "\n".join(head) + version + text


def _scalar(value: str) -> str:
    """One YAML scalar that reads back as the string `value` (never a boolean, number or mapping)."""
    text = yaml.safe_dump(str(value), default_flow_style=True, width=10**6, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def _flow(values: list[str]) -> str:
    """A YAML flow list of strings, each quoted where YAML would read it as something else (`yes`, `1.5`, `a: b`)."""
    return "[" + ", ".join(_scalar(v) for v in values) + "]"


def _set(text: str, section: str, key: str, value: str, comment: str | None = None) -> str:
    """Replace `key:`'s value inside `section:` of a params file, keeping its comment (or putting `comment`)."""
    block = re.search(rf"^{section}:.*?(?=^\S|\Z)", text, flags=re.S | re.M)
    if block is None:
        raise LabelgateError(f"packaged params.yaml has no section '{section}'")
    pattern = re.compile(rf"^(  {key}:)[ ]*([^#\n]*?)([ ]*#.*)?$", flags=re.M)
    def replace(m: re.Match) -> str:
        note = f"# {comment}" if comment is not None else (m.group(3) or "").strip()
        return f"{m.group(1)} {value}" + (f"  {note}" if note else "")

    inner, count = pattern.subn(replace, block.group(0), count=1)
    if not count:
        raise LabelgateError(f"packaged params.yaml has no key '{section}.{key}'")
    return text[:block.start()] + inner + text[block.end():]


def _drop_section(text: str, section: str) -> str:
    """Remove a top-level section together with the comment lines right above it."""
    return re.sub(rf"(?:^#[^\n]*\n)*^{section}:.*?(?=^\S|\Z)", "", text, count=1, flags=re.S | re.M)


def render_workflow(options: InitOptions) -> str:
    from labelgate.packaged import DEFAULTS_DIR

    template = (DEFAULTS_DIR / "workflow.yml").read_text(encoding="utf-8")
    # the env value as a YAML double-quoted scalar (JSON is one); the shell reads it only as "$LABELGATE_SPEC"
    template = template.replace('"@LABELGATE_SPEC@"', json.dumps(options.install, ensure_ascii=False))
    return template.replace("@LABELGATE_SPEC@", options.install)  # the header comment (no control characters)


def render_constraints() -> str:
    """The versions labelgate's own test suite passed with (the packaged constraints.txt), for the PR workflow's
    install: `labelgate[demo]` then gets the tested versions, not whatever is newest."""
    from labelgate.packaged import DEFAULTS_DIR

    return (DEFAULTS_DIR / "constraints.txt").read_text(encoding="utf-8")


def expectation_files() -> dict[str, str]:
    from labelgate.packaged import default_expectations_dir

    folder = default_expectations_dir()
    return {f"expectations/{p.name}": p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.json"))}
