"""One OpenSSH server per lab host: config, keys, start, liveness and a careful stop.

Each host's sshd runs inside the host's network namespace and in a private mount and UTS
namespace where ``lab_dir/hosts/NAME/home`` is bound over ``/root``, ``lab_dir/hosts/NAME/run``
over ``/run`` and the host name is set, so remote commands see their own home (no shell
start-up files), their own ``/run`` (as on a real machine: irtui's rollback timer files, the
xtables lock and sudo's timestamps of one lab host never meet another's, nor those of another
lab running at the same time) and ``hostname`` prints NAME.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from irtui.core.errors import IrtuiError
from irtui.lab.netns import (
    find_binary,
    namespace_inode,
    namespace_pids,
    process_netns_inode,
    run,
)

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")


def generate_key(path: Path, comment: str) -> None:
    """Create an ed25519 key pair at ``path`` and ``path.pub`` unless the private key exists."""
    if path.exists() and path.with_name(path.name + ".pub").exists():
        return
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-C", comment, "-f", str(path)])


def public_key(path: Path) -> str:
    """``"ssh-ed25519 AAAA..."`` (type and base64 only) from a ``.pub`` file."""
    fields = path.read_text(encoding="ascii").split()
    return f"{fields[0]} {fields[1]}"


def sshd_config_text(host_dir: Path, authorized_keys: Path, extra: Sequence[str] = ()) -> str:
    """The sshd_config for one lab host whose files live in ``host_dir``, with the
    ``extra`` lines (global keywords, e.g. ``AllowUsers``) at the end."""
    lines = [
        "# written by irtui's practice lab; removed by lab_down",
        "Port 22",
        "ListenAddress 0.0.0.0",
        "ListenAddress ::",
        f"HostKey {host_dir / 'ssh_host_ed25519_key'}",
        f"PidFile {host_dir / 'sshd.pid'}",
        f"AuthorizedKeysFile {authorized_keys}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "MaxSessions 64",
        "MaxStartups 100:30:200",
        "LogLevel VERBOSE",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "UseDNS no",
    ]
    if SFTP_SERVER.exists():
        lines.append(f"Subsystem sftp {SFTP_SERVER}")
    return "\n".join([*lines, *extra]) + "\n"


def ensure_sshd(namespace: str, name: str, host_dir: Path, authorized_keys: Path,
                extra: Sequence[str] = ()) -> None:
    """Make one lab machine's sshd run with the current config.

    The host key is made once (kept across runs); the config is written when its text
    changed, and a live sshd started with an older text is restarted (its sessions end);
    a dead sshd (or one left in an old namespace of that name) is started.

    Raises:
        IrtuiError: ssh-keygen or sshd failed.
    """
    host_dir.mkdir(parents=True, exist_ok=True)
    generate_key(host_dir / "ssh_host_ed25519_key", f"root@{name}")
    config = host_dir / "sshd_config"
    pid_file = host_dir / "sshd.pid"
    text = sshd_config_text(host_dir, authorized_keys, extra)
    if not config.exists() or config.read_text() != text:
        stop_sshd(pid_file, config, namespace)
        config.write_text(text)
    if live_sshd(pid_file, config, namespace) is None:
        stop_sshd(pid_file, config, namespace)
        pid_file.unlink(missing_ok=True)
        start_sshd(namespace, name, host_dir)


def read_pid(pid_file: Path) -> int | None:
    """The PID in ``pid_file``, or None if missing or not a number."""
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def pid_running(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def is_lab_sshd(pid: int, config: Path) -> bool:
    """True if ``pid`` is a running sshd whose command line names ``config``.

    Used before every signal, so a recycled PID is never killed.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return (pid_running(pid) and b"sshd" in cmdline
            and os.fsencode(str(config)) in cmdline)


def live_sshd(pid_file: Path, config: Path, namespace: str | None = None) -> int | None:
    """PID of the lab sshd recorded in ``pid_file`` if it is alive, else None.

    With ``namespace``, the process must also be inside that network namespace (an sshd left
    in a deleted-and-recreated namespace does not count).
    """
    pid = read_pid(pid_file)
    if pid is None or not is_lab_sshd(pid, config):
        return None
    if namespace is not None:
        want = namespace_inode(namespace)
        if want is None or process_netns_inode(pid) != want:
            return None
    return pid


