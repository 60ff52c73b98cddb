"""Error toasts that help under pressure: capped in length, and de-duplicated, so the same
"key file missing" for three hosts is one toast (``host1, host2, host3: … ×3``) and a
repeated error does not pile up. Every error is also in the log, in full.

Pure logic (no widgets): the app feeds it the error lines of each drain and calls
:meth:`Toaster.tick` on every drain; a batch is shown once a drain passes without new errors
(80–160 ms later), so errors from hosts read in parallel land in one toast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

MAX_CHARS = 240
"""A toast longer than this is cut, pointing to the log for the rest."""
MAX_PER_BATCH = 3
"""Toasts shown from one batch; more get one "N more errors — see the log" toast."""
REPEAT_SECONDS = 5.0
"""The same error is not toasted again within this time (it is still logged)."""


def clip_toast(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters with a pointer to the log when longer."""
    if len(text) <= limit:
        return text
    suffix = "… (in full in the log: l, Enter)"
    return text[: limit - len(suffix)].rstrip() + suffix


class Toaster:
    """Batches error lines into toasts.

    Args:
        show: ``show(text)`` puts one toast on screen.
        hosts: the configured host names (a leading ``host: `` is grouped across hosts).
        clock: seconds, monotonic (for :data:`REPEAT_SECONDS`).
    """

    def __init__(self, show: Callable[[str], None], hosts: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.show = show
        self.hosts = set(hosts)
        self.clock = clock
        self._pending: list[str] = []
        self._fresh = False
        self._shown: dict[str, float] = {}

    @property
    def pending(self) -> bool:
        """Errors are queued for a toast not shown yet."""
        return bool(self._pending)

    def add(self, texts: Iterable[str]) -> None:
        """Queue error texts (without the log's error mark)."""
        for text in texts:
            self._pending.append(text)
            self._fresh = True

    def tick(self) -> int:
        """Called on every drain: shows the pending batch once no error came for a whole
        drain. Returns how many toasts were shown."""
        if self._fresh:
            self._fresh = False
            return 0
        return self.flush()

    def _key(self, text: str) -> tuple[str, str]:
        host, sep, rest = text.partition(": ")
        if sep and host in self.hosts and rest:
            # a message that names its host itself ("host3: host3: unreachable") once
            return rest.removeprefix(f"{host}: ") or rest, host
        return text, ""

    def flush(self) -> int:
        """Show the pending errors now: one toast per distinct message (hosts grouped,
        ``×N`` when repeated), at most :data:`MAX_PER_BATCH`; messages toasted in the last
        :data:`REPEAT_SECONDS` are skipped. Returns how many toasts were shown."""
        pending, self._pending = self._pending, []
        grouped: dict[str, tuple[list[str], int]] = {}
        for text in pending:
            message, host = self._key(text)
            hosts, count = grouped.get(message, ([], 0))
            if host and host not in hosts:
                hosts.append(host)
            grouped[message] = (hosts, count + 1)
        now = self.clock()
        self._shown = {k: t for k, t in self._shown.items() if now - t < REPEAT_SECONDS}
        toasts = []
        for message, (hosts, count) in grouped.items():
            if message in self._shown:
                continue
            self._shown[message] = now
            text = f"{', '.join(hosts)}: {message}" if hosts else message
            toasts.append(text + (f" ×{count}" if count > 1 else ""))
        for text in toasts[:MAX_PER_BATCH]:
            self.show(clip_toast(text))
        if len(toasts) > MAX_PER_BATCH:
            self.show(f"{len(toasts) - MAX_PER_BATCH} more errors — see the log")
        return min(len(toasts), MAX_PER_BATCH + 1)
