"""The action API both fronts use: read live state, build plans, execute them, notify.

Every change goes plan → (confirmation by the front) → :meth:`Responder.execute`, which
streams events, verifies by reading the host's firewall back, and writes the audit trail.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Sequence

from irtui.core import notify_email
from irtui.core.audit import AuditLog, utc_now
from irtui.core.config import Config, HostConfig
from irtui.core.durations import format_duration, parse_ttl
from irtui.core.errors import ActionError, InvalidTargetError, IrtuiError
from irtui.core.firewall import nftables
from irtui.core.firewall.state import HostState, Network
from irtui.core.plan import (
    Event,
    EventSink,
    OutputLine,
    Plan,
    PlanResult,
    Runner,
    Step,
    command_line,
    execute,
)
from irtui.core.ssh import SSHPool
from irtui.core.targets import parse_network, refusal

NFT_MISSING = "nftables (nft) is not installed on the host — install the Debian package nftables"


class _SSHRunner(Runner):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder

    def run_step(self, step: Step, on_output: Callable[[str, str], None],
                 cancel: threading.Event | None) -> tuple[int, float]:
        host = self.responder.config.host(step.host)
        stdin = step.stdin.encode() if step.stdin is not None else None
        result = self.responder.pool.run(host, step.command, stdin=stdin, on_output=on_output,
                                         cancel=cancel)
        return result.exit_code, result.duration


class Responder:
    """Incident-response actions on the hosts of one config.

    Args:
        config: the loaded config.
        pool: SSH connections (default: a new :class:`SSHPool`).
        audit: the audit trail (default: a new session in ``config.resolved_audit_dir``).
    """

    def __init__(self, config: Config, pool: SSHPool | None = None,
                 audit: AuditLog | None = None) -> None:
        self.config = config
        self.pool = pool or SSHPool(config.ssh)
        self.audit = audit or AuditLog(config.resolved_audit_dir)

    # ---- reading live state -------------------------------------------------------------

    def _read(self, host: HostConfig, argv: Sequence[str]) -> str:
        result = self.pool.run(host, command_line(host, argv), capture=True,
                               timeout=self.config.ssh.connect_timeout * 3 + 30)
        if result.exit_code == 127:
            raise ActionError(f"{host.name}: {NFT_MISSING.split(' — ')[0]}",
                              NFT_MISSING.split(" — ")[1])
        if result.exit_code != 0:
            err = result.stderr.strip().splitlines()
            raise ActionError(f"{host.name}: `{' '.join(argv)}` failed: "
                              f"{err[-1] if err else f'exit {result.exit_code}'}",
                              "check that the login user may run nft (root or sudo -n)")
        return result.stdout

    def read_state(self, name: str) -> HostState:
        """Read ``name``'s firewall (``nft -j list ruleset``) and return its live state.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        host = self.config.host(name)
        return nftables.parse_ruleset(host.name, self._read(host, nftables.READ_ARGV))

    def management_address(self, name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address the responder's SSH session to ``name`` comes from, as the host sees it
        (first field of ``$SSH_CONNECTION``, sshd(8) ENVIRONMENT)."""
        host = self.config.host(name)
        result = self.pool.run(host, 'printf "%s\\n" "$SSH_CONNECTION"', capture=True,
                               timeout=30)
        first = result.stdout.split()[0] if result.stdout.split() else ""
        try:
            return ipaddress.ip_address(first)
        except ValueError:
            raise ActionError(f"{name}: could not learn the management address from "
                              "$SSH_CONNECTION", "add it to isolation.allow in the config"
                              ) from None

    # ---- plans -------------------------------------------------------------------------

    def _protected(self) -> list[Network]:
        return [ipaddress.ip_network(a, strict=False) for a in self.config.isolation.allow]

    def _networks(self, targets: Sequence[str], notes: list[str]) -> list[Network]:
        if not targets:
            raise InvalidTargetError("no address given", "name an IP address or CIDR to act on")
        networks: list[Network] = []
        for text in targets:
            net, note = parse_network(text)
            if note:
                notes.append(note)
            if net not in networks:
                networks.append(net)
        return networks

    def plan_block(self, targets: Sequence[str], hosts: Sequence[str],
                   ttl: int | str | None = "default") -> Plan:
        """Plan adding ``targets`` to the blocklist of ``hosts``.

        Args:
            targets: addresses/CIDRs as typed (validated and normalised here).
            hosts: host names, ``@group`` or ``all``.
            ttl: seconds, a duration text (``24h``), None/``permanent``, or ``"default"`` for
                ``firewall.default_ttl``. Expiry is enforced by the host's kernel (set timeout).

        Raises:
            InvalidTargetError: a malformed or refused target (loopback, management, ...).
            UnknownHostError: an unknown host or group.
        """
        chosen = self.config.select(list(hosts)) if hosts else []
        if not chosen:
            raise InvalidTargetError("no host given", "name a host with --on HOST (or 'all')")
        seconds = self.config.firewall.default_ttl if ttl == "default" else parse_ttl(ttl)
        notes: list[str] = []
        networks = self._networks(targets, notes)
        for net in networks:
            why = refusal(net, self._protected())
            if why:
                raise InvalidTargetError(f"refusing to block {net}: {why}",
                                         "check the address; nothing was changed")
        script = nftables.block_script(networks, seconds)
        what = ", ".join(str(n) for n in networks)
        summary = (f"block {what} on {', '.join(h.name for h in chosen)} "
                   f"(TTL {format_duration(seconds)})")
        steps = [Step(h.name, command_line(h, nftables.APPLY_ARGV),
                      f"add {what} to the blocklist", script) for h in chosen]

        def verify(host: str) -> str | None:
            state = self.read_state(host)
            missing = [str(n) for n in networks if state.find(n) is None]
            return f"not in the live blocklist: {', '.join(missing)}" if missing else None

        return Plan("block", summary, [h.name for h in chosen], steps, notes, verify=verify)

    def plan_unblock(self, targets: Sequence[str], hosts: Sequence[str]) -> Plan:
        """Plan removing ``targets`` from the blocklist of ``hosts``. Reads each host's live
        blocklist first: a host where a target is not blocked is reported, not failed.

        Raises:
            InvalidTargetError, UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        chosen = self.config.select(list(hosts)) if hosts else []
        if not chosen:
            raise InvalidTargetError("no host given", "name a host with --on HOST (or 'all')")
        notes: list[str] = []
        networks = self._networks(targets, notes)
        what = ", ".join(str(n) for n in networks)
        plan = Plan("unblock", f"unblock {what} on {', '.join(h.name for h in chosen)}",
                    [h.name for h in chosen], notes=notes)
        for host in chosen:
            state = self.read_state(host.name)
            present = [n for n in networks if state.find(n) is not None]
            absent = [str(n) for n in networks if n not in present]
            if absent:
                notes.append(f"{host.name}: not blocked there: {', '.join(absent)}")
            if not present:
                plan.skipped[host.name] = "not blocked there"
                continue
            plan.steps.append(Step(host.name, command_line(host, nftables.APPLY_ARGV),
                                   f"remove {', '.join(map(str, present))} from the blocklist",
                                   nftables.unblock_script(present)))

        def verify(host: str) -> str | None:
            state = self.read_state(host)
            still = [str(n) for n in networks if state.find(n) is not None]
            return f"still in the live blocklist: {', '.join(still)}" if still else None

        plan.verify = verify
        return plan

    def plan_isolate(self, hosts: Sequence[str]) -> Plan:
        """Plan network isolation of ``hosts``: only loopback, DHCP, IPv6 neighbour discovery
        and the management addresses (this SSH session's source address plus
        ``isolation.allow``) stay reachable. Interfaces are never taken down.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        chosen = self.config.select(list(hosts))
        plan = Plan("isolate", f"isolate {', '.join(h.name for h in chosen)}",
                    [h.name for h in chosen])
        since = utc_now()
        for host in chosen:
            state = self.read_state(host.name)
            if state.isolated:
                plan.skipped[host.name] = f"already isolated (since {state.isolation.since})" \
                    if state.isolation and state.isolation.since else "already isolated"
                continue
            mgmt = [ipaddress.ip_network(self.management_address(host.name))]
            mgmt += [n for n in self._protected() if n not in mgmt]
            plan.notes.append(f"{host.name}: stays reachable from "
                              f"{', '.join(str(m) for m in mgmt)} (and loopback)")
            plan.steps.append(Step(host.name, command_line(host, nftables.APPLY_ARGV),
                                   "isolate (drop all but management traffic)",
                                   nftables.isolate_script(mgmt, since)))

        def verify(host: str) -> str | None:
            return None if self.read_state(host).isolated else "isolation table not present"

        plan.verify = verify
        return plan

    def plan_release(self, hosts: Sequence[str]) -> Plan:
        """Plan removing irtui's isolation (exactly its own table) from ``hosts``.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        chosen = self.config.select(list(hosts))
        plan = Plan("release", f"release {', '.join(h.name for h in chosen)} from isolation",
                    [h.name for h in chosen])
        for host in chosen:
            if not self.read_state(host.name).isolated:
                plan.skipped[host.name] = "not isolated"
                continue
            plan.steps.append(Step(host.name, command_line(host, nftables.release_argv()),
                                   "remove irtui's isolation table"))

        def verify(host: str) -> str | None:
            return "isolation table still present" if self.read_state(host).isolated else None

        plan.verify = verify
        return plan

    # ---- execution ---------------------------------------------------------------------

    def execute(self, plan: Plan, on_event: EventSink,
                cancel: threading.Event | None = None) -> PlanResult:
        """Execute ``plan`` (see :func:`irtui.core.plan.execute`), recording the plan, every
        output line and the result in the audit trail.

        Args:
            plan: from one of the ``plan_*`` methods.
            on_event: ``on_event(event)`` called from worker threads.
            cancel: set it to stop; running channels are closed.

        Returns:
            The :class:`PlanResult`.
        """
        self.audit.plan(plan)

        def sink(event: Event) -> None:
            if isinstance(event, OutputLine):
                self.audit.output(event)
            on_event(event)

        result = execute(plan, _SSHRunner(self), sink, cancel)
        self.audit.result(result)
        return result

    def notify_email(self, to: Sequence[str], subject: str, body: str) -> str:
        """Send an email (password from the OS keyring) and record it in the audit trail.

        Returns:
            The Message-ID.

        Raises:
            NotifyError, SecretError.
        """
        settings = self.config.email
        if not settings.configured:
            raise ActionError("email is not configured",
                              "set notify.email.host and notify.email.sender in the config")
        recipients = list(to) or list(settings.to)
        try:
            message_id = notify_email.send_email_with_keyring(settings, recipients, subject,
                                                              body)
        except IrtuiError as exc:
            self.audit.note("notify", f"email '{subject}'", False, exc.line)
            raise
        self.audit.note("notify", f"email '{subject}' to {', '.join(recipients)}", True,
                        message_id)
        return message_id

    def close(self) -> None:
        """Close SSH connections."""
        self.pool.close()
