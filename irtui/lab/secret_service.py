"""A real Secret Service of its own: ``dbus-daemon`` with a private session bus and an
unlocked ``gnome-keyring-daemon --components=secrets`` on it.

The practice lab runs one in the background (so the lab's SMTP password and webhook URL live
in a real keyring without touching the responder's own), and the tests run one per test.
The bus has no service directories, so nothing is D-Bus-activated behind our back: every
process of the session is one we started and stop by its pid.

Facts (LAB-NOTES): the unlock password is fed on stdin byte for byte, with no trailing newline
(a newline makes a keyring that later fails with ``KeyringLocked``); HOME and XDG_* must point
into a private directory so no keyring file lands in a real home.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irtui.core.errors import IrtuiError

SECRETS_BUS_NAME = "org.freedesktop.secrets"
START_SECONDS = 15.0
TOOLS = {"dbus-daemon": "dbus", "gnome-keyring-daemon": "gnome-keyring"}

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>{listen}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def missing_tools() -> list[str]:
    """``"tool (Debian package)"`` for each program this needs that is not installed."""
    return [f"{tool} ({pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]


def private_env(base: Path, runtime: Path) -> dict[str, str]:
    """``os.environ`` with HOME and XDG_DATA/CONFIG/CACHE_HOME under ``base`` (created 0700),
    XDG_RUNTIME_DIR = ``runtime`` and no PYTHON_KEYRING_BACKEND."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    for key, name in (("HOME", "home"), ("XDG_DATA_HOME", "data"),
                      ("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache")):
        path = base / name
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        env[key] = str(path)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    return env


def bus_call(address: str, method: str, arg: str) -> Any:
    """Call ``org.freedesktop.DBus.<method>(arg)`` on the bus at ``address``; the reply's
    first value (e.g. ``NameHasOwner`` → bool)."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                      interface="org.freedesktop.DBus")
    with open_dbus_connection(bus=address) as conn:
        reply = conn.send_and_get_reply(new_method_call(bus, method, "s", (arg,)), timeout=5)
    return reply.body[0]


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop one child by its pid: SIGTERM, then SIGKILL after 5 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@dataclass
class SecretService:
    """A running session: its bus ``address`` and the two daemons."""

    address: str
    bus: subprocess.Popen[bytes]
    keyring: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop both daemons (keyring first)."""
        stop(self.keyring)
        stop(self.bus)


def start(base: Path, env: dict[str, str], unlock_password: str, listen: str,
          detach: bool = False) -> SecretService:
    """Start the bus and the keyring, and wait until the keyring owns its bus name.

    Args:
        base: directory for the bus config and the two daemons' logs.
        env: the environment (see :func:`private_env`); DBUS_SESSION_BUS_ADDRESS is set in
            it once the bus is up.
        unlock_password: the keyring's password (given on stdin, never on a command line).
        listen: the bus's ``<listen>`` address, e.g. ``unix:dir=/tmp/x`` or
            ``unix:path=/run/irtui-lab/notify/bus``.
        detach: start both in their own session (they outlive this process, as the lab's
            do); else they are plain children.

    Returns:
        The running :class:`SecretService`.

    Raises:
        IrtuiError: a tool is missing (naming the Debian package), or a daemon did not come
            up within :data:`START_SECONDS` (with its log).
    """
    missing = missing_tools()
    if missing:
        raise IrtuiError(f"a Secret Service needs {', '.join(missing)}",
                         "install the Debian packages dbus and gnome-keyring")
    conf = base / "session-bus.conf"
    conf.write_text(BUS_CONFIG.format(listen=listen), encoding="utf-8")
    popen: dict[str, Any] = {"env": env, "start_new_session": detach}
    bus: subprocess.Popen[bytes] | None = None
    keyring: subprocess.Popen[bytes] | None = None
    try:
        with (base / "dbus-daemon.log").open("ab") as log:
            bus = subprocess.Popen(
                ["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address=1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, **popen)
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        bus.stdout.close()
        if not address:
            raise IrtuiError(f"dbus-daemon printed no address (see {base / 'dbus-daemon.log'})",
                             "check that dbus is installed and the directory is writable")
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        with (base / "gnome-keyring-daemon.log").open("ab") as log:
            keyring = subprocess.Popen(
                ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                stdin=subprocess.PIPE, stdout=log, stderr=log, **popen)
        assert keyring.stdin is not None
        keyring.stdin.write(unlock_password.encode("utf-8"))  # no trailing newline
        keyring.stdin.close()
        _wait_for_owner(address, keyring, base)
    except BaseException:
        stop(keyring)
        stop(bus)
        raise
    return SecretService(address, bus, keyring)


def _wait_for_owner(address: str, keyring: subprocess.Popen[bytes], base: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        with contextlib.suppress(OSError, ConnectionError):
            if bus_call(address, "NameHasOwner", SECRETS_BUS_NAME):
                break
        if keyring.poll() is not None or time.monotonic() > deadline:
            log = (base / "gnome-keyring-daemon.log").read_text(errors="replace")[-500:]
            raise IrtuiError(f"gnome-keyring-daemon did not come up on the bus (exit "
                             f"{keyring.poll()}): {log.strip()}",
                             "check that gnome-keyring is installed")
        time.sleep(0.02)
    owner = bus_call(address, "GetConnectionUnixProcessID", SECRETS_BUS_NAME)
    if owner != keyring.pid:
        raise IrtuiError(f"{SECRETS_BUS_NAME} is owned by pid {owner}, not by the "
                         f"gnome-keyring-daemon we started (pid {keyring.pid})",
                         "stop the other Secret Service on this bus")
