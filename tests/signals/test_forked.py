"""Forked workers (signals/forked.py): the same results as one process, in order; a child's warning, exception or
death reaches the parent; no child outlives the call; where forking is not used, threads do the work."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest
from assertions import no_children_left

from labelgate.signals import forked
from labelgate.signals.forked import map_in_processes

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="forked workers run on Linux only")


def square_with_pid(item: int) -> tuple[int, int]:
    return item * item, os.getpid()


class TestResults:
    @pytest.mark.parametrize("n_jobs", [2, 3])
    def test_results_in_order_from_this_process_and_its_children(self, n_jobs):
        out = map_in_processes(square_with_pid, range(7), n_jobs=n_jobs)
        assert [value for value, _ in out] == [i * i for i in range(7)]
        pids = [pid for _, pid in out]
        assert pids[0::n_jobs] == [os.getpid()] * len(pids[0::n_jobs])  # the parent is worker 0
        assert len(set(pids)) == n_jobs and no_children_left()

    def test_a_child_reads_the_parents_arrays_without_copying_them_in(self):
        features = np.random.default_rng(0).random((50, 4))
        out = map_in_processes(lambda rows: features[rows].sum(axis=0), [slice(0, 25), slice(25, 50)], n_jobs=2)
        assert np.array_equal(np.vstack(out), np.vstack([features[:25].sum(axis=0), features[25:].sum(axis=0)]))

    def test_the_workers_share_the_cores_among_their_blas_pools(self):
        from threadpoolctl import threadpool_info

        def blas_threads(_):
            return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

        cores = len(os.sched_getaffinity(0))
        before = blas_threads(None)
        assert map_in_processes(blas_threads, range(2), n_jobs=2) == [{max(1, cores // 2)}] * 2
        assert blas_threads(None) == before  # restored after the call

    def test_one_worker_or_no_fork_runs_in_threads_of_this_process(self, monkeypatch):
        assert {pid for _, pid in map_in_processes(square_with_pid, range(3), n_jobs=1)} == {os.getpid()}
        assert {pid for _, pid in map_in_processes(square_with_pid, range(3), n_jobs=2, fork=False)} == {os.getpid()}
        monkeypatch.setattr(forked, "can_fork", lambda: False)
        out = map_in_processes(square_with_pid, range(5), n_jobs=2)
        assert out == [(i * i, os.getpid()) for i in range(5)]

    def test_a_failed_fork_leaves_the_work_to_this_process(self, monkeypatch):
        def refuse():
            raise OSError(11, "Resource temporarily unavailable")

        monkeypatch.setattr(os, "fork", refuse)
        assert map_in_processes(square_with_pid, range(4), n_jobs=2) == [(i * i, os.getpid()) for i in range(4)]


class TestFailures:
    def test_a_childs_exception_is_raised_here(self):
        def fail_in_child(item):
            if os.getpid() != parent:
                raise ValueError(f"bad item {item}")
            return item

        parent = os.getpid()
        with pytest.raises(ValueError, match="bad item 1"):
            map_in_processes(fail_in_child, range(4), n_jobs=2)
        assert no_children_left()

    def test_a_childs_warnings_are_issued_here(self):
        def warn(item):
            warnings.warn(f"fold {item} did not converge", RuntimeWarning, stacklevel=1)
            return item

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert map_in_processes(warn, range(4), n_jobs=2) == [0, 1, 2, 3]
        assert sorted(str(w.message) for w in caught) == [f"fold {i} did not converge" for i in range(4)]

    def test_a_child_that_dies_is_an_error_naming_its_status(self):
        def die_in_child(item):
            if os.getpid() != parent:
                os._exit(3)
            return item

        parent = os.getpid()
        with pytest.raises(RuntimeError, match=r"died without an answer \(wait status 768\)"):
            map_in_processes(die_in_child, range(2), n_jobs=2)
        assert no_children_left()

    def test_an_exception_here_kills_and_reaps_the_children(self):
        def slow_child(item):
            if os.getpid() != parent:
                time.sleep(60)
            raise KeyboardInterrupt

        parent = os.getpid()
        start = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            map_in_processes(slow_child, range(2), n_jobs=2)
        assert time.perf_counter() - start < 10 and no_children_left()


class TestAhead:
    """forked.Ahead: a value computed in a child while this process goes on."""

    def test_the_value_comes_from_a_child(self):
        job = forked.Ahead(square_with_pid, 6)
        assert job.child is not None
        value, pid = job.result()
        assert value == 36 and pid != os.getpid() and job.result() == (36, pid)  # computed once
        assert job.child is None and no_children_left()

    def test_a_childs_exception_is_raised_here(self):
        job = forked.Ahead(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            job.result()
        assert no_children_left()

    def test_a_child_that_dies_leaves_the_work_to_this_process(self):
        parent = os.getpid()

        def die_in_child():
            if os.getpid() != parent:
                os._exit(9)
            return "computed here"

        assert forked.Ahead(die_in_child).result() == "computed here" and no_children_left()

    def test_cancel_kills_and_reaps_a_running_child(self):
        with forked.Ahead(time.sleep, 60) as job:
            assert job.child is not None
        assert job.child is None and no_children_left()

    def test_without_fork_the_value_is_computed_here_when_asked(self, monkeypatch):
        monkeypatch.setattr(forked, "can_fork", lambda: False)
        job = forked.Ahead(square_with_pid, 3)
        assert job.child is None and job.result() == (9, os.getpid())
