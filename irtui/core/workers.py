"""Worker threads kept for the life of the process: hosts are read and changed in parallel on
them, rather than on threads started (and joined) anew for every action.

An action on 50 hosts reads them (50 threads) and then changes them (50 more); starting 100
threads cost about 20 ms of CPU per block, a tenth of irtui's own CPU in a warm block. A
thread here waits for the next task once its task is done; a new one is started only when no
thread is free, so there is no fixed cap and a task that itself runs tasks in parallel (a
plan reading hosts inside an action) cannot wait forever for a free thread. The threads are
daemon threads, which never hold up the process's exit: :func:`each_done` itself returns
only once every task it started has finished, as a ``ThreadPoolExecutor`` block does.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Done = tuple[int, bool, Any]
"""One finished task: its index in the items, whether it returned, and its value (the
exception it raised when it did not)."""


class Workers:
    """Threads that run tasks and wait for the next one; thread-safe."""

    def __init__(self, name: str = "irtui-worker") -> None:
        self.name = name
        self._tasks: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = \
            queue.SimpleQueue()
        self._guard = threading.Lock()
        self._free = 0
        self.started = 0
        """Threads started so far."""

    def start(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on a free thread, or on a new one when none is free. ``fn``
        must not raise (what it raises is dropped)."""
        self._tasks.put((fn, args))
        with self._guard:
            if self._free:  # a free thread takes it (each free one is waiting on the queue)
                self._free -= 1
                return
            self.started += 1
            number = self.started
        threading.Thread(target=self._serve, name=f"{self.name}-{number}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            fn, args = self._tasks.get()
            with contextlib.suppress(BaseException):  # fn's contract: it reports its own
                fn(*args)
            del fn, args  # nothing of a finished task is kept alive while this waits
            with self._guard:
                self._free += 1


WORKERS = Workers()
"""The process's workers."""


def each_done(fn: Callable[[T], R], items: Sequence[T], limit: int) -> Iterator[Done]:
    """``fn(item)`` for every item on :data:`WORKERS`, at most ``limit`` at once, yielding
    each as it finishes (in the order they finish).

    Yields:
        ``(index, returned, value)``: the item's index in ``items``; True and what ``fn``
        returned, or False and the exception it raised.

    When the caller stops early (an exception, or it closes the generator), no further item
    is started and this waits until every started one has finished, as leaving a
    ``ThreadPoolExecutor``'s ``with`` block does.
    """
    finished: queue.SimpleQueue[Done] = queue.SimpleQueue()

    def task(index: int, item: T) -> None:
        try:
            finished.put((index, True, fn(item)))
        except BaseException as exc:  # handed to the caller
            finished.put((index, False, exc))

    pending = enumerate(items)
    running = 0
    try:
        for index, item in islice(pending, max(1, limit)):
            WORKERS.start(task, index, item)
            running += 1
        while running:
            done = finished.get()
            running -= 1
            for index, item in islice(pending, 1):
                WORKERS.start(task, index, item)
                running += 1
            yield done
    finally:
        while running:
            finished.get()
            running -= 1


def each_result(fn: Callable[[T], R], items: Sequence[T], limit: int) -> list[R]:
    """``fn(item)`` for every item (see :func:`each_done`), results in the order of
    ``items``.

    Raises:
        Exception: the first one raised, in the order of ``items``, once all have finished
            (as ``ThreadPoolExecutor.map``).
    """
    got: dict[int, tuple[bool, Any]] = {}
    for index, returned, value in each_done(fn, items, limit):
        got[index] = (returned, value)
    results = []
    for index in range(len(items)):
        returned, value = got[index]
        if not returned:
            raise value
        results.append(value)
    return results
