#!/usr/bin/env bash
# Time the demo: `dvc repro gate gold_check` (what `make demo` runs after installing), the verdict summary, then
# `dvc repro` three times with nothing changed (only the `enforce` stage runs: it fails while the gate blocks).
# Run from a checkout without pipeline outputs for the from-scratch figure; the annotation cache is committed.
# Results: bench/demo_timing.md.
set -u
cd "$(dirname "$0")/.."
date -u
/usr/bin/time -f "dvc repro gate gold_check: %e s wall, %U s user, %S s sys" dvc repro gate gold_check > /tmp/demo_repro.log 2>&1
echo "exit $?"
python scripts/demo_verdicts.py; echo "demo_verdicts exit $?"
for i in 1 2 3; do
  /usr/bin/time -f "dvc repro, nothing changed: %e s wall, %U s user, %S s sys" dvc repro > /tmp/demo_repro_again.log 2>&1
  echo "exit $?"
done
/usr/bin/time -f "labelgate enforce alone: %e s wall, %U s user" labelgate enforce metrics/gate.json > /dev/null
uptime
