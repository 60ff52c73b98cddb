"""Thin wrappers over iproute2 for network namespaces, veths, bridges and addresses.

Every function runs ``ip`` (or ``sysctl`` inside a namespace) as a subprocess and turns a
failure into :class:`~irtui.core.errors.IrtuiError` naming the command and its error output.
All of them need root.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from irtui.core.errors import IrtuiError

NETNS_DIR = Path("/run/netns")
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def find_binary(name: str) -> str | None:
    """Absolute path of ``name`` on ``$PATH`` or in the sbin directories, or None."""
    path = os.environ.get("PATH", "")
    return shutil.which(name, path=f"{path}:{SBIN_PATH}" if path else SBIN_PATH)


def run(argv: list[str], *, check: bool = True, timeout: float = 30.0,
        input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output as text.

    Args:
        argv: the command; ``argv[0]`` is looked up like :func:`find_binary`.
        check: raise when the exit status is not 0.
        timeout: seconds before the command is killed.
        input_text: text written to its stdin.

    Returns:
        The completed process (stdout and stderr as str).

    Raises:
        IrtuiError: the command failed (with ``check``), could not start, or timed out.
    """
    exe = find_binary(argv[0]) or argv[0]
    cmd = " ".join(argv)
    try:
        proc = subprocess.run([exe, *argv[1:]], capture_output=True, text=True,
                              timeout=timeout, input=input_text, check=False)
    except FileNotFoundError:
        raise IrtuiError(f"cannot run {argv[0]!r}: not installed",
                         "install it (see the lab requirements)") from None
    except subprocess.TimeoutExpired:
        raise IrtuiError(f"`{cmd}` did not finish within {timeout:g} s",
                         "check the system load and try again") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise IrtuiError(f"`{cmd}` failed ({'; '.join(detail) or f'exit {proc.returncode}'})",
                         "check that you are root and the kernel supports network namespaces")
    return proc


def _ip(namespace: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    prefix = ["ip"] if namespace is None else ["ip", "-n", namespace]
    return run([*prefix, *args], check=check)


def _is_mounted_nsfs(path: Path) -> bool:
    """True if ``path`` is a namespace bind mount (its device differs from /run/netns's)."""
    try:
        return path.stat().st_dev != NETNS_DIR.stat().st_dev
    except OSError:
        return False


def list_namespaces() -> list[str]:
    """Names of the named network namespaces (live bind mounts under /run/netns)."""
    try:
        entries = sorted(NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []
    return [p.name for p in entries if _is_mounted_nsfs(p)]


def namespace_exists(name: str) -> bool:
    """True if the named network namespace exists (a live bind mount, not a stale file)."""
    return _is_mounted_nsfs(NETNS_DIR / name)


def stale_namespace_file(name: str) -> bool:
    """True if /run/netns/NAME exists but is not a live namespace (left by a crash)."""
    path = NETNS_DIR / name
    return path.exists() and not _is_mounted_nsfs(path)


def add_namespace(name: str) -> None:
    """Create the named network namespace. Raises IrtuiError on failure."""
    run(["ip", "netns", "add", name])


def delete_namespace(name: str) -> None:
    """Delete the named network namespace. Raises IrtuiError on failure."""
    run(["ip", "netns", "delete", name])


def namespace_inode(name: str) -> int | None:
    """Inode number identifying the named namespace, or None if it does not exist."""
    try:
        return (NETNS_DIR / name).stat().st_ino
    except OSError:
        return None


def process_netns_inode(pid: int) -> int | None:
    """Inode number of the network namespace process ``pid`` is in, or None if unreadable."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def namespace_pids(name: str) -> list[int]:
    """PIDs of the processes inside the named namespace (like ``ip netns pids``)."""
    want = namespace_inode(name)
    if want is None:
        return []
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and process_netns_inode(int(entry.name)) == want:
            pids.append(int(entry.name))
    return sorted(pids)


def sysctl(namespace: str | None, settings: dict[str, str], *,
           ignore_missing: bool = False) -> None:
    """Set sysctls (``{"net.ipv6.conf.all.accept_ra": "0"}``) inside ``namespace``.

    ``namespace`` None means the root namespace. With ``ignore_missing`` keys the kernel does
    not have are skipped. Raises IrtuiError on failure.
    """
    pairs = [f"{k}={v}" for k, v in settings.items()]
    flags = ["-q", "-e", "-w"] if ignore_missing else ["-q", "-w"]
    prefix = [] if namespace is None else ["ip", "netns", "exec", namespace]
    run([*prefix, "sysctl", *flags, *pairs], check=not ignore_missing)


def links(namespace: str | None) -> dict[str, dict[str, Any]]:
    """Interfaces in ``namespace`` (None = root) as ``{ifname: ip -j link entry}``."""
    proc = _ip(namespace, "-j", "-d", "link", "show")
    return {entry["ifname"]: entry for entry in json.loads(proc.stdout or "[]")}


def link_kind(entry: dict[str, Any]) -> str:
    """The link type of an ``ip -j -d link`` entry (``veth``, ``bridge``, ... or "")."""
    return str(entry.get("linkinfo", {}).get("info_kind", ""))


def delete_link(namespace: str | None, ifname: str) -> None:
    """Delete an interface (a veth's peer goes with it). Raises IrtuiError on failure."""
    _ip(namespace, "link", "delete", ifname)


def ip_cmd(namespace: str | None, *args: str) -> None:
    """Run ``ip [-n NAMESPACE] ARGS...``. Raises IrtuiError on failure."""
    _ip(namespace, *args)


def global_addresses(namespace: str | None, ifname: str) -> list[str]:
    """Global addresses on ``ifname`` as ``"address/prefixlen"`` strings (both families)."""
    proc = _ip(namespace, "-j", "addr", "show", "dev", ifname)
    out: list[str] = []
    for entry in json.loads(proc.stdout or "[]"):
        for info in entry.get("addr_info", []):
            if info.get("scope") == "global" and info.get("family") in ("inet", "inet6"):
                out.append(f"{info['local']}/{info['prefixlen']}")
    return out


def sync_addresses(namespace: str | None, ifname: str, wanted: list[str]) -> None:
    """Make the global addresses on ``ifname`` exactly ``wanted`` (``"addr/len"`` strings).

    Addresses already present are left alone (so open connections keep working), missing ones
    are added (IPv6 with ``nodad``, usable at once), others removed.
    """
    want = {ipaddress.ip_interface(w) for w in wanted}
    have = {ipaddress.ip_interface(h) for h in global_addresses(namespace, ifname)}
    for extra in have - want:
        _ip(namespace, "addr", "del", str(extra), "dev", ifname)
    for missing in sorted(want - have, key=str):
        extra_flags = ["nodad"] if missing.version == 6 else []
        _ip(namespace, "addr", "add", str(missing), "dev", ifname, *extra_flags)
