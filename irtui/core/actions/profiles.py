"""Host profiles: each host's preflight facts and chosen backend, probed once per session
and cached (the firewall itself stays the truth for state; this is only what tools it has)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from irtui.core.actions.runner import run_read
from irtui.core.firewall.backend import FirewallBackend, backend_named
from irtui.core.firewall.detect import (
    BackendChoice,
    HostFacts,
    choose_backend,
    parse_probe,
    preflight_line,
    probe_command,
)
from irtui.core.settings import Config
from irtui.core.ssh import SSHPool


@dataclass(frozen=True)
class HostProfile:
    """A host's preflight facts and the backend chosen for it."""

    facts: HostFacts
    choice: BackendChoice

    @property
    def backend(self) -> FirewallBackend:
        """The backend object."""
        return backend_named(self.choice.name)

    @property
    def preflight(self) -> str:
        """One line: backend, reason, IPv6 protection, firewall managers."""
        return preflight_line(self.facts, self.choice)


PROFILE_MAX_AGE = 120.0
"""Seconds a probe's facts are trusted. The guardrails rest on them (the host's addresses,
gateways, resolvers, this session's address) and so does the backend choice (where irtui's
own state is), so a long TUI session re-probes; the re-probe rides along with the next
firewall read (one remote command, see :mod:`~irtui.core.actions.reads`)."""


PLAN_PROFILE_MAX_AGE = 10.0
"""Seconds a probe's facts are trusted for planning a change (the plans' reads re-probe an
older profile, in the same round trip): a default route added while the TUI was open must
not go unguarded for :data:`PROFILE_MAX_AGE`. A new user's trial found that window."""


class ProfileCache:
    """Probes hosts on first use and keeps their profiles (thread-safe).

    A profile is reused while it is fresh: probed over the host's current SSH connection (a
    new connection may mean a rebooted host or another route) and less than
    :data:`PROFILE_MAX_AGE` seconds ago. A profile given with :meth:`put` stays fresh.
    """

    def __init__(self, config: Config, pool: SSHPool) -> None:
        self.config = config
        self.pool = pool
        self._profiles: dict[str, HostProfile] = {}
        self._seen: dict[str, tuple[int, float]] = {}  # name → (connection generation, when)
        self._lock = threading.Lock()

    def fresh(self, name: str, max_age: float | None = None) -> HostProfile | None:
        """``name``'s cached profile if it may still be trusted (probed over the current
        connection, at most ``max_age`` seconds ago: by default :data:`PROFILE_MAX_AGE`),
        else None."""
        generation = self.pool.generation(name)
        with self._lock:
            profile = self._profiles.get(name)
            seen = self._seen.get(name)
        if profile is None or seen is None:
            return profile
        probed_on, probed_at = seen
        limit = PROFILE_MAX_AGE if max_age is None else max_age
        if probed_on != generation or time.monotonic() - probed_at > limit:
            return None
        return profile

    def cached(self, name: str) -> HostProfile | None:
        """``name``'s cached profile, fresh or not (a guess of its backend), else None."""
        with self._lock:
            return self._profiles.get(name)

    def store(self, name: str, profile: HostProfile, generation: int) -> None:
        """Keep ``profile`` as probed over connection ``generation`` (see
        :meth:`SSHPool.generation`) just now."""
        with self._lock:
            self._profiles[name] = profile
            self._seen[name] = (generation, time.monotonic())

    def get(self, name: str, refresh: bool = False) -> HostProfile:
        """``name``'s profile while fresh, else (or with ``refresh``) probe it alone and
        choose its backend.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        cached = self.fresh(name)
        if cached and not refresh:
            return cached
        host = self.config.host(name)
        self.pool.connect(host)  # the generation the probe runs over
        generation = self.pool.generation(name)
        # $SSH_CONNECTION is expanded by the login shell, before any sudo resets it.
        text = run_read(self.pool, host, probe_command(), ' "$SSH_CONNECTION"')
        facts = parse_probe(name, text)
        profile = HostProfile(facts, choose_backend(facts, host.firewall or "auto"))
        self.store(name, profile, generation)
        return profile

    def expire(self, name: str) -> None:
        """Stop trusting ``name``'s cached profile: the next read probes the host again (in
        the same round trip, see :func:`~irtui.core.actions.reads.read_host`), e.g. when the
        responder asks to read live state now. The profile stays :meth:`cached` (a guess
        of the backend should that probe fail)."""
        with self._lock:
            if name in self._profiles:
                self._seen[name] = (-1, float("-inf"))  # no connection has generation -1

    def put(self, name: str, profile: HostProfile) -> None:
        """Set ``name``'s profile (tests and callers that probed by other means); it stays
        fresh until replaced."""
        with self._lock:
            self._profiles[name] = profile
            self._seen.pop(name, None)
