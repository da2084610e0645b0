"""Peak memory of a command and every process it starts: the summed proportional set size (PSS: shared pages
counted once, split among the processes sharing them) and the summed RSS, sampled every 0.2 s.

Usage: python bench/tree_memory.py python bench/bench_score.py --rows 1000000

bench_score.py records the scoring process's own peak RSS; worker processes (the forked fold fits, the TF-IDF
transform's workers) are not in it. This is the machine's view: what the whole tree holds at its peak
(bench/score_throughput.md).
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil


def main(command: list[str]) -> int:
    child = subprocess.Popen(command)
    root = psutil.Process(child.pid)
    start, peak_pss, peak_rss, peak_at, peak_n = time.time(), 0, 0, 0.0, 0
    while child.poll() is None:
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        pss = rss = 0
        for process in processes:
            try:
                info = process.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            pss, rss = pss + info.pss, rss + info.rss
        if pss > peak_pss:
            peak_pss, peak_at, peak_n = pss, time.time() - start, len(processes)
        peak_rss = max(peak_rss, rss)
        time.sleep(0.2)
    print(f"exit {child.returncode}; peak summed PSS {peak_pss / 2**30:.2f} GiB ({peak_n} processes, at "
          f"{peak_at:.1f} s of {time.time() - start:.1f} s); peak summed RSS {peak_rss / 2**30:.2f} GiB", flush=True)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
