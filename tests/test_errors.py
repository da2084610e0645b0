"""labelgate.errors: every error knows its exit code, and a bad-input message is one line naming file, rows and
column."""

from __future__ import annotations

import pytest

from labelgate.errors import (
    EXIT_BAD_INPUT,
    EXIT_BLOCKED,
    BadInputError,
    ConfigError,
    LabelgateError,
    StageError,
)


def test_exit_codes():
    assert (EXIT_BLOCKED, EXIT_BAD_INPUT) == (1, 2)
    for error in (LabelgateError, BadInputError, ConfigError, StageError):
        assert error.exit_code == EXIT_BAD_INPUT


@pytest.mark.parametrize(("rows", "column", "expected"), [
    (None, None, "data/x.csv: empty text"),
    ([7], None, "data/x.csv: row 7: empty text"),
    ([2, 3], "text", "data/x.csv: rows 2, 3: column 'text': empty text"),
    (range(2, 10), "text", "data/x.csv: rows 2, 3, 4, 5, 6 (+3 more): column 'text': empty text"),
])
def test_bad_input_names_file_rows_and_column(rows, column, expected):
    error = BadInputError("data/x.csv", "empty text", rows=rows, column=column)
    assert str(error) == expected
    assert error.path == "data/x.csv" and error.column == column
    assert error.rows == (list(rows) if rows is not None else [])
