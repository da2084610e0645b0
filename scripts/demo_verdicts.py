"""Print the demo's two verdicts in two lines and exit 0 when they are the documented ones.

The demo gates two label sets of the same 2,000 tweets: the Gemma-3-270M labels (documented verdict: BLOCKED, by
`labelgate gate`) and the crowd labels (documented verdict: WARN, by `labelgate check`: not blocked, every required
figure measured and every blocking expectation passed, with one warning: the crowd labels' class shares differ
from the gold test set's, which was drawn from the confidently labelled tweets). `make demo` and this
repository's CI call this script after `dvc repro gate gold_check`, so a blocked demo label set is the expected
outcome, not a failure; a verdict other than the documented one (or a missing verdict) exits 1.

    python scripts/demo_verdicts.py [metrics/gate.json=block] [metrics/gold_check.json=warn]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from labelgate.verdict import BANNER, verdict_status  # warn: passed with warnings (exit 0)

EXPECTED = (
    ("Gemma-3-270M labels", "metrics/gate.json", "block"),
    ("crowd labels, same pool", "metrics/gold_check.json", "warn"),
)
REPORT = "reports/report.html"


def main(argv: list[str]) -> int:
    expected = list(EXPECTED)
    for i, arg in enumerate(argv[:len(expected)]):
        path, _, want = arg.partition("=")
        expected[i] = (expected[i][0], path, want or expected[i][2])
    ok = True
    for name, path, want in expected:
        try:
            verdict = json.loads(Path(path).read_text(encoding="utf-8"))
            got, reason = verdict_status(verdict), verdict.get("reason", "")
        except (OSError, ValueError) as exc:
            got, reason = None, f"no verdict: {exc}"
        as_documented = got == want
        ok = ok and as_documented
        shown = BANNER.get(got, "NO VERDICT")
        tail = "as documented" if as_documented else f"NOT as documented (expected {BANNER[want]})"
        print(f"{name + ':':26} {shown:8} {tail} - {reason} [{path}]")
    print(f"report: {REPORT}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
