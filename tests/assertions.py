"""Assertions shared by the fault tests (and the forked-worker tests)."""

from __future__ import annotations

import os


def no_children_left() -> bool:
    """True when this process has no child, running or unreaped (a forked worker is always waited for)."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def one_error_line(result, *, code: int, contains: str | tuple[str, ...] = ()) -> str:
    """Assert exit `code`, exactly one line on stderr, no traceback or internal error; return the line."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for text in (contains,) if isinstance(contains, str) else contains:
        assert text in lines[0], lines[0]
    return lines[0]


def ordered_interval(result: dict, wrong) -> tuple[float, float, float] | None:
    """An error-rate estimate's (lower, rate, upper), asserted ordered inside [0, 1]; None (asserted not measured)
    when no row of `wrong` was audited."""
    import numpy as np

    if np.isnan(wrong).all():
        assert result["label_error_rate"] is None
        return None
    low, rate, high = (result[k] for k in ("label_error_rate_lower", "label_error_rate", "label_error_rate_upper"))
    assert 0.0 <= low <= rate <= high <= 1.0
    return low, rate, high
