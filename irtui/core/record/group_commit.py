"""Group commit: many threads' writes made durable by one transaction, each caller still
returning only once its own write is committed.

With ``synchronous=FULL`` every SQLite COMMIT waits for the disk (fsync), so one transaction
per record makes 50 worker threads queue behind 700 fsyncs. Here a writer puts its item on
a queue; the first one finding no leader becomes the leader and commits whatever is queued
when its transaction starts (its own item first, then the rest in arrival order); the others
wait, and whoever arrived while a transaction ran is written by the next one. This is the
leader/follower scheme of database engines' group commit (e.g. LevelDB's ``DBImpl::Write``,
MySQL's binary-log group commit). Each caller gets its own item's outcome: a result, the
exception its item alone raised, or the failure of the whole transaction.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Take = Callable[[], list[T]]
"""``take() -> items``: the batch, removed from the queue; called once per transaction."""


class _Ticket(Generic[T, R]):
    """One caller's item, and how it ended (set once, under the queue's lock)."""

    __slots__ = ("done", "error", "item", "result", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.wake = threading.Event()  # set when done, or when this caller must lead
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit(Generic[T, R]):
    """Funnel concurrent writes into as few transactions as the disk allows.

    Args:
        commit: ``commit(take) -> outcomes``, run by one thread at a time (the leader). It
            opens the transaction, calls ``take()`` once to get the batch (every item queued
            by then, in order), writes them, commits, and returns one outcome per item in the
            same order: a result, or the Exception that item alone raised (that item was not
            written). Raising instead means the transaction failed and none was written:
            every caller in the batch gets the exception (if ``take`` was never called, the
            batch is everything queued at that moment).
        interrupted: makes the exception the other callers of a batch get when the leader
            was stopped by a BaseException that is not an Exception (KeyboardInterrupt,
            SystemExit); the leader itself re-raises the original.

    Thread-safe; a caller that is interrupted while it waits leaves the queue (or, if its
    item was already taken, the batch is still written without it waiting for the result).
    """

    def __init__(self, commit: Callable[[Take[T]], Sequence[R | Exception]],
                 interrupted: Callable[[BaseException], Exception]) -> None:
        self._commit = commit
        self._interrupted = interrupted
        self._mutex = threading.Lock()
        self._queue: deque[_Ticket[T, R]] = deque()
        self._leader: _Ticket[T, R] | None = None

    @property
    def waiting(self) -> int:
        """How many items are queued and not yet taken into a transaction (for progress
        displays and tests)."""
        with self._mutex:
            return len(self._queue)

    def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is queued, and return its result once the
        transaction holding it has committed.

        Raises:
            Exception: the exception ``commit`` returned for this item, or raised for the
                whole batch (callers other than the leader get their own copy of it).
        """
        ticket: _Ticket[T, R] = _Ticket(item)
        try:
            with self._mutex:
                self._queue.append(ticket)
                if self._leader is None:
                    self._leader = ticket
                leading = self._leader is ticket
            if not leading:
                ticket.wake.wait()  # until written by a leader, or made the leader
            if not ticket.done:
                self._lead(ticket)
        except BaseException:  # e.g. KeyboardInterrupt while waiting
            self._abandon(ticket)
            raise
        return ticket.outcome()

    def _abandon(self, ticket: _Ticket[T, R]) -> None:
        """``ticket``'s caller stopped waiting: drop its item if not yet taken, and pass
        on the lead if it held it. An item already taken is still written."""
        with self._mutex:
            if ticket in self._queue:
                self._queue.remove(ticket)
            if self._leader is ticket:
                self._hand_over()

    def _hand_over(self) -> None:
        """With the mutex held: make the first queued caller the leader and wake it, or
        note that there is none (the next caller leads)."""
        following = self._queue[0] if self._queue else None
        if following is not None:
            following.wake.set()
        self._leader = following

    def _take(self, batch: list[_Ticket[T, R]]) -> list[T]:
        with self._mutex:
            if not batch:
                batch.extend(self._queue)
                self._queue.clear()
            return [ticket.item for ticket in batch]

    def _lead(self, mine: _Ticket[T, R]) -> None:
        """Run one transaction for the queue (``mine`` is the leader's own ticket, first
        in it), settle every ticket in it, hand over."""
        batch: list[_Ticket[T, R]] = []
        outcomes: Sequence[R | Exception] = ()
        failure: BaseException | None = None
        try:
            outcomes = self._commit(lambda: self._take(batch))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"group commit: {len(outcomes)} outcomes for "
                                   f"{len(batch)} items")
        except BaseException as exc:
            failure = exc
        interrupt: BaseException | None = None
        while True:  # a caller left unsettled would wait for ever: finish, even on Ctrl-C
            try:
                self._settle(mine, batch, outcomes, failure)
                break
            except BaseException as exc:
                interrupt = exc
        if interrupt is not None:
            raise interrupt

    def _settle(self, mine: _Ticket[T, R], batch: list[_Ticket[T, R]],
                outcomes: Sequence[R | Exception], failure: BaseException | None) -> None:
        """Give each ticket of ``batch`` its outcome and wake it, then hand over the lead
        (idempotent, so it can be run again if interrupted)."""
        self._take(batch)  # a transaction that failed before taking: everyone queued now
        with self._mutex:
            for i, ticket in enumerate(batch):
                if not ticket.done:
                    if failure is not None:
                        ticket.error = (failure if ticket is mine
                                        else self._for_follower(failure))
                    elif isinstance(outcomes[i], Exception):
                        ticket.error = outcomes[i]  # type: ignore[assignment]
                    else:
                        ticket.result = outcomes[i]  # type: ignore[assignment]
                    ticket.done = True
                ticket.wake.set()
            if self._leader is mine:
                self._hand_over()

    def _for_follower(self, failure: BaseException) -> Exception:
        """The batch's failure as another caller raises it: its own copy (one exception
        object raised in several threads would collect their tracebacks)."""
        if not isinstance(failure, Exception):
            return self._interrupted(failure)
        try:
            return copy.copy(failure)
        except Exception:  # an exception type that cannot be rebuilt from its state
            return failure
