"""Host profiles: each host's preflight facts and chosen backend, probed once per session
and cached (the firewall itself stays the truth for state; this is only what tools it has)."""

from __future__ import annotations

import threading
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


class ProfileCache:
    """Probes hosts on first use and keeps their profiles (thread-safe)."""

    def __init__(self, config: Config, pool: SSHPool) -> None:
        self.config = config
        self.pool = pool
        self._profiles: dict[str, HostProfile] = {}
        self._lock = threading.Lock()

    def get(self, name: str, refresh: bool = False) -> HostProfile:
        """Probe ``name`` once (``refresh`` re-probes) and choose its backend.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        with self._lock:
            cached = self._profiles.get(name)
        if cached and not refresh:
            return cached
        host = self.config.host(name)
        # $SSH_CONNECTION is expanded by the login shell, before any sudo resets it.
        text = run_read(self.pool, host, probe_command(), ' "$SSH_CONNECTION"')
        facts = parse_probe(name, text)
        profile = HostProfile(facts, choose_backend(facts, host.firewall or "auto"))
        with self._lock:
            self._profiles[name] = profile
        return profile

    def put(self, name: str, profile: HostProfile) -> None:
        """Set ``name``'s profile (tests and callers that probed by other means)."""
        with self._lock:
            self._profiles[name] = profile
