"""Progress in non-interactive logs: a line per ~10% with rate and ETA; a bar only on a terminal."""

from __future__ import annotations

import io

import pytest

from labelgate.progress import BAR, LOG, OFF, LogProgress, progress, progress_mode


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestProgressMode:
    def test_terminal_gets_a_bar_and_a_pipe_gets_log_lines(self):
        assert progress_mode(None, stream=Tty()) == BAR
        assert progress_mode(None, stream=io.StringIO()) == LOG
        assert progress_mode(True, stream=io.StringIO()) == LOG
        assert progress_mode(False, stream=Tty()) == OFF
        assert progress_mode("log") == LOG

    def test_unknown_mode_is_refused(self):
        with pytest.raises(ValueError, match="progress mode"):
            progress_mode("loud")


class TestLogProgress:
    def test_one_line_per_tenth_with_rate_and_eta(self):
        out, clock = io.StringIO(), FakeClock()
        bar = LogProgress(stream=out, clock=clock)
        task = bar.add_task("train raw seed 0", total=200, status="")
        for step in range(200):
            clock.now += 0.5
            bar.update(task, advance=1, status=f"loss {1 - step / 400:.3f}")
        lines = out.getvalue().splitlines()
        assert len(lines) == 10
        assert lines[0] == "train raw seed 0: 10% (20/200) 2.0 it/s, 10 s elapsed, ETA 1.5 min, loss 0.953"
        assert lines[4].startswith("train raw seed 0: 50% (100/200) 2.0 it/s, 50 s elapsed, ETA 50 s")
        assert lines[-1].startswith("train raw seed 0: 100% (200/200) 2.0 it/s, 1.7 min elapsed, ETA 0 s")

    def test_jumps_print_once_and_unknown_total_prints_nothing(self):
        out, clock = io.StringIO(), FakeClock()
        bar = LogProgress(stream=out, clock=clock)
        task = bar.add_task("annotate", total=None)
        bar.update(task, completed=5)
        assert out.getvalue() == ""
        clock.now = 4.0
        bar.update(task, completed=8, total=10)  # 0% -> 80% in one go: a single line
        bar.update(task, completed=10, total=10)
        assert out.getvalue().splitlines() == ["annotate: 80% (8/10) 2.0 it/s, 4 s elapsed, ETA 1 s",
                                               "annotate: 100% (10/10) 2.5 it/s, 4 s elapsed, ETA 0 s"]

    def test_progress_context_gives_the_right_kind(self):
        with progress("off") as none:
            assert none is None
        with progress("log") as log:
            assert isinstance(log, LogProgress)
