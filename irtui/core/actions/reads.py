"""Reading hosts fast: one round trip per host read, many hosts at once.

* First contact (or a profile that is no longer fresh, see
  :class:`~irtui.core.actions.profiles.ProfileCache`): the preflight probe and the firewall
  read run as ONE remote command (``probe.sh`` followed by ``read_after_probe.sh``). The read
  is the one of the backend the host is expected to have (its previous profile, the one
  forced in the config, else nftables); if the probe then chooses another backend (irtui's
  own state elsewhere, iptables rules to follow), that backend reads in a second command.
  The probe's facts are never guessed.
* Later reads: the firewall read alone.
* :func:`read_many` reads hosts in parallel (at most ``ssh.max_parallel`` at once) and hands
  each result over as soon as that host answered, so a slow or dead host delays nobody but
  itself (up to its ``ssh.connect_timeout``).
* :func:`prefetched` takes the reads a plan is built from, for all its hosts at once, before
  the plan's per-host logic runs; inside it, ``ctx.profile``/``ctx.read_state`` of the
  planning thread return those reads (each state once), so a plan still rests on one read
  of each host taken just before, as it did when hosts were read one by one.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from irtui.core.actions.profiles import PLAN_PROFILE_MAX_AGE, HostProfile
from irtui.core.actions.runner import read_failed, run_read
from irtui.core.errors import ActionError, IrtuiError
from irtui.core.firewall.backend import FirewallBackend, backend_named
from irtui.core.firewall.detect import choose_backend, parse_probe
from irtui.core.firewall.state import HostState
from irtui.core.gcpause import gc_paused
from irtui.core.plan import ReadBack, command_line
from irtui.core.remote import Command, script
from irtui.core.settings import Config, HostConfig
from irtui.core.workers import each_done

if TYPE_CHECKING:
    from irtui.core.actions.context import ActionContext

T = TypeVar("T")
READ_MARK = "\n### read\n"
EXIT_MARK = "\n### read-exit\n"


@dataclass(frozen=True)
class HostRead:
    """One host as just read: its preflight profile and its live firewall state."""

    profile: HostProfile
    state: HostState


Outcome = HostRead | IrtuiError
"""What reading one host gave: the read, or the one clear error that stopped it."""


def read_timeout(config: Config) -> float:
    """Seconds a firewall read may take (a large ruleset over a slow link)."""
    return config.ssh.connect_timeout * 3 + 30


def probe_and_read_line(host: HostConfig, read: Command) -> str:
    """The command line running the probe, then ``read``, on ``host``. ``$SSH_CONNECTION``
    is expanded by the login shell before any ``sudo -n`` resets the environment."""
    head = command_line(host, ("sh", "-c", script("probe") + script("read_after_probe"),
                               "irtui-probe"))
    return f'{head} "$SSH_CONNECTION" {shlex.join(read.argv)}'


def _expected_backend(ctx: ActionContext, host: HostConfig) -> FirewallBackend:
    known = ctx.profiles.cached(host.name)
    if known is not None:
        return known.backend
    forced = host.firewall or "auto"
    return backend_named("nftables" if forced == "auto" else forced)


def plain_read(ctx: ActionContext, host: HostConfig, profile: HostProfile,
               hold: bool = False) -> HostState:
    """Read ``host``'s firewall with its profile's backend (one remote command; with
    ``hold``, its session is kept for the change planned on it, :mod:`irtui.core.ssh_hold`).

    Raises:
        SSHError, HostKeyError, ActionError.
    """
    backend = profile.backend
    text = run_read(ctx.pool, host, backend.read_command(), timeout=read_timeout(ctx.config),
                    hold=hold)
    with gc_paused():
        return backend.parse_state(host.name, text)


def readback_for(host: HostConfig, backend: FirewallBackend,
                 check: Callable[[HostState], str | None]) -> ReadBack:
    """The read-back a change plan sends after ``host``'s steps in the same remote command
    (:class:`~irtui.core.plan.ReadBack`): ``backend``'s read, as :func:`plain_read` would
    send it, and ``check`` applied to the state parsed from its output."""

    def check_text(text: str) -> str | None:
        with gc_paused():
            state = backend.parse_state(host.name, text)
        return check(state)

    return ReadBack(command_line(host, backend.read_command().argv), check_text)


def probe_and_read(ctx: ActionContext, host: HostConfig, hold: bool = False) -> HostRead:
    """Probe ``host`` and read its firewall in one remote command; keep the new profile
    (and, with ``hold``, the session, as :func:`plain_read`).

    Raises:
        SSHError, HostKeyError: connecting; ActionError: the probe did not complete, no
        supported firewall tool, or the read failed (naming the tool).
    """
    expected = _expected_backend(ctx, host)
    read = expected.read_command()
    generation = ctx.pool.generation(host.name)
    result = ctx.pool.run(host, probe_and_read_line(host, read), capture=True,
                          timeout=read_timeout(ctx.config), hold=hold, keep=True)
    out = result.stdout
    at_read = out.find(READ_MARK, max(0, out.find("### end")))
    at_exit = out.rfind(EXIT_MARK)
    if result.exit_code != 0 or at_read < 0 or at_exit < at_read:
        lines = result.stderr.strip().splitlines()
        said = f"{result.stdout}\n{result.stderr}"
        if "currently not available" in said or "nologin" in said:  # nologin(8)'s words
            raise ActionError(f"{host.name}: the login shell of {host.user} refuses every "
                              "command (nologin: \"This account is currently not "
                              "available\"); nothing was run",
                              f"give {host.user} a shell such as /bin/sh on the host, or "
                              "log in as another user (ssh.user or the host's user)")
        raise ActionError(f"{host.name}: preflight probe failed: "
                          f"{lines[-1] if lines else f'exit {result.exit_code}'}",
                          "check that the login user can run sh and ip on the host")
    facts = parse_probe(host.name, out[:at_read + 1])
    profile = HostProfile(facts, choose_backend(facts, host.firewall or "auto"))
    ctx.profiles.store(host.name, profile, generation)
    if profile.choice.name != expected.name:
        return HostRead(profile, plain_read(ctx, host, profile, hold))
    code_text = out[at_exit + len(EXIT_MARK):].strip()
    code = int(code_text) if code_text.isdigit() else -1
    if code != 0:
        raise read_failed(host, read, code, result.stderr)
    with gc_paused():
        state = expected.parse_state(host.name, out[at_read + len(READ_MARK):at_exit])
    return HostRead(profile, state)


def read_host(ctx: ActionContext, name: str, max_age: float | None = None,
              hold: bool = False) -> HostRead:
    """Read host ``name`` in one round trip: the firewall alone while its profile is fresh
    (probed at most ``max_age`` seconds ago; by default the cache's own limit), else the
    probe and the firewall together. ``hold``: see :func:`plain_read`.

    Raises:
        UnknownHostError, SSHError, HostKeyError, ActionError.
    """
    host = ctx.config.host(name)
    ctx.pool.connect(host)  # a reconnection makes the profile stale before it is used
    profile = ctx.profiles.fresh(name, max_age)
    if profile is None:
        return probe_and_read(ctx, host, hold)
    return HostRead(profile, plain_read(ctx, host, profile, hold))


def each_host(ctx: ActionContext, names: Sequence[str], read: Callable[[str], T],
              on_result: Callable[[str, T | IrtuiError], None] | None = None
              ) -> dict[str, T | IrtuiError]:
    """``read(name)`` for every host of ``names`` at once (at most ``ssh.max_parallel`` in
    flight), so a slow or dead host holds only its own thread.

    Args:
        read: reads one host; an :class:`IrtuiError` it raises is that host's result.
        on_result: called as ``on_result(name, value or error)`` in the calling thread as
            soon as each host is done, in the order hosts finish.

    Returns:
        ``{name: value or the IrtuiError that stopped that host}`` in the order of ``names``.
        Never raises for one host's failure.
    """
    def one(name: str) -> T | IrtuiError:
        try:
            return read(name)
        except IrtuiError as exc:
            return exc

    done: dict[str, T | IrtuiError] = {}
    workers = max(1, min(ctx.config.ssh.max_parallel, len(names)))
    if workers == 1:
        for name in names:
            done[name] = one(name)
            if on_result:
                on_result(name, done[name])
        return done
    for index, returned, value in each_done(one, names, workers):
        if not returned:  # not an IrtuiError: a bug, raised as ThreadPoolExecutor would
            raise value
        name = names[index]
        done[name] = value
        if on_result:
            on_result(name, value)
    return {name: done[name] for name in names}


def read_many(ctx: ActionContext, names: Sequence[str],
              on_result: Callable[[str, Outcome], None] | None = None,
              max_age: float | None = None, hold: bool = False) -> dict[str, Outcome]:
    """:func:`read_host` for every host of ``names`` at once (see :func:`each_host`).

    Returns:
        ``{name: HostRead or the IrtuiError that stopped that host}`` in the order of
        ``names``.
    """
    return each_host(ctx, names, lambda name: read_host(ctx, name, max_age, hold), on_result)


class Prefetch(threading.local):
    """The reads taken for the plan being built, seen only by the thread building it."""

    def __init__(self) -> None:
        self.reads: dict[str, Outcome] = {}
        self.used: set[str] = set()

    def profile(self, name: str, known: HostProfile | None) -> HostProfile | None:
        """The prefetched profile of ``name`` (None outside a prefetch). When reading the host
        failed, ``known`` (a fresh profile from the cache) still serves, else the error is
        raised: the host is not contacted a second time.

        Raises:
            IrtuiError: the error that stopped reading ``name``.
        """
        got = self.reads.get(name)
        if isinstance(got, IrtuiError):
            if known is not None:
                return known
            raise got
        return got.profile if got is not None else None

    def state(self, name: str) -> HostState | None:
        """The prefetched state of ``name``, once; None outside a prefetch or when taken.

        Raises:
            IrtuiError: the error that stopped reading ``name``.
        """
        got = self.reads.get(name)
        if got is None or name in self.used:
            return None
        if isinstance(got, IrtuiError):
            raise got
        self.used.add(name)
        return got.state


@contextmanager
def prefetched(ctx: ActionContext, names: Sequence[str], hold: bool = False
               ) -> Iterator[None]:
    """Read ``names`` at once (see :func:`read_many`) and serve those reads to this thread's
    ``ctx.profile``/``ctx.read_state`` until the block ends. A plan rests on these reads, so
    a profile older than :data:`~irtui.core.actions.profiles.PLAN_PROFILE_MAX_AGE` is probed
    again with them. ``hold``: each read's session is kept for the change (a block's or
    unblock's batch, :mod:`irtui.core.ssh_hold`)."""
    memo = ctx.prefetch
    memo.reads = read_many(ctx, names, max_age=PLAN_PROFILE_MAX_AGE, hold=hold)
    memo.used = set()
    try:
        yield
    finally:
        memo.reads, memo.used = {}, set()

