"""Assertions shared by the fault tests."""

from __future__ import annotations


def one_error_line(result, *, code: int, contains: str | tuple[str, ...] = ()) -> str:
    """Assert exit `code`, exactly one line on stderr, no traceback or internal error; return the line."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for text in (contains,) if isinstance(contains, str) else contains:
        assert text in lines[0], lines[0]
    return lines[0]
