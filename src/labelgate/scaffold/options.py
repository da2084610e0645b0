"""What `labelgate init` is told (InitOptions), each value checked before it goes into a generated file, and which
filter strategies the user's label table supports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from labelgate.errors import ConfigError
from labelgate.scaffold.checks import checked_path, checked_value
from labelgate.scaffold.install import checked_install, default_install_spec, installed_version


ANNOTATORS = ("local", "openai")


TODO = {"texts": "TODO_texts.csv", "test": "TODO_test.csv"}


@dataclass(frozen=True)
class InitOptions:
    """What `labelgate init` wires up. Paths are relative to the target repository."""

    texts: str | None = None  # texts to annotate (annotate stage)
    labels_table: str | None = None  # an existing LLM label table (no annotate stage)
    test: str | None = None  # gold test set: text, label
    gold_pool: str | None = None  # gold pool: text, label (the gold-label reference run)
    labels: tuple[str, ...] = ()
    annotator: str = "local"
    install: str = ""  # pip requirement of the workflow; default labelgate[demo]==<installed version>
    strategies: tuple[str, ...] = ()  # filter strategies; default: what the table supports
    version: str = ""

    def __post_init__(self):
        if self.texts and self.labels_table:
            raise ConfigError("--texts and --labels-table exclude each other: annotate texts, or start from a table")
        if self.annotator not in ANNOTATORS:
            raise ConfigError(f"--annotator must be one of {', '.join(ANNOTATORS)}, got {self.annotator!r}")
        for name, value in (("--texts", self.texts), ("--labels-table", self.labels_table), ("--test", self.test),
                            ("--gold-pool", self.gold_pool)):
            if value:
                checked_path(name, value)
        if self.gold_pool and self.gold_pool in (self.texts, self.labels_table):
            raise ConfigError(f"--gold-pool {self.gold_pool}: is the table being checked; the gold pool is a separate "
                              "set of texts with gold labels (not the audited rows, which stay in the table)")
        from labelgate.config import BaseParams

        for label in self.labels:
            checked_value("--labels", str(label))
        try:
            object.__setattr__(self, "labels", BaseParams(labels=tuple(self.labels)).labels)
        except ValueError as exc:
            raise ConfigError(f"--labels: {exc}") from None
        object.__setattr__(self, "version", checked_value("version", self.version or installed_version()))
        object.__setattr__(self, "install", checked_install(self.install or default_install_spec(self.version)))

    @property
    def annotates(self) -> bool:
        return not self.labels_table

    @property
    def label_table(self) -> str:
        return self.labels_table or LABEL_TABLE_OUT

    def todo(self) -> list[str]:
        """Options left unset, which the scaffold marks as TODO."""
        missing = []
        if not (self.texts or self.labels_table):
            missing.append("--texts (or --labels-table)")
        if not self.test:
            missing.append("--test")
        return missing


def supported_strategies(columns: Iterable[str] | None) -> tuple[str, ...]:
    """Filter strategies a label table supports, without duplicates (None: annotated here, so all of them).

    entropy needs llm_prob_* or annotator_* columns, consensus needs annotator_* columns, and combined intersects
    the available ones, so it is a distinct subset only when at least two of entropy, cleanlab, consensus are.
    """
    from labelgate.vocabulary import ANNOTATOR_PREFIX, LLM_PROB_PREFIX, STRATEGIES

    if columns is None:
        return STRATEGIES
    columns = list(columns)
    probs = any(c.startswith(LLM_PROB_PREFIX) for c in columns)
    annotators = any(c.startswith(ANNOTATOR_PREFIX) for c in columns)
    found = ["raw", "cleanlab"]
    if probs or annotators:
        found.insert(1, "entropy")
    if annotators:
        found.append("consensus")
    if len(found) - 1 >= 2:
        found.append("combined")
    return tuple(found)


def table_columns(path: Path) -> list[str] | None:
    """The columns of the user's label table, or None when it does not exist yet."""
    if not path.is_file():
        return None
    from labelgate.contract import read_table

    return [str(c) for c in read_table(path).columns]


HEADER = "# Written by `labelgate init`"


LABEL_TABLE_OUT = "data/llm_labels.csv"
