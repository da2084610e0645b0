"""Values checked before they go into a generated file: no control characters, paths relative and inside the
repository, quoted for the shell and for DVC's ${} interpolation."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from labelgate.errors import ConfigError


# Control characters (newline, tab, escape, ...) and Unicode line separators: a value holding one could start a new
# YAML key or shell command in a generated file, so init refuses it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def checked_value(name: str, value: str) -> str:
    """A value init writes into a generated file, refused (ConfigError, exit 2) when it holds a control character."""
    if _CONTROL.search(value):
        raise ConfigError(f"{name} {value!r}: holds a control character (newline, tab, ...); init writes it into "
                          "dvc.yaml/params.yaml/the workflow, so rename it")
    return value


def checked_path(name: str, value: str) -> str:
    """A path option of init: relative, no control character, not read as an option (a leading '-')."""
    checked_value(name, value)
    if Path(value).is_absolute():
        raise ConfigError(f"{name} {value}: give a path relative to the repository, not an absolute one")
    if value.startswith("-"):
        raise ConfigError(f"{name} {value}: starts with '-', which a command reads as an option; write ./{value}")
    return value


def shell_path(path: str) -> str:
    """`path` as one word of a dvc.yaml `cmd`: quoted for the shell (shlex.quote), and each `${` escaped as `\\${`
    so DVC's templating (which unescapes `\\${` in every stage string) leaves it as written."""
    return dvc_escape(shlex.quote(path))


def dvc_escape(value: str) -> str:
    """Escape DVC's `${...}` interpolation in a user's string (a dep, an out or a cmd word)."""
    return value.replace("${", "\\${")
