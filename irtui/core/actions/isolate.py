"""Network isolation, commit-confirmed, and its release.

Per host: save the current rulesets locally, check the self-test's canary is reachable, arm
a rollback timer on the host, apply the isolation atomically, confirm over a NEW SSH
connection (only that disarms the timer), then self-test that the canary is unreachable.
If the confirmation cannot be made, the host removes the isolation by itself when the timer
fires, and irtui reports what the host did. The steps and their rules are in
:mod:`irtui.core.actions.commit`.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence
from dataclasses import replace

from irtui.core.actions.commit import CommitConfirmed
from irtui.core.actions.context import ActionContext, plan_each
from irtui.core.actions.reads import each_host, read_timeout
from irtui.core.actions.runner import run_read, steps_for
from irtui.core.actions.status import rollback_status
from irtui.core.audit import utc_now
from irtui.core.endpoints import parse_endpoint, resolve_allow
from irtui.core.errors import ActionError, InvalidTargetError
from irtui.core.firewall.backend import FirewallBackend, IsolationPolicy, collapse, endpoint_text
from irtui.core.firewall.detect import NETWORK_UNKNOWN
from irtui.core.firewall.state import HostState, Network
from irtui.core.hostlock import locked, locked_all
from irtui.core.plan import Plan
from irtui.core.rollback import RollbackTimer, TimerState, disarm_command
from irtui.core.settings import HostConfig
from irtui.core.targets import covers_everything


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
    _refuse_everything(host, mgmt, ports)
    return mgmt, ports


def _refuse_everything(host: HostConfig, mgmt: list[Network],
                       ports: tuple[tuple[Network, int], ...]) -> None:
    """Refuse management entries that together keep every address of a family reachable
    (``0.0.0.0/1`` and ``128.0.0.0/1``; or on one port): each passes the check for a /0
    alone, but the firewall collapses them into one, so the isolation would drop nothing
    there (the read-back then finds a /0 irtui never writes).

    Raises:
        InvalidTargetError: naming the entries and what they add up to.
    """
    groups: dict[int | None, list[Network]] = {None: mgmt}
    for net, port in ports:
        groups.setdefault(port, list(mgmt)).append(net)  # the networks keep that port too
    for port, nets in groups.items():
        whole = [n for n in collapse(nets) if covers_everything(n)]
        if whole:
            parts = [str(n) for n in nets if n.version == whole[0].version]
            on = "" if port is None else f" on port {port}"
            raise InvalidTargetError(
                f"refusing to isolate {host.name}: the management entries "
                f"{', '.join(parts[:4])}{' …' if len(parts) > 4 else ''} together cover "
                f"every IPv{whole[0].version} address ({whole[0]}){on}, so the isolation "
                "would keep everything reachable", "name the management networks or "
                "endpoints themselves; nothing was changed")


def _kept_label(host: HostConfig, session: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
                net: Network) -> str:
    """``net`` as the plan shows it; through a bastion, the session address is the last
    bastion's address as the host sees it (``$SSH_CONNECTION``), and the note says so."""
    if host.jump and session is not None and net == ipaddress.ip_network(session):
        return f"{net} (the bastion this session comes through)"
    return str(net)


def _bastion_notes(ctx: ActionContext, host: HostConfig) -> list[str]:
    """A warning when ``host`` is a bastion other configured hosts are reached through:
    isolating it also cuts irtui's path to them."""
    behind = [h.name for h in ctx.config.hosts
              if any((j.address, j.port) == (host.address, host.port) for j in h.jump)]
    if not behind:
        return []
    return [f"{host.name}: it is the bastion irtui reaches {', '.join(behind)} through; while "
            "it is isolated those hosts cannot be reached (release it first to act on them)"]