def _start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[-1].split()[19])


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[-1].split()[1])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[-1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """PIDs of every process below ``pid`` (its sessions and their commands)."""
    tree = _children()
    out: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(tree.get(child, []))
    return out


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if pid_running(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = [p for p in left if pid_running(p)]
    return left


def find_lab_sshds(pid_file: Path, config: Path, namespace: str | None = None) -> list[int]:
    """PIDs of running sshd listeners for ``config``: the one in ``pid_file`` and, with
    ``namespace``, any other process in that namespace whose command line names ``config``
    (one whose PID file was lost). Session processes are not listed; see :func:`stop_sshd`."""
    found: list[int] = []
    pid = read_pid(pid_file)
    if pid is not None and is_lab_sshd(pid, config):
        found.append(pid)
    if namespace is not None and namespace_inode(namespace) is not None:
        matching = {p for p in namespace_pids(namespace) if is_lab_sshd(p, config)}
        # A just-forked connection handler re-executes sshd with the same arguments (plus -R)
        # for a moment; it is a child of the listener, so keep only those without such a parent.
        found += sorted(p for p in matching if p not in found and _ppid(p) not in matching)
    return found


def stop_sshd(pid_file: Path, config: Path, namespace: str | None = None) -> list[int]:
    """Stop the lab sshd for ``config`` and the sessions it started.

    Candidates come from :func:`find_lab_sshds`; each is signalled only after
    ``/proc/PID/cmdline`` shows ``sshd`` and ``config`` — nothing is ever killed by name.
    SIGTERM first, SIGKILL for whatever is left after 2 s.

    Returns:
        The listener PIDs that were stopped (empty if none was running).
    """
    listeners = find_lab_sshds(pid_file, config, namespace)
    if not listeners:
        return []
    # Remember each process's start time, so a PID reused in the meantime is never signalled.
    family = {p: _start_time(p) for pid in listeners for p in (pid, *descendants(pid))}

    def same(p: int) -> bool:
        if p in listeners and not is_lab_sshd(p, config):
            return False
        return family[p] is not None and _start_time(p) == family[p]

    for p in family:
        if same(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM)
    left = _wait_gone(list(family), 2.0)
    for p in left:
        if same(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    _wait_gone(left, 2.0)
    return listeners


def _private_run(host_dir: Path) -> str:
    """Shell commands (for the host's private mount namespace) putting ``host_dir/run`` over
    ``/run``, with ``/run/sshd`` (sshd's privilege separation directory) in it.

    When ``host_dir`` itself lies under /run (the usual /run/irtui-lab...), the top directory
    of /run that holds it is bound back at the same path first, so sshd still finds its
    config, keys and pid file there.
    """
    run_dir = host_dir / "run"
    (run_dir / "sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
    steps = []
    real = host_dir.resolve()
    if real.is_relative_to("/run"):
        top = Path("/run", real.relative_to("/run").parts[0])
        (run_dir / top.name).mkdir(exist_ok=True)
        steps.append(f"mount --bind {shlex.quote(str(top))} "
                     f"{shlex.quote(str(run_dir / top.name))}")
    steps.append(f"mount --rbind {shlex.quote(str(run_dir))} /run")
    return " && ".join(steps)


def start_sshd(namespace: str, hostname: str, host_dir: Path) -> None:
    """Start the host's sshd inside ``namespace`` with a private /root, /run and host name.

    Returns once sshd has daemonised (its PID file appears shortly after).

    Raises:
        IrtuiError: sshd exited with an error (the message includes its log).
    """
    config = host_dir / "sshd_config"
    log = host_dir / "sshd.log"
    home = host_dir / "home"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    q = shlex.quote
    script = (f"mount --bind {q(str(home))} /root && {_private_run(host_dir)} && "
              f"hostname {q(hostname)} && "
              f"exec {SSHD} -f {q(str(config))} -E {q(str(log))}")
    argv = [find_binary("ip") or "ip", "netns", "exec", namespace,
            find_binary("unshare") or "unshare", "--mount", "--uts", "--propagation", "private",
            "sh", "-c", script]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        tail = ""
        with contextlib.suppress(OSError):
            tail = "; ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        detail = "; ".join(x for x in (proc.stderr.strip(), tail) if x)
        raise IrtuiError(f"sshd for lab host {hostname} did not start ({detail or 'no output'})",
                         f"check {log} and {config}")
