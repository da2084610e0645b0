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

    def test_phases_of_known_cost_give_the_share_rate_and_time_left(self):
        from labelgate.progress import PhaseProgress

        out, clock = io.StringIO(), FakeClock()
        bar = LogProgress(stream=out, clock=clock, unit="rows")
        phases = PhaseProgress(bar, "score t.parquet", 1_000_000, {"validate": 0.1, "cleanlab": 0.6, "label_error": 0.3})
        phases.phase("validate")  # nothing done yet: no line
        clock.now = 10.0
        phases.phase("cleanlab")  # 10% done in 10 s
        clock.now = 70.0
        phases.phase("unlisted")  # a phase without a cost counts default_cost (0.02) and still moves on
        clock.now = 71.0
        phases.phase("label_error")
        clock.now = 100.0
        phases.finish()
        lines = out.getvalue().splitlines()
        assert lines[0] == ("score t.parquet: 10% (100000/1000000) 10000.0 rows/s, 10 s elapsed, ETA 1.5 min, "
                            "cleanlab")
        assert lines[1].startswith("score t.parquet: 69% (686275/1000000)") and lines[1].endswith(", unlisted")
        assert lines[-1].startswith("score t.parquet: 100% (1000000/1000000)") and "ETA 0 s" in lines[-1]

    def test_progress_context_gives_the_right_kind(self):
        with progress("off") as none:
            assert none is None
        with progress("log") as log:
            assert isinstance(log, LogProgress)