def _addresses_of(ctx: ActionContext, hosts: Sequence[HostConfig]
                  ) -> dict[str, set[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """Each host's addresses as far as known without a round trip: its configured address
    when it is an IP, and the addresses its cached preflight profile found."""
    found: dict[str, set[ipaddress.IPv4Address | ipaddress.IPv6Address]] = {}
    for host in hosts:
        addresses = found.setdefault(host.name, set())
        with contextlib.suppress(ValueError):
            addresses.add(ipaddress.ip_address(host.address))
        profile = ctx.profiles.cached(host.name)
        if profile is not None:
            addresses.update(a.ip for a in profile.facts.addresses)
    return found


def _canaries(canary: str | None, configured: Sequence[str]) -> list[tuple[str, int]]:
    endpoints: list[tuple[str, int]] = []
    for text in ([canary] if canary else list(configured)):
        endpoint = parse_endpoint(text)
        if endpoint is None:
            raise InvalidTargetError(f"canary {text!r} is not address:port",
                                     "use e.g. 198.51.100.9:443 or [2001:db8::9]:443")
        endpoints.append(endpoint)
    return endpoints


def _without_isolated_canaries(ctx: ActionContext, endpoints: list[tuple[str, int]],
                               chosen: Sequence[HostConfig], notes: list[str]
                               ) -> list[tuple[str, int]]:
    """``endpoints`` without the canaries that are configured hosts irtui finds isolated
    (read now): their silence would prove nothing, and a baseline that cannot reach them
    leaves the isolation inconclusive. Unreadable hosts stay canaries (the baseline tells)."""
    def key(address: str) -> str:
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_address(address))
        return address

    wanted = {key(a) for a, _ in endpoints}
    skip = {h.name for h in chosen}
    owners = {h.name: key(h.address) for h in ctx.config.hosts
              if key(h.address) in wanted and h.name not in skip}
    if not owners:
        return endpoints
    states = each_host(ctx, list(owners), ctx.read_state)
    cut = {owners[n]: n for n, st in states.items()
           if isinstance(st, HostState) and st.isolation is not None}
    for address, name in cut.items():
        notes.append(f"canary {address} skipped: it is {name}, which irtui finds isolated")
    return [e for e in endpoints if key(e[0]) not in cut]


def _settled(ctx: ActionContext, host: HostConfig, backend: FirewallBackend) -> HostState:
    """``host``'s firewall read again under its change lock (:mod:`irtui.core.hostlock`),
    waiting up to ``ctx.lock_wait`` seconds for a change in progress: a PARTIAL isolation
    read while another irtui run applied its own (iptables applies IPv4, then IPv6) is
    read again once that change is over; a truly partial one still reads PARTIAL.

    Raises:
        SSHError, HostKeyError, ActionError: the read failed, or the host stayed busy
            ("host busy: ...", naming the holder).
    """
    command = locked(backend.read_command(), "isolate (reading the host again)",
                     ctx.lock_wait)
    text = run_read(ctx.pool, host, command,
                    timeout=read_timeout(ctx.config) + ctx.lock_wait)
    return backend.parse_state(host.name, text)


def _unconfirmed(host: HostConfig, timer: RollbackTimer) -> ActionError | None:
    """The refusal of an isolation read back whole whose rollback timer is still armed (the
    run that applied it has not confirmed it: still running, or killed before it could) or
    cannot be read: it is not "already isolated", the host undoes it by itself."""
    if timer.state is TimerState.ARMED:
        left = timer.fires_in
        return ActionError(
            f"{host.name} is isolated but NOT CONFIRMED: the host rolls it back by itself"
            f"{left} (the run that isolated it has not confirmed it: still running, or "
            "interrupted)",
            f"release it now (irtui release {host.name} also disarms that timer), then "
            "isolate it again; or isolate it again once the rollback has run")
    if timer.state is TimerState.UNKNOWN:
        return ActionError(f"{host.name} is isolated, but its rollback timer cannot be read "
                           f"({timer.detail or 'no answer'}): it may still roll back",
                           f"read it with irtui status {host.name}, then decide")
    return None


def plan_isolate(ctx: ActionContext, hosts: Sequence[str], *, confirm_timeout: int | None = None,
                 extra_management: Sequence[str] = (), keep_session_address: bool = True,
                 canary: str | None = None) -> Plan:
    """Plan commit-confirmed network isolation of ``hosts``.

    Kept reachable: loopback, the management networks (this SSH session's source address,
    ``isolation.allow`` with DNS names resolved now, ``extra_management``; overlaps
    collapsed per family), DHCP and IPv6 neighbour discovery on the link only (per config;
    see :class:`~irtui.core.firewall.backend.IsolationPolicy`), and the host's resolvers if
    ``isolation.allow_resolvers``. Interfaces are never taken down. The isolation records
    the time it was applied ("isolated since"), not the time of this plan.

    Args:
        hosts: host names, ``@group`` or ``all``.
        confirm_timeout: seconds before the host undoes the isolation by itself (default
            ``isolation.confirm_timeout``).
        extra_management: more addresses/CIDRs/names to keep reachable.
        keep_session_address: keep this SSH session's source address (turn off only when
            the session arrives through an address that must not stay allowed).
        canary: ``address:port`` for the self-test (default: the first of
            ``isolation.canaries`` that is neither the host itself nor a host this plan
            isolates too).

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

    together = _addresses_of(ctx, chosen)
    configured = bool(endpoints)
    if canary is None:
        endpoints = _without_isolated_canaries(ctx, endpoints, chosen, plan.notes)

    def one(host: HostConfig) -> None:
        profile = ctx.changeable(host.name)
        facts = profile.facts
        own = {a.ip for a in facts.addresses}
        with contextlib.suppress(ValueError):  # the address irtui reaches it at is its own
            own.add(ipaddress.ip_address(host.address))
        if facts.ssh_client is not None and (facts.ssh_client in own
                                             or facts.ssh_client.is_loopback):
            raise InvalidTargetError(
                f"refusing to isolate {host.name}: it is the machine irtui runs on "
                f"(the SSH session comes from its own address {facts.ssh_client})",
                "run irtui from another machine (a jump host) to isolate this one")
        state = ctx.read_state(host.name)
        if state.isolation is not None and not state.isolated:
            state = _settled(ctx, host, profile.backend)
        if state.isolated:
            refused = _unconfirmed(host, rollback_status(ctx, host.name))
            if refused is not None:  # a failure of this host (recorded), even when alone
                plan.failed[host.name] = refused.line
                return
            plan.skipped[host.name] = (f"already isolated (since {state.isolation.since})"
                                       if state.isolation and state.isolation.since
                                       else "already isolated")
            return
        if state.isolation is not None:
            raise ActionError(f"{host.name} is partially isolated ({state.isolation.problem})",
                              f"release it first (irtui release {host.name}), then isolate")
        mgmt, ports = _management(ctx, host, allow, keep_session_address)
        policy = IsolationPolicy(tuple(mgmt), since, allow_dhcp=iso.allow_dhcp,
                                 allow_nd=iso.allow_nd, endpoints=ports)
        plan.management[host.name] = ([str(m) for m in policy.management]
                                      + [endpoint_text(n, p) for n, p in policy.endpoints])
        kept = ", ".join([_kept_label(host, facts.ssh_client, m) for m in policy.management]
                         + [f"{n} port {p}" for n, p in policy.endpoints])
        plan.notes += _bastion_notes(ctx, host)
        if not facts.network_known:
            plan.notes.append(f"{host.name}: its addresses are unknown ({NETWORK_UNKNOWN}): "
                              "irtui cannot tell whether it is the machine irtui runs on, "
                              "nor skip its own address as a canary; the commit-confirm "
                              "rollback still undoes a lost session")
        extras = [x for x, on in (("DHCP on the link", iso.allow_dhcp),
                                  ("IPv6 ND on the link", iso.allow_nd)) if on]
        plan.notes.append(f"{host.name}: stays reachable: {kept}, loopback"
                          + (f", {', '.join(extras)}" if extras else "")
                          + "; everything else is dropped in, out and forwarded")
        others = {a for name, addrs in together.items() if name != host.name for a in addrs}
        usable = [e for e in endpoints if ipaddress.ip_address(e[0]) not in own]
        target = next((e for e in usable if ipaddress.ip_address(e[0]) not in others), None)
        if usable and target is None:
            # its timeout would prove nothing: that host is being cut off too
            plan.notes.append(f"{host.name}: every canary is a host this plan isolates too "
                              f"({', '.join(f'{a}:{p}' for a, p in usable)}); no self-test "
                              "(configure isolation.canaries outside the isolated hosts)")
        elif configured and target is None:
            plan.notes.append(f"{host.name}: no usable canary (each is the host itself or a "
                              "host irtui finds isolated); no self-test: only the read-back "
                              "checks this isolation (configure isolation.canaries outside "
                              "the hosts you isolate)")
        elif target is None:
            plan.notes.append(f"{host.name}: no canary configured (isolation.canaries): "
                              "no self-test")
        backend = profile.backend
        commit = CommitConfirmed(ctx, host, backend, timeout, target)
        plan.steps += commit.steps(
            lambda at: backend.isolate_commands(replace(policy, since=at), state), since)

    plan_each(plan, chosen, one, ctx)

    def verify(host: str) -> str | None:
        isolation = ctx.read_state(host).isolation
        if isolation is None:
            return "isolation not present"
        return f"isolation incomplete: {isolation.problem}" if isolation.problem else None

    plan.verify = verify
    plan.recheck = verify
    return plan


def plan_release(ctx: ActionContext, hosts: Sequence[str]) -> Plan:
    """Plan removing irtui's isolation (exactly what isolate added) from ``hosts``, and the
    rollback timer an isolation that was never confirmed left armed (after the release, so
    a failed release keeps its rollback; alone on a host no longer isolated, where the timer
    would only make the next isolate wait for it).

    Raises:
        UnknownHostError, SSHError, HostKeyError, ActionError.
    """
    chosen = ctx.config.select(list(hosts))
    plan = Plan("release", f"release {', '.join(h.name for h in chosen)} from isolation",
                [h.name for h in chosen])
    timers = each_host(ctx, [h.name for h in chosen], lambda n: rollback_status(ctx, n))

    def one(host: HostConfig) -> None:
        backend = ctx.changeable(host.name).backend
        state: HostState = ctx.read_state(host.name)
        timer = timers.get(host.name)
        armed = isinstance(timer, RollbackTimer) and timer.state is TimerState.ARMED
        disarm = steps_for(host, [disarm_command(host.name, missing_ok=True)]) if armed else []
        if state.isolation is None and armed:
            plan.notes.append(f"{host.name}: not isolated; disarms the rollback timer an "
                              "unconfirmed isolation left armed (a new isolate would wait "
                              "for it)")
            plan.steps += disarm
            return
        if state.isolation is None:
            plan.skipped[host.name] = "not isolated"
            return
        if armed:
            plan.notes.append(f"{host.name}: its isolation was never confirmed: the rollback "
                              "timer still armed is disarmed once the release is done")
        since = state.isolation.since
        partial = (f" (PARTIAL: {state.isolation.problem})" if state.isolation.problem
                   else "")
        plan.notes.append(f"{host.name}: removes only irtui's isolation{partial}"
                          + (f" (in force since {since})" if since else "")
                          + "; all traffic it dropped flows again; other rules untouched")
        plan.steps += steps_for(host, locked_all(backend.release_commands(state), "release",
                                                 ctx.lock_wait)) + disarm

    plan_each(plan, chosen, one, ctx)

    def verify(host: str) -> str | None:
        isolation = ctx.read_state(host).isolation
        return None if isolation is None else f"isolation still present ({isolation.status.value})"

    def recheck(host: str) -> str | None:
        isolation = ctx.read_state(host).isolation
        return None if isolation is None else f"it is isolated now ({isolation.status.value})"

    plan.verify = verify
    plan.recheck = recheck
    return plan
