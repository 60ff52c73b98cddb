"""irtui/core/workers.py: the threads kept between actions run every item, at most `limit`
at once, hand results back in order (or as they finish), raise a task's exception only once
every task has finished, never deadlock when a task runs tasks itself, and are reused."""

from __future__ import annotations

import threading
import time

import pytest

from irtui.core.workers import WORKERS, each_done, each_result


def test_results_come_back_in_the_items_order_with_at_most_limit_at_once() -> None:
    lock = threading.Lock()
    running, peak = [0], [0]

    def slow(x: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02 if x % 3 else 0.001)  # they finish out of order
        with lock:
            running[0] -= 1
        return x * x

    assert each_result(slow, list(range(30)), 4) == [x * x for x in range(30)]
    assert peak[0] == 4
    finished = [index for index, returned, _ in each_done(slow, list(range(12)), 12)]
    assert sorted(finished) == list(range(12)) and finished != list(range(12))


def test_a_raised_exception_comes_after_every_task_finished() -> None:
    ended: list[int] = []

    def task(x: int) -> int:
        if x == 1:
            raise ValueError("host 1 failed")
        time.sleep(0.05)
        ended.append(x)
        return x

    with pytest.raises(ValueError, match="host 1 failed"):
        each_result(task, [0, 1, 2, 3], 4)
    assert sorted(ended) == [0, 2, 3]  # none still running behind the caller's back


def test_tasks_that_run_tasks_never_wait_forever_and_threads_are_reused() -> None:
    def outer(n: int) -> int:
        return sum(each_result(lambda x: x + 1, list(range(n)), 1))

    assert each_result(outer, [5] * 8, 8) == [15] * 8  # 8 outer tasks, each waiting on its own
    before = WORKERS.started
    for _ in range(5):
        assert each_result(lambda x: x, list(range(8)), 8) == list(range(8))
    assert WORKERS.started - before < 8  # 40 tasks ran on threads already there


def test_the_caller_stopping_early_starts_nothing_more() -> None:
    started: list[int] = []

    def task(x: int) -> int:
        started.append(x)
        return x

    done = each_done(task, list(range(100)), 2)
    next(done)
    done.close()
    assert len(started) <= 3
