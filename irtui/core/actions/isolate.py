"""Network isolation, commit-confirmed, and its release.

Per host: save the current rulesets locally, arm a rollback timer on the host, apply the
isolation atomically, confirm over a NEW SSH connection (only that disarms the timer), then
self-test that a canary is unreachable. If the confirmation cannot be made, the host removes
the isolation by itself when the timer fires, and irtui reports what the host did.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Sequence
from dataclasses import replace

from irtui.core.actions.context import ActionContext, plan_each
from irtui.core.actions.runner import run_captured, steps_for
from irtui.core.audit import utc_now
from irtui.core.endpoints import parse_endpoint, resolve_allow
from irtui.core.errors import InvalidTargetError, IrtuiError
from irtui.core.events import Countdown, EventSink, OutputCallback
from irtui.core.filenames import file_component
from irtui.core.firewall.backend import FirewallBackend, IsolationPolicy
from irtui.core.firewall.state import HostState, Network
from irtui.core.plan import Plan, Step, StepOutcome, command_line
from irtui.core.rollback import (
    arm_command,
    canary_command,
    disarm_command,
    snapshot_command,
)
from irtui.core.settings import HostConfig
from irtui.core.ssh import SSHPool

ROLLBACK_GRACE_SECONDS = 3
"""How long past the timer's deadline irtui waits before reading back whether the host
rolled back (the timer's own ``sleep`` and the rollback script take a moment)."""


class CommitConfirmed:
    """The local steps of one host's commit-confirmed isolation: save the rulesets, arm the
    timer (remembering when), and confirm over a new connection.

    Args:
        ctx: the session.
        host: the host being isolated.
        backend: its firewall backend (its rollback script is what the timer runs).
        timeout: seconds from arming until the host rolls back by itself.
    """

    def __init__(self, ctx: ActionContext, host: HostConfig, backend: FirewallBackend,
                 timeout: int) -> None:
        self.ctx = ctx
        self.host = host
        self.timeout = timeout
        self.snapshot = snapshot_command()
        self.arm = arm_command(host.name, timeout, backend.rollback_command())
        self.disarm = disarm_command(host.name)
        self.armed_at: float | None = None
        audit = ctx.audit
        self.saved = audit.directory / (f"{file_component(audit.session)}-"
                                        f"{file_component(host.name)}-rulesets-before.txt")

    def line(self, argv: Sequence[str]) -> str:
        """The command line for ``argv`` on this host."""
        return command_line(self.host, argv)

    def save(self, on_output: OutputCallback, cancel: threading.Event | None,
             on_event: EventSink) -> StepOutcome:
        """Dump every ruleset of the host into the audit directory (SHA-256 in the trail)."""
        outcome = run_captured(self.ctx.pool, self.host, self.line(self.snapshot.argv), None,
                               cancel)
        self.ctx.audit.save_text(self.saved, outcome.stdout)
        on_output("stdout", f"saved {len(outcome.stdout.encode())} bytes to {self.saved}")
        return outcome

    def arm_timer(self, on_output: OutputCallback, cancel: threading.Event | None,
                  on_event: EventSink) -> StepOutcome:
        """Arm the rollback on the host and note when."""
        outcome = run_captured(self.ctx.pool, self.host, self.line(self.arm.argv), on_output,
                               cancel)
        self.armed_at = time.monotonic()
        return outcome

    def confirm(self, on_output: OutputCallback, cancel: threading.Event | None,
                on_event: EventSink) -> StepOutcome:
        """Open a fresh connection and disarm; if that fails, wait for the host's own
        rollback and report what the host did."""
        started = time.monotonic()
        armed_at = self.armed_at if self.armed_at is not None else started
        left = max(1.0, self.timeout - (time.monotonic() - armed_at))
        settings = self.ctx.config.ssh
        fresh = SSHPool(replace(settings, connect_timeout=min(settings.connect_timeout,
                                                              max(2.0, left / 2))))
        try:
            result = fresh.run(self.host, self.line(self.disarm.argv), capture=True,
                               on_output=on_output, cancel=cancel, timeout=max(2.0, left))
            if result.exit_code == 0:
                return StepOutcome(0, time.monotonic() - started, result.stdout)
            reason = (result.stderr.strip().splitlines() or [f"exit {result.exit_code}"])[-1]
        except IrtuiError as exc:
            reason = exc.line
        finally:
            fresh.close()
        on_output("stderr", f"confirmation failed: {reason}")
        message = (f"could not confirm over a new SSH connection ({reason}); "
                   f"{self._wait_for_rollback(armed_at, cancel, on_event)} — "
                   "check isolation.allow / --management")
        on_output("stderr", message)
        return StepOutcome(1, time.monotonic() - started, "", message)

    def _wait_for_rollback(self, armed_at: float, cancel: threading.Event | None,
                           on_event: EventSink) -> str:
        deadline = armed_at + self.timeout + ROLLBACK_GRACE_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            if cancel is not None and cancel.is_set():
                break
            on_event(Countdown(self.host.name, "rollback", int(remaining)))
            time.sleep(min(1.0, remaining))
        self.ctx.pool.drop(self.host.name)
        try:
            still = self.ctx.read_state(self.host.name).isolated
        except IrtuiError as exc:
            return f"after the rollback deadline the host is still unreachable ({exc.line})"
        return ("the host did NOT roll back: it is still isolated" if still else
                "the host rolled back by itself: isolation removed, previous rules kept")

    def steps(self, isolate: list[Step], canary: tuple[str, int] | None) -> list[Step]:
        """Save, arm, ``isolate``, confirm, then the self-test against ``canary``."""
        name = self.host.name
        steps = [
            Step(name, self.line(self.snapshot.argv), self.snapshot.purpose, local=self.save),
            Step(name, self.line(self.arm.argv), self.arm.purpose, local=self.arm_timer),
            *isolate,
            Step(name, "# over a NEW SSH connection: " + self.line(self.disarm.argv),
                 "confirm over a new SSH connection, then disarm the rollback",
                 local=self.confirm),
        ]
        if canary is not None:
            steps += steps_for(self.host, [canary_command(*canary)])
        return steps


def _management(ctx: ActionContext, host: HostConfig, allow: list[tuple[Network, int | None]],
                keep_session_address: bool) -> tuple[list[Network], tuple[tuple[Network, int],
                                                                          ...]]:
    facts = ctx.profile(host.name).facts
    mgmt: list[Network] = []
    if keep_session_address and facts.ssh_client is not None:
        mgmt.append(ipaddress.ip_network(facts.ssh_client))
    mgmt += [n for n, port in allow if port is None and n not in mgmt]
    ports = tuple((n, port) for n, port in allow if port is not None)
    if ctx.config.isolation.allow_resolvers:
        mgmt += [ipaddress.ip_network(r) for r in facts.resolvers
                 if ipaddress.ip_network(r) not in mgmt]
    if not mgmt and not ports:
        raise InvalidTargetError(
            f"refusing to isolate {host.name}: the management allowlist is empty",
            "set isolation.allow or keep the session address")
    return mgmt, ports


def _canaries(canary: str | None, configured: Sequence[str]) -> list[tuple[str, int]]:
    endpoints: list[tuple[str, int]] = []
    for text in ([canary] if canary else list(configured)):
        endpoint = parse_endpoint(text)
        if endpoint is None:
            raise InvalidTargetError(f"canary {text!r} is not address:port",
                                     "use e.g. 198.51.100.9:443 or [2001:db8::9]:443")
        endpoints.append(endpoint)
    return endpoints


def plan_isolate(ctx: ActionContext, hosts: Sequence[str], *, confirm_timeout: int | None = None,
                 extra_management: Sequence[str] = (), keep_session_address: bool = True,
                 canary: str | None = None) -> Plan:
    """Plan commit-confirmed network isolation of ``hosts``.

    Kept reachable: loopback, the management networks (this SSH session's source address,
    ``isolation.allow`` with DNS names resolved now, ``extra_management``), DHCP and IPv6
    neighbour discovery (per config), and the host's resolvers if
    ``isolation.allow_resolvers``. Interfaces are never taken down.

    Args:
        hosts: host names, ``@group`` or ``all``.
        confirm_timeout: seconds before the host undoes the isolation by itself (default
            ``isolation.confirm_timeout``).
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
    iso = ctx.config.isolation
    chosen = ctx.config.select(list(hosts))
    timeout = iso.confirm_timeout if confirm_timeout is None else confirm_timeout
    if not 5 <= timeout <= 3600:
        raise InvalidTargetError(f"confirm timeout {timeout} s is out of range",
                                 "give 5 to 3600 seconds; nothing was changed")
    allow = resolve_allow([*iso.allow, *extra_management])
    endpoints = _canaries(canary, iso.canaries)
    plan = Plan("isolate", f"isolate {', '.join(h.name for h in chosen)} "
                f"(commit-confirmed, rollback in {timeout} s unless confirmed)",
                [h.name for h in chosen])
    since = utc_now()
    if len(chosen) == 1:
        plan.confirm_text = chosen[0].name

    def one(host: HostConfig) -> None:
        profile = ctx.profile(host.name)
        facts = profile.facts
        own = {a.ip for a in facts.addresses}
        if facts.ssh_client is not None and (facts.ssh_client in own
                                             or facts.ssh_client.is_loopback):
            raise InvalidTargetError(
                f"refusing to isolate {host.name}: it is the machine irtui runs on "
                f"(the SSH session comes from its own address {facts.ssh_client})",
                "run irtui from another machine (a jump host) to isolate this one")
        state = ctx.read_state(host.name)
        if state.isolated:
            plan.skipped[host.name] = (f"already isolated (since {state.isolation.since})"
                                       if state.isolation and state.isolation.since
                                       else "already isolated")
            return
        mgmt, ports = _management(ctx, host, allow, keep_session_address)
        kept = ", ".join([str(m) for m in mgmt] + [f"{n} port {p}" for n, p in ports])
        extras = [x for x, on in (("DHCP", iso.allow_dhcp), ("IPv6 ND", iso.allow_nd)) if on]
        plan.notes.append(f"{host.name}: stays reachable: {kept}, loopback"
                          + (f", {', '.join(extras)}" if extras else "")
                          + "; everything else is dropped in, out and forwarded")
        policy = IsolationPolicy(tuple(mgmt), since, allow_dhcp=iso.allow_dhcp,
                                 allow_nd=iso.allow_nd, endpoints=ports)
        target = next((e for e in endpoints if ipaddress.ip_address(e[0]) not in own), None)
        if endpoints and target is None:
            plan.notes.append(f"{host.name}: every canary is the host itself; no self-test")
        commit = CommitConfirmed(ctx, host, profile.backend, timeout)
        isolate = steps_for(host, profile.backend.isolate_commands(policy, state))
        plan.steps += commit.steps(isolate, target)

    plan_each(plan, chosen, one)

    def verify(host: str) -> str | None:
        return None if ctx.read_state(host).isolated else "isolation not present"

    plan.verify = verify
    return plan


def plan_release(ctx: ActionContext, hosts: Sequence[str]) -> Plan:
    """Plan removing irtui's isolation (exactly what isolate added) from ``hosts``.

    Raises:
        UnknownHostError, SSHError, HostKeyError, ActionError.
    """
    chosen = ctx.config.select(list(hosts))
    plan = Plan("release", f"release {', '.join(h.name for h in chosen)} from isolation",
                [h.name for h in chosen])

    def one(host: HostConfig) -> None:
        state: HostState = ctx.read_state(host.name)
        if not state.isolated:
            plan.skipped[host.name] = "not isolated"
            return
        since = state.isolation.since if state.isolation else ""
        plan.notes.append(f"{host.name}: removes only irtui's isolation"
                          + (f" (in force since {since})" if since else "")
                          + "; all traffic it dropped flows again; other rules untouched")
        plan.steps += steps_for(host, ctx.profile(host.name).backend.release_commands(state))

    plan_each(plan, chosen, one)

    def verify(host: str) -> str | None:
        return "isolation still present" if ctx.read_state(host).isolated else None

    plan.verify = verify
    return plan
