"""The action API both fronts use: probe hosts, read live state, build plans, execute them,
notify.

Every change goes plan → (confirmation by the front) → :meth:`Responder.execute`, which
streams events, verifies by reading the host's firewall back, and writes the audit trail.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from irtui.core import notify_email
from irtui.core.audit import AuditLog, utc_now
from irtui.core.config import Config, HostConfig, is_network, parse_endpoint
from irtui.core.durations import format_duration, parse_ttl
from irtui.core.errors import (
    ActionError,
    InvalidTargetError,
    IrtuiError,
    NotifyError,
    SSHError,
)
from irtui.core.firewall.backend import (
    BlockRequest,
    Command,
    FirewallBackend,
    IsolationPolicy,
    backend_named,
)
from irtui.core.firewall.detect import (
    BackendChoice,
    HostFacts,
    choose_backend,
    parse_probe,
    preflight_line,
    probe_command,
)
from irtui.core.firewall.state import HostState, Network
from irtui.core.isolation import (
    arm_command,
    canary_command,
    disarm_command,
    resolve_allow,
    snapshot_command,
    split_port,
    status_command,
)
from irtui.core.plan import (
    Countdown,
    Event,
    EventSink,
    OutputCallback,
    OutputLine,
    Plan,
    PlanResult,
    Runner,
    Step,
    StepOutcome,
    command_line,
    execute,
)
from irtui.core.ssh import SSHPool
from irtui.core.targets import parse_network, refusal

CONNTRACK_SCRIPT = r"""
entries=$(mktemp) flows=$(mktemp)
trap 'rm -f "$entries" "$flows"' EXIT
cat > "$entries"
conntrack -L 2>/dev/null | tr ' ' '\n' | sed -n 's/^\(src\|dst\)=//p' | sort -u > "$flows"
n=0
for net in $(grep '/' "$entries"; grep -v '/' "$entries" | grep -Fx -f "$flows"); do
  for dir in -s -d; do
    c=$(conntrack -D "$dir" "$net" 2>&1 | sed -n 's/.* \([0-9][0-9]*\) flow entr.*/\1/p')
    n=$((n + ${c:-0}))
  done
