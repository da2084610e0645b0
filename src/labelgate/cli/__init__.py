"""The `labelgate` command line: each command parses its options, refuses an output over an input, loads
params.yaml and calls its stage module's `main` (docs/architecture.md lists which).

Exit codes: 0 pass, 1 blocked by the gate, 2 bad input or usage. Errors print one line on stderr (`--debug` or
LABELGATE_DEBUG=1 adds the traceback); the gate fails closed, so any unexpected error inside `gate` or `check` exits
1, never 0.

The package: `base` (the app, error handling, shared options), `labels` (the label-set and verdict commands),
`models` (the commands that run a model, and the report), `tools` (init, audit sample/merge, queue-grid).
"""

from labelgate.cli import labels, models, tools  # noqa: F401 - importing them registers their commands on `app`
from labelgate.cli.base import app

__all__ = ["app"]
