"""Pytest fixtures for tests that need the practice lab (root + network namespaces).

Import them from ``tests/conftest.py``::

    from tests.lab_fixtures import clean_lab, lab  # noqa: F401

``lab`` (session scope) starts the test lab once and removes it at the end of the session;
``clean_lab`` (function scope) also empties every lab machine's firewall state first. Both
skip, with the reason, where the lab cannot run (not root, no ``ip netns``, no sshd).

The test lab uses its own prefix, subnets and directory (:meth:`LabSpec.for_tests`), so it
never clashes with a developer's running lab. Each test process has its own slot
(``$IRTUI_TEST_SLOT`` + the pytest-xdist worker number, :func:`irtui.lab.spec.lab_slot`), and
everything else a test creates outside its namespaces — extra labs (:func:`extra_test_spec`),
the container subnet behind a host (:data:`CONTAINER_NET`), local accounts — is named from
the slot too, so parallel workers and concurrent runs never meet.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from irtui.core.errors import IrtuiError
from irtui.lab import LabInfo, LabSpec, lab_down, lab_status, lab_up
from irtui.lab.netns import find_binary
from irtui.lab.probe import ns_run
from irtui.lab.spec import TEST_LAB_DIR, lab_slot

SLOT = lab_slot()
TEST_SPEC = LabSpec.for_tests(slot=SLOT)
LOCK_WAIT_SECONDS = 900.0

# Third octets (198.18.X.0/24) of the subnets a slot's tests create besides its own lab
# (198.18.16+SLOT): apart from the default lab (0), the benchmark lab (9), every slot's test
# lab (16-47) and each other. Block k of slot N is 198.18.(base_k + N).
EXTRA_LAB_BASES = {"down": 64, "shrink": 96, "clash": 160}
CONTAINER_BASE = 128
CONTAINER_NET = f"198.18.{CONTAINER_BASE + SLOT}"
"""The /24 (first three octets) routed to a 'container' behind a lab host by
:func:`container_behind`: the container is ``.2``, its gateway on the host ``.1``."""
CONTAINER_V4 = f"{CONTAINER_NET}.2"

# Built-in chains of each iptables table, for resetting legacy tables to "accept everything".
_BUILTIN_CHAINS = {
    "filter": ["INPUT", "FORWARD", "OUTPUT"],
    "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
    "mangle": ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
    "raw": ["PREROUTING", "OUTPUT"],
    "security": ["INPUT", "FORWARD", "OUTPUT"],
}


def lab_unavailable_reason() -> str | None:
    """Why the practice lab cannot run here, or None if it can."""
    if not sys.platform.startswith("linux"):
        return "the practice lab needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the practice lab needs root (run the tests as root, as CI does)"
    for binary, package in (("ip", "iproute2"), ("nft", "nftables"),
                            ("ssh-keygen", "openssh-client"), ("unshare", "util-linux")):
        if not find_binary(binary):
            return f"the practice lab needs {binary} (Debian package {package})"
    if not Path("/usr/sbin/sshd").exists():
        return "the practice lab needs /usr/sbin/sshd (Debian package openssh-server)"
    probe = subprocess.run([find_binary("unshare") or "unshare", "--net", "true"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"cannot create network namespaces here ({probe.stderr.strip() or 'unshare failed'})"
    proc = subprocess.run([find_binary("ip") or "ip", "netns", "list"], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        return f"`ip netns` does not work here ({proc.stderr.strip()})"
    return None


def _legacy_tables(namespace: str, family: str) -> list[str]:
    """iptables-legacy tables that exist in ``namespace`` (reading does not create any)."""
    names = "ip_tables_names" if family == "4" else "ip6_tables_names"
    proc = ns_run(namespace, ["cat", f"/proc/net/{names}"])
    return proc.stdout.decode().split() if proc.returncode == 0 else []


def protected_key_copy(key_file: str, directory: Path) -> tuple[Path, str]:
    """A copy of the lab's private key in ``directory``, encrypted with a fresh passphrase.

    Returns:
        ``(path, passphrase)``; the file is mode 0600.
    """
    key = directory / "id_lab_protected"
    key.write_bytes(Path(key_file).read_bytes())
    key.chmod(0o600)
    passphrase = "pass-" + secrets.token_urlsafe(12)
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", passphrase, "-f", str(key)], check=True,
                   capture_output=True)
    return key, passphrase


def reset_firewall(namespace: str) -> None:
    """Empty the firewall state of one namespace.

    Flushes the nftables ruleset (which includes iptables-nft's tables), resets any
    iptables-legacy tables that exist to empty with ACCEPT policies (without creating new
    ones), destroys ipsets and flushes conntrack.

    Raises:
        AssertionError: ``nft flush ruleset`` failed.
    """
    proc = ns_run(namespace, ["nft", "flush", "ruleset"])
    assert proc.returncode == 0, f"nft flush ruleset in {namespace}: {proc.stderr.decode()}"
    for family, restore in (("4", "iptables-legacy-restore"), ("6", "ip6tables-legacy-restore")):
        tables = _legacy_tables(namespace, family)
        if not tables or not find_binary(restore):
            continue
        text = "".join(
            f"*{t}\n" + "".join(f":{c} ACCEPT [0:0]\n" for c in _BUILTIN_CHAINS.get(t, []))
            + "COMMIT\n" for t in tables)
        proc = ns_run(namespace, [restore], input=text.encode())
        assert proc.returncode == 0, f"{restore} in {namespace}: {proc.stderr.decode()}"
    if find_binary("ipset"):
        ns_run(namespace, ["ipset", "destroy"])
    if find_binary("conntrack"):
        ns_run(namespace, ["conntrack", "-F"])


def reset_lab_firewalls(info: LabInfo) -> None:
    """:func:`reset_firewall` in every host namespace and the attacker's, and no rollback
    timer left armed on any host (:func:`reset_rollback_timers`)."""
    for machine in [*info.hosts, info.attacker]:
        reset_firewall(machine.namespace)
    reset_rollback_timers(info)


def reset_rollback_timers(info: LabInfo) -> None:
    """Stop every irtui rollback timer a test left armed on a lab host, and remove the timer
    files: a timer that fires later would undo the next test's isolation, and an armed one
    makes its next isolation be refused. Each timer is signalled only after its
    ``/proc/PID/cmdline`` shows it is one (``irtui-rollback``)."""
    for host in info.hosts:
        if host.state_dir is None or not host.state_dir.is_dir():
            continue
        for pid_file in host.state_dir.glob("rollback-*.pid"):
            words = pid_file.read_text().split()
            pid = int(words[0]) if words and words[0].isdigit() else 0
            with contextlib.suppress(OSError):
                if pid and b"irtui-rollback" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.killpg(pid, signal.SIGKILL)
        for path in host.state_dir.iterdir():
            path.unlink()


def _lock_path(spec: LabSpec = TEST_SPEC) -> Path:
    base = Path("/run/lock")
    return (base if base.is_dir() else Path("/run")) / f"irtui-lab-{spec.prefix}.lock"


def acquire_lab_lock(timeout: float = LOCK_WAIT_SECONDS,
                     notify: Callable[[str], None] | None = None,
                     spec: LabSpec = TEST_SPEC) -> int:
    """Take the machine-wide lock on the test lab ``spec``; return the open lock file
    descriptor (-1 if this process already holds it).

    Two pytest sessions on one machine would share (and tear down, and flush the firewalls
    of) the same test lab, so sessions take turns: a second session waits here, saying so once
    through ``notify`` (default: stderr). The kernel drops the lock if the holder dies.

    Raises:
        pytest.fail.Exception: still held by another session after ``timeout`` seconds.
    """
    path = _lock_path(spec)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            if holder == str(os.getpid()):  # this session already holds it (fixture imported
                os.close(fd)                # twice): nothing more to lock
                return -1
            if time.monotonic() > deadline:
                os.close(fd)
                pytest.fail(f"the test lab is still in use by another test session (pid "
                            f"{holder}, lock {path}) after {timeout:g} s")
            if not announced:
                message = (f"waiting for the practice lab: another test session (pid {holder}) "
                           f"holds {path}")
                if notify is not None:
                    notify(message)
                else:
                    print(message, file=sys.stderr, flush=True)
                announced = True
            time.sleep(0.2)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release_lab_lock(fd: int) -> None:
    """Release the lock taken by :func:`acquire_lab_lock`."""
    if fd < 0:
        return
    os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _notifier(config: pytest.Config) -> Callable[[str], None]:
    """Print past pytest's output capture, so a waiting session says why it waits."""
    def notify(message: str) -> None:
        capman = config.pluginmanager.getplugin("capturemanager")
        ctx = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
        with ctx:
            print(f"\n{message}", file=sys.stderr, flush=True)
    return notify


@contextlib.contextmanager
def running_lab(spec: LabSpec, config: pytest.Config) -> Iterator[LabInfo]:
    """Bring the lab ``spec`` up under its machine-wide lock, yield it, remove it.

    Skips when the lab cannot run here. Concurrent test sessions take turns on one lab
    instead of tearing down each other's.
    """
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    fd = acquire_lab_lock(notify=_notifier(config), spec=spec)
    try:
        if lab_status(spec).anything:  # a crashed session's lab may still be isolated,
            with contextlib.suppress(IrtuiError, OSError, AssertionError):  # would fail lab_up
                reset_lab_firewalls(LabInfo.from_spec(spec))
        info = lab_up(spec)
        try:
            yield info
        finally:
            for line in lab_down(spec):
                if "not killed" in line:  # a test left a process running in the lab
                    warnings.warn(f"practice lab teardown: {line}", stacklevel=1)
    finally:
        release_lab_lock(fd)


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[LabInfo]:
    """The test lab (3 hosts, prefix ``irtest``), up for the whole session.

    Yields the :class:`LabInfo`; the lab is removed when the session ends (see
    :func:`running_lab`).
    """
    with running_lab(TEST_SPEC, request.config) as info:
        yield info


@pytest.fixture
def clean_lab(lab: LabInfo) -> LabInfo:
    """The test lab with empty firewalls in every host and attacker namespace, and every sshd
    running (restarted if a previous test stopped one)."""
    if not lab_status(TEST_SPEC).up:
        # a test that stopped an sshd may also have left its host isolated (management over
        # IPv4 only): clear the firewalls first, or the restarted sshd is never reached
        with contextlib.suppress(AssertionError, OSError):
            reset_lab_firewalls(lab)
        lab_up(TEST_SPEC)
    reset_lab_firewalls(lab)
    return lab


def extra_test_spec(name: str, hosts: int = 1) -> LabSpec:
    """A throwaway second lab for tests of ``lab up``/``lab down`` themselves, unique to this
    slot: prefix ``ir<name><slot>``, subnet ``198.18.<base+slot>.0/24`` (and the same number,
    in hex, in ``fd00:1ab:<n>::/64``), directory ``/run/irtui-lab-test-<slot>-<name>``.

    Args:
        name: ``"down"``, ``"shrink"`` or ``"clash"`` (a key of :data:`EXTRA_LAB_BASES`).
        hosts: number of lab hosts.
    """
    third = EXTRA_LAB_BASES[name] + SLOT
    return LabSpec(prefix=f"ir{name}{SLOT}", hosts=hosts, subnet4=f"198.18.{third}.0/24",
                   subnet6=f"fd00:1ab:{third:x}::/64",
                   lab_dir=Path(f"{TEST_LAB_DIR}-{SLOT}-{name}"))


@contextlib.contextmanager
def container_behind(info: LabInfo, host_index: int = 0,
                     subnet: str = CONTAINER_NET) -> Iterator[str]:
    """A 'container' namespace routed through lab host ``host_index`` (forwarding on), with
    routes to it from the attacker and the responder (root) namespaces. Yields the
    container's namespace; its address is ``{subnet}.2`` and its gateway ``{subnet}.1``."""
    host = info.hosts[host_index]
    ns = f"{info.prefix}-ctr{host_index + 1}"
    net = f"{subnet}.0/24"

    def sh(namespace: str, script: str) -> None:
        out = ns_run(namespace, ["sh", "-c", script])
        assert out.returncode == 0, out.stderr.decode()

    def remove() -> None:
        # deleting one end of the veth pair removes both at once; `ip netns del` alone frees
        # them later, from the kernel's cleanup work, and the next `ip link add ctr0` can
        # come first under load ("File exists")
        ns_run(host.namespace, ["ip", "link", "del", "ctr0"])
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    remove()
    subprocess.run(["ip", "route", "del", net], capture_output=True)
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "link", "add", "ctr0", "netns", host.namespace, "type", "veth",
                        "peer", "name", "eth0", "netns", ns], check=True)
        sh(host.namespace, f"ip addr add {subnet}.1/24 dev ctr0 && ip link set ctr0 up && "
           "sysctl -qw net.ipv4.ip_forward=1")
        sh(ns, f"ip link set lo up && ip addr add {subnet}.2/24 dev eth0 && "
           f"ip link set eth0 up && ip route add default via {subnet}.1")
        sh(info.attacker.namespace, f"ip route add {net} via {host.v4}")
        subprocess.run(["ip", "route", "add", net, "via", host.v4], check=True)
        yield ns
    finally:
        subprocess.run(["ip", "route", "del", net], capture_output=True)
        ns_run(info.attacker.namespace, ["ip", "route", "del", net])
        ns_run(host.namespace, ["sysctl", "-qw", "net.ipv4.ip_forward=0"])
        remove()


def eventually(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it returns True or ``timeout`` seconds have passed, instead of
    sleeping for a fixed worst case (a TTL running out, a daemon coming up).

    Returns:
        True as soon as ``condition()`` does; False if it never did within ``timeout``
        (checked once more at the deadline).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def nft_set_elements(namespace: str, set_name: str) -> list:
    """Elements of irtui's nft set ``set_name`` in ``namespace`` as nft's JSON gives them
    (``[]`` when the set does not exist)."""
    out = ns_run(namespace, ["nft", "-j", "list", "set", "inet", "irtui", set_name])
    if out.returncode != 0:
        return []
    doc = json.loads(out.stdout)
    return next(i["set"] for i in doc["nftables"] if "set" in i).get("elem", [])