done
echo "flows cut: $n"
"""
"""Reads the blocked entries on stdin (bare addresses and CIDRs, one per line), lists the
conntrack table once, and deletes the flows from/to every prefix and every single address
that has flows (conntrack(8) ``-D -s/-d``; CIDRs accepted since conntrack-tools 1.4.6).
Prints the number of flows cut."""


def _bare(network: Network) -> str:
    """A single address without its /32 or /128, else the CIDR (conntrack's notation)."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


class _SSHRunner(Runner):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder

    def run_step(self, step: Step, on_output: Callable[[str, str], None],
                 cancel: threading.Event | None) -> StepOutcome:
        return run_captured(self.responder.pool, self.responder.config.host(step.host),
                            step.command, on_output, cancel, step.stdin)


def run_captured(pool: SSHPool, host: HostConfig, command: str,
                 on_output: OutputCallback | None, cancel: threading.Event | None,
                 stdin: str | None = None) -> StepOutcome:
    """Run one command line over ``pool``, streaming to ``on_output`` and capturing both
    streams, as a :class:`StepOutcome` (seconds in ``duration``).

    Raises:
        SSHError, HostKeyError: see :meth:`SSHPool.run`.
    """
    result = pool.run(host, command, stdin=stdin.encode() if stdin is not None else None,
                      on_output=on_output, cancel=cancel, capture=True)
    return StepOutcome(result.exit_code, result.duration, result.stdout, result.stderr)


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
        self._profiles: dict[str, HostProfile] = {}
        self._lock = threading.Lock()

    # ---- reading ----------------------------------------------------------------------

    def _run_read(self, host: HostConfig, command: Command, suffix: str = "") -> str:
        line = command_line(host, command.argv) + suffix
        result = self.pool.run(host, line, capture=True,
                               timeout=self.config.ssh.connect_timeout * 3 + 30)
        if result.exit_code != 0:
            err = result.stderr.strip().splitlines()
            tool = command.argv[0]
            if result.exit_code == 127:
                raise ActionError(f"{host.name}: {tool} is not installed",
                                  "install it, or force another firewall backend for the host")
            raise ActionError(f"{host.name}: {command.purpose} failed: "
                              f"{err[-1] if err else f'exit {result.exit_code}'}",
                              "check that the login user may run it (root or sudo -n)")
        return result.stdout

    def profile(self, name: str, refresh: bool = False) -> HostProfile:
        """Probe ``name`` once (cached; ``refresh`` re-probes) and choose its backend.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        with self._lock:
            cached = self._profiles.get(name)
        if cached and not refresh:
            return cached
        host = self.config.host(name)
        # $SSH_CONNECTION is expanded by the login shell, before any sudo resets it.
        text = self._run_read(host, probe_command(), ' "$SSH_CONNECTION"')
        facts = parse_probe(name, text)
        profile = HostProfile(facts, choose_backend(facts, host.firewall or "auto"))
        with self._lock:
            self._profiles[name] = profile
        return profile

    def read_state(self, name: str) -> HostState:
        """Read ``name``'s firewall with its backend and return the live state.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        host = self.config.host(name)
        backend = self.profile(name).backend
        return backend.parse_state(name, self._run_read(host, backend.read_command()))

    # ---- plans -------------------------------------------------------------------------

    def _steps(self, host: HostConfig, commands: list[Command],
               report_prefix: str | None = None) -> list[Step]:
        return [Step(host.name, command_line(host, c.argv), c.purpose, c.stdin, report_prefix)
                for c in commands]

    def _allow(self) -> list[Network]:
        """Literal (not DNS) ``isolation.allow`` networks, whatever their port: never
        blocked."""
        hosts = [split_port(a)[0] for a in self.config.isolation.allow]
        return [ipaddress.ip_network(h, strict=False) for h in hosts if is_network(h)]

    def _global_guard(self) -> list[tuple[Network, str]]:
        guard = [(n, "isolation.allow (a management network)") for n in self._allow()]
        guard += [(ipaddress.ip_network(a, strict=False), "firewall.never_block")
                  for a in self.config.firewall.never_block]
        return guard

    @staticmethod
    def _guard_hit(net: Network, guard: list[tuple[Network, str]]) -> str | None:
        for protected, rule in guard:
            if protected.version == net.version and protected.overlaps(net):
                return f"overlaps {protected}, {rule}"
        return None

    def _parse_targets(self, targets: Sequence[str], notes: list[str]
                       ) -> tuple[list[Network], dict[str, str]]:
        """Validate ``targets``; returns the networks and {text: refusal} for refused ones."""
        if not targets:
            raise InvalidTargetError("no address given", "name an IP address or CIDR to act on")
        networks: list[Network] = []
        seen: set[Network] = set()
        refused: dict[str, str] = {}
        for text in targets:
            try:
                net, note = parse_network(text)
            except InvalidTargetError as exc:
                refused[text.strip()] = f"refused: {exc.problem}"
                continue
            if note:
                notes.append(note)
            if net not in seen:
                seen.add(net)
                networks.append(net)
        return networks, refused

    @staticmethod
    def _for_each(plan: Plan, chosen: list[HostConfig],
                  one: Callable[[HostConfig], None]) -> None:
        """Plan each host; with several hosts, one host's read failure (unreachable, key
        refused, tool missing) is recorded as that host's failure instead of stopping the
        others. With a single host the error propagates as the one clear message."""
        for host in chosen:
            try:
                one(host)
            except (SSHError, ActionError) as exc:
                if len(chosen) == 1:
                    raise
                plan.failed[host.name] = exc.line

    def _hosts(self, hosts: Sequence[str]) -> list[HostConfig]:
        chosen = self.config.select(list(hosts)) if hosts else []
        if not chosen:
            raise InvalidTargetError("no host given", "name a host, @group or 'all' (CLI: --on)")
        return chosen

    def plan_block(self, targets: Sequence[str], hosts: Sequence[str],
                   ttl: int | str | None = "default") -> Plan:
        """Plan adding ``targets`` to the blocklist of ``hosts`` (enforcement points).

        Reads each host's preflight facts and live state first, so the plan is exact: entries
        already present are refreshed (TTL renewed), and entries a guardrail forbids are
        refused per host with the rule that matched (loopback, link-local, multicast, the
        host's own addresses, its gateway or resolvers, the responder's address,
        ``isolation.allow``, ``firewall.never_block``). IPv6 entries on a host whose backend
        cannot filter IPv6 are refused as "not protected over IPv6".

        Args:
            targets: addresses/CIDRs as typed or read from a feed.
            hosts: host names, ``@group`` or ``all``.
            ttl: seconds, a duration text (``24h``), None/``permanent``, or ``"default"`` for
                ``firewall.default_ttl``. Expiry is enforced by the host's kernel.

        Returns:
            The plan; ``plan.entries`` accounts for every entry on every host and
            ``plan.confirm_text`` is set when a prefix is larger than
            ``firewall.confirm_prefix_v4/v6``.

        Raises:
            InvalidTargetError: nothing at all could be blocked (the message gives the reasons).
            UnknownHostError, SSHError, HostKeyError, ActionError: while reading the hosts.
        """
        chosen = self._hosts(hosts)
        seconds = self.config.firewall.default_ttl if ttl == "default" else parse_ttl(ttl)
        notes: list[str] = []
        networks, bad = self._parse_targets(targets, notes)
        guard = self._global_guard()
        plan = Plan("block", "", [h.name for h in chosen], notes=notes)
        large = [n for n in networks if n.prefixlen < (
            self.config.firewall.confirm_prefix_v4 if n.version == 4
            else self.config.firewall.confirm_prefix_v6)]
        refused_everywhere = dict(bad)
        for net in networks:
            why = refusal(net) or self._guard_hit(net, guard)
            if why:
                refused_everywhere[str(net)] = f"refused: {why}"
        if not any(str(n) not in refused_everywhere for n in networks):
            raise InvalidTargetError(
                "nothing to block: " + "; ".join(f"{t} {why}" for t, why in
                                                 refused_everywhere.items()),
                "check the addresses; nothing was changed")
        if large:
            plan.confirm_text = " ".join(str(n) for n in large if str(n) not in
                                         refused_everywhere)
            for n in large:
                notes.append(f"{n} covers {n.num_addresses:,} addresses")
        def one(host: HostConfig) -> None:
            profile = self.profile(host.name)
            state = self.read_state(host.name)
            accounting = dict(refused_everywhere)
            requests: list[BlockRequest] = []
            host_guard = profile.facts.protected()
            for net in networks:
                if str(net) in accounting:
                    continue
                hit = self._guard_hit(net, host_guard)
                if hit:
                    accounting[str(net)] = f"refused: {hit}"
                elif net.version == 6 and not profile.choice.ipv6_protected:
                    accounting[str(net)] = ("refused: host not protected over IPv6 "
                                            f"({profile.choice.name} has no IPv6 tool there)")
                else:
                    present = state.find(net) is not None
                    requests.append(BlockRequest(net, seconds, refresh=present))
                    accounting[str(net)] = ("already present (TTL refreshed)" if present
                                            else "to add")
            plan.entries[host.name] = accounting
            if not requests:
                plan.skipped[host.name] = "nothing to block here"
                return
            backend = profile.backend
            plan.steps += self._steps(host, backend.block_commands(requests, state))
            if "conntrack" in profile.facts.binaries:
                plan.steps += self._steps(host, [Command(
                    ("sh", "-c", CONNTRACK_SCRIPT),
                    "cut existing flows of the blocked entries (conntrack)",
                    "".join(f"{_bare(r.network)}\n" for r in requests))], "flows cut:")
            if profile.facts.global_ipv6 and not profile.choice.ipv6_protected:
                notes.append(f"{host.name}: NOT protected over IPv6 — install the IPv6 tool "
                             f"for {profile.choice.name}")

        self._for_each(plan, chosen, one)
        if not plan.steps and not plan.failed:
            reasons = {f"{entry} {status}" for per_host in plan.entries.values()
                       for entry, status in per_host.items()}
            raise InvalidTargetError("nothing to block: " + "; ".join(sorted(reasons)),
                                     "check the addresses; nothing was changed")
        wanted = [n for n in networks if str(n) not in refused_everywhere]
        what = ", ".join(str(n) for n in wanted[:3]) + (
            f" and {len(wanted) - 3} more" if len(wanted) > 3 else "")
        plan.summary = (f"block {what} on {', '.join(h.name for h in chosen)} "
                        f"(TTL {format_duration(seconds)})")

        def verify(host: str) -> str | None:
            state = self.read_state(host)
            expected = [t for t, s in plan.entries[host].items() if not s.startswith("refused")]
            missing = [t for t in expected if state.find(ipaddress.ip_network(t)) is None]
            return f"not in the live blocklist: {', '.join(missing[:5])}" if missing else None

        plan.verify = verify
        return plan

    def plan_unblock(self, targets: Sequence[str], hosts: Sequence[str]) -> Plan:
        """Plan removing ``targets`` from the blocklist of ``hosts``. Reads each host's live
        blocklist first: a host where a target is not blocked is reported, not failed.

        Raises:
            InvalidTargetError, UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        chosen = self._hosts(hosts)
        notes: list[str] = []
        networks, bad = self._parse_targets(targets, notes)
        if bad:
            raise InvalidTargetError("; ".join(f"{t}: {why.removeprefix('refused: ')}"
                                               for t, why in bad.items()),
                                     "give an IPv4/IPv6 address or prefix")
        what = ", ".join(str(n) for n in networks)
        plan = Plan("unblock", f"unblock {what} on {', '.join(h.name for h in chosen)}",
                    [h.name for h in chosen], notes=notes)
        def one(host: HostConfig) -> None:
            state = self.read_state(host.name)
            present = [n for n in networks if state.find(n) is not None]
            plan.entries[host.name] = {str(n): "removed" if n in present else "not blocked"
                                       for n in networks}
            absent = [str(n) for n in networks if n not in present]
            if absent:
                notes.append(f"{host.name}: not blocked there: {', '.join(absent)}")
            if not present:
                plan.skipped[host.name] = "not blocked there"
                return
            plan.steps += self._steps(
                host, self.profile(host.name).backend.unblock_commands(present, state))

        self._for_each(plan, chosen, one)

        def verify(host: str) -> str | None:
            state = self.read_state(host)
            still = [str(n) for n in networks if state.find(n) is not None]
            return f"still in the live blocklist: {', '.join(still)}" if still else None

        plan.verify = verify
        return plan

    def plan_isolate(self, hosts: Sequence[str], *, confirm_timeout: int | None = None,
                     extra_management: Sequence[str] = (), keep_session_address: bool = True,
                     canary: str | None = None) -> Plan:
        """Plan commit-confirmed network isolation of ``hosts``.

        Per host: save the current rulesets locally, arm a rollback timer on the host, apply
        the isolation atomically, confirm over a NEW SSH connection (only that disarms the
        timer), then self-test that the canary is unreachable. Kept reachable: loopback, the
        management networks (this SSH session's source address, ``isolation.allow`` with DNS
        names resolved now, ``extra_management``), DHCP and IPv6 neighbour discovery (per
        config), and the host's resolvers if ``isolation.allow_resolvers``. Interfaces are
        never taken down.

        Args:
            hosts: host names, ``@group`` or ``all``.
            confirm_timeout: seconds before the host undoes the isolation by itself
                (default ``isolation.confirm_timeout``).
            extra_management: more addresses/CIDRs/names to keep reachable.
            keep_session_address: keep this SSH session's source address (turn off only when
                the session arrives through an address that must not stay allowed).
            canary: ``address:port`` for the self-test (default: the first of
                ``isolation.canaries`` that is not the host itself).

        Raises:
            InvalidTargetError: empty or unresolvable allowlist, or the target is the machine
                irtui runs on.
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        iso = self.config.isolation
        chosen = self.config.select(list(hosts))
        timeout = iso.confirm_timeout if confirm_timeout is None else confirm_timeout
        if not 5 <= timeout <= 3600:
            raise InvalidTargetError(f"confirm timeout {timeout} s is out of range",
                                     "give 5 to 3600 seconds; nothing was changed")
        allow = resolve_allow([*iso.allow, *extra_management])
        endpoints: list[tuple[str, int]] = []
        for text in ([canary] if canary else list(iso.canaries)):
            endpoint = parse_endpoint(text)
            if endpoint is None:
                raise InvalidTargetError(f"canary {text!r} is not address:port",
                                         "use e.g. 198.51.100.9:443 or [2001:db8::9]:443")
            endpoints.append(endpoint)
        plan = Plan("isolate", f"isolate {', '.join(h.name for h in chosen)} "
                    f"(commit-confirmed, rollback in {timeout} s unless confirmed)",
                    [h.name for h in chosen])
        since = utc_now()
        if len(chosen) == 1:
            plan.confirm_text = chosen[0].name
        def one(host: HostConfig) -> None:
            profile = self.profile(host.name)
            facts = profile.facts
            own = {a.ip for a in facts.addresses}
            if facts.ssh_client is not None and (facts.ssh_client in own
                                                 or facts.ssh_client.is_loopback):
                raise InvalidTargetError(
                    f"refusing to isolate {host.name}: it is the machine irtui runs on "
                    f"(the SSH session comes from its own address {facts.ssh_client})",
                    "run irtui from another machine (a jump host) to isolate this one")
            state = self.read_state(host.name)
            if state.isolated:
                plan.skipped[host.name] = f"already isolated (since {state.isolation.since})" \
                    if state.isolation and state.isolation.since else "already isolated"
                return
            mgmt: list[Network] = []
            if keep_session_address and facts.ssh_client is not None:
                mgmt.append(ipaddress.ip_network(facts.ssh_client))
            mgmt += [n for n, port in allow if port is None and n not in mgmt]
            ports = tuple((n, port) for n, port in allow if port is not None)
            if iso.allow_resolvers:
                mgmt += [ipaddress.ip_network(r) for r in facts.resolvers
                         if ipaddress.ip_network(r) not in mgmt]
            if not mgmt and not ports:
                raise InvalidTargetError(
                    f"refusing to isolate {host.name}: the management allowlist is empty",
                    "set isolation.allow or keep the session address")
            kept = ", ".join([str(m) for m in mgmt] + [f"{n} port {p}" for n, p in ports])
            extras = [x for x, on in (("DHCP", iso.allow_dhcp), ("IPv6 ND", iso.allow_nd)) if on]
            plan.notes.append(f"{host.name}: stays reachable: {kept}, loopback"
                              + (f", {', '.join(extras)}" if extras else "")
                              + "; everything else is dropped in, out and forwarded")
            policy = IsolationPolicy(tuple(mgmt), since, allow_dhcp=iso.allow_dhcp,
                                     allow_nd=iso.allow_nd, endpoints=ports)
            backend = profile.backend
            canary_for_host = next((e for e in endpoints
                                    if ipaddress.ip_address(e[0]) not in own), None)
            if endpoints and canary_for_host is None:
                plan.notes.append(f"{host.name}: every canary is the host itself; no self-test")
            plan.steps += self._isolation_steps(host, backend, policy, state, timeout,
                                                canary_for_host)

        self._for_each(plan, chosen, one)

        def verify(host: str) -> str | None:
            return None if self.read_state(host).isolated else "isolation not present"

        plan.verify = verify
        return plan

    def _isolation_steps(self, host: HostConfig, backend: FirewallBackend,
                         policy: IsolationPolicy, state: HostState, timeout: int,
                         canary: tuple[str, int] | None) -> list[Step]:
        armed_at: list[float] = []
        snapshot = snapshot_command()
        saved = self.audit.directory / f"{self.audit.session}-{host.name}-rulesets-before.txt"

        def save(on_output: OutputCallback, cancel: threading.Event | None,
                 on_event: EventSink) -> StepOutcome:
            outcome = run_captured(self.pool, host, command_line(host, snapshot.argv), None,
                                   cancel)
            self.audit.save_text(saved, outcome.stdout)
            on_output("stdout", f"saved {len(outcome.stdout.encode())} bytes to {saved}")
            return outcome

        arm = arm_command(host.name, timeout, backend.rollback_script())

        def arm_timer(on_output: OutputCallback, cancel: threading.Event | None,
                      on_event: EventSink) -> StepOutcome:
            outcome = run_captured(self.pool, host, command_line(host, arm.argv), on_output,
                                   cancel)
            armed_at.append(time.monotonic())
            return outcome

        disarm = disarm_command(host.name)

        def confirm(on_output: OutputCallback, cancel: threading.Event | None,
                    on_event: EventSink) -> StepOutcome:
            return self._confirm_isolation(host, disarm, timeout, armed_at[0], on_output,
                                           cancel, on_event)

        steps = [
            Step(host.name, command_line(host, snapshot.argv), snapshot.purpose,
                 local=save),
            Step(host.name, command_line(host, arm.argv), arm.purpose, local=arm_timer),
            *self._steps(host, backend.isolate_commands(policy, state)),
            Step(host.name, "# over a NEW SSH connection: " + command_line(host, disarm.argv),
                 "confirm over a new SSH connection, then disarm the rollback", local=confirm),
        ]
        if canary is not None:
            steps += self._steps(host, [canary_command(*canary)])
        return steps

    def _confirm_isolation(self, host: HostConfig, disarm: Command, timeout: int,
                           armed_at: float, on_output: OutputCallback,
                           cancel: threading.Event | None, on_event: EventSink) -> StepOutcome:
        """Open a fresh connection and disarm; if that fails, wait for the host's own
        rollback and report what the host did."""
        started = time.monotonic()
        left = max(1.0, timeout - (time.monotonic() - armed_at))
        fresh = SSHPool(replace(self.config.ssh,
                                connect_timeout=min(self.config.ssh.connect_timeout,
                                                    max(2.0, left / 2))))
        try:
            result = fresh.run(host, command_line(host, disarm.argv), capture=True,
                               on_output=on_output, cancel=cancel, timeout=max(2.0, left))
            if result.exit_code == 0:
                return StepOutcome(0, time.monotonic() - started, result.stdout)
            reason = (result.stderr.strip().splitlines() or [f"exit {result.exit_code}"])[-1]
        except IrtuiError as exc:
            reason = exc.line
        finally:
            fresh.close()
        on_output("stderr", f"confirmation failed: {reason}")
        deadline = armed_at + timeout + 3
        while (remaining := deadline - time.monotonic()) > 0:
            if cancel is not None and cancel.is_set():
                break
            on_event(Countdown(host.name, "rollback", int(remaining)))
            time.sleep(min(1.0, remaining))
        self.pool.drop(host.name)
        try:
            still = self.read_state(host.name).isolated
            verdict = ("the host did NOT roll back: it is still isolated" if still else
                       "the host rolled back by itself: isolation removed, previous rules kept")
        except IrtuiError as exc:
            verdict = f"after the rollback deadline the host is still unreachable ({exc.line})"
        message = (f"could not confirm over a new SSH connection ({reason}); {verdict} — "
                   "check isolation.allow / --management")
        on_output("stderr", message)
        return StepOutcome(1, time.monotonic() - started, "", message)

    def rollback_status(self, name: str) -> str:
        """The host's rollback timer: ``armed <seconds left>``, ``fired <when>`` or ``none``.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        host = self.config.host(name)
        text = self._run_read(host, status_command(name)).strip()
        if text.startswith("armed "):
            try:
                return f"armed {max(0, int(text.split()[1]) - int(time.time()))}"
            except (IndexError, ValueError):
                return "armed"
        return text or "none"

    def plan_release(self, hosts: Sequence[str]) -> Plan:
        """Plan removing irtui's isolation (exactly what isolate added) from ``hosts``.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        chosen = self.config.select(list(hosts))
        plan = Plan("release", f"release {', '.join(h.name for h in chosen)} from isolation",
                    [h.name for h in chosen])
        def one(host: HostConfig) -> None:
            state = self.read_state(host.name)
            if not state.isolated:
                plan.skipped[host.name] = "not isolated"
                return
            since = state.isolation.since if state.isolation else ""
            plan.notes.append(f"{host.name}: removes only irtui's isolation"
                              + (f" (in force since {since})" if since else "")
                              + "; all traffic it dropped flows again; other rules untouched")
            plan.steps += self._steps(host,
                                      self.profile(host.name).backend.release_commands(state))

        self._for_each(plan, chosen, one)

        def verify(host: str) -> str | None:
            return "isolation still present" if self.read_state(host).isolated else None

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
            NotifyError, SecretError, ActionError (email not configured).
        """
        settings = self.config.email
        recipients = list(to) or list(settings.to)
        try:
            if not settings.configured:
                raise NotifyError("email is not configured",
                                  "set notify.email.host and notify.email.sender in the config")
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
