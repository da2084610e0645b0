"""labelgate.gpu_claim: each training process claims its own GPU through a lock file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labelgate import gpu_claim

REPO = Path(__file__).resolve().parents[1]


class TestClaimGpu:
    @pytest.fixture(autouse=True)
    def _locks(self, tmp_path, monkeypatch):
        monkeypatch.setenv(gpu_claim.LOCK_DIR_ENV, str(tmp_path / "locks"))
        gpu_claim.release_gpus()
        yield
        gpu_claim.release_gpus()

    def test_each_process_claims_its_own_gpu(self, tmp_path):
        assert gpu_claim.claim_gpu(3) == 0
        assert gpu_claim.claim_gpu(3) == 0  # a process keeps its claim
        child = [sys.executable, "-c", "import sys, time; from labelgate.gpu_claim import claim_gpu; "
                 "print(claim_gpu(3), flush=True); sys.stdin.read()"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
        first = subprocess.Popen(child, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        second = subprocess.Popen(child, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        try:
            claimed = {int(first.stdout.readline()), int(second.stdout.readline())}
        finally:
            first.communicate("")
            second.communicate("")
        assert claimed == {1, 2}
        # all three taken: a fourth process shares one instead of waiting
        third = subprocess.run(child, input="", capture_output=True, text=True, env=env)
        assert int(third.stdout) in (0, 1, 2)
        gpu_claim.release_gpus()  # released (as at process exit): the next claim gets GPU 0 again
        assert gpu_claim.claim_gpu(3) == 0

    def test_no_gpu_is_an_error(self, tmp_path):
        with pytest.raises(ValueError, match="at least one GPU"):
            gpu_claim.claim_gpu(0, folder=tmp_path)

    def test_the_claim_is_written_to_the_lock_file(self, tmp_path):
        assert gpu_claim.claim_gpu(2, folder=tmp_path) == 0
        assert (tmp_path / "gpu0.lock").read_text() == f"{os.getpid()}\n"
