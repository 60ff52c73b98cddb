"""The private key an SSH connection authenticates with: loaded and checked once per pool.

Opening 50 connections used to read, decrypt and check the key file 50 times (and ask the
keyring for its passphrase 50 times over D-Bus). :class:`KeyCache` loads each key file once
and hands the same :class:`paramiko.PKey` to every connection; it loads again only when the
file changes (another inode, size, modification or change time, or mode), so a key that was
replaced, or made readable by others, is seen by the next connection of a long TUI session.
A load that fails is never cached: every connection gets the same clear error until the file
is fixed.

Rules followed:
- A private key file that group or others can access is refused, as OpenSSH refuses it
  (ssh(1), "UNPROTECTED PRIVATE KEY FILE"; ``sshkey_perm_ok``).
- A passphrase-protected key is opened with the passphrase from the keyring entry named by
  ``ssh.key_passphrase_secret`` (read when the key is loaded, never written anywhere).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import paramiko

from irtui.core.errors import SSHError

Stamp = tuple[int, int, int, int, int, int]
"""``(device, inode, size, mtime ns, ctime ns, mode)`` of a file (:func:`os.stat`): a chmod
changes the ctime and the mode, a rewrite the mtime or inode."""


def expand_path(text: str, key: str) -> Path:
    """``text`` with ``~`` expanded.

    Raises:
        SSHError: a home that cannot be found (a UID with no passwd entry and no ``$HOME``),
            naming the config ``key``.
    """
    try:
        return Path(text).expanduser()
    except RuntimeError:
        raise SSHError(f"{key} {text!r} starts with ~ but this user has no home directory",
                       f"give {key} as an absolute path") from None


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


def load_private_key(key_file: str, passphrase_secret: str) -> paramiko.PKey:
    """Load the private key ``key_file`` (``~`` expanded) before connecting, so a wrong file
    is named as such.

    Args:
        key_file: the path as configured (``ssh.key_file`` or a host's ``IdentityFile``).
        passphrase_secret: the keyring entry holding its passphrase ("" when it has none).

    Raises:
        SSHError: missing, accessible by group or others, not a private key,
            passphrase-protected without a passphrase secret, or the stored passphrase
            does not open it. The fix names ``ssh.key_file``.
        SecretError: the passphrase secret is missing or the keyring is unavailable.
    """
    path = expand_path(key_file, "ssh.key_file")
    agent_fix = "or leave ssh.key_file empty to use ssh-agent"
    if not path.is_file():
        raise SSHError(f"SSH key file {path} not found",
                       f"set ssh.key_file to your private key, {agent_fix}")
    passphrase = None
    if passphrase_secret:
        from irtui.core.secrets import get_secret

        passphrase = get_secret(passphrase_secret)
    try:
        key = paramiko.PKey.from_path(
            path, password=passphrase.encode() if passphrase is not None else None)
    except (paramiko.PasswordRequiredException, TypeError) as exc:
        # cryptography raises TypeError("...password-protected...") for encrypted keys
        if isinstance(exc, TypeError) and "password" not in str(exc).lower():
            raise
        raise SSHError(f"SSH key file {path} is protected by a passphrase",
                       f"store it with irtui secrets set ssh-key and set "
                       f"ssh.key_passphrase_secret = \"ssh-key\", or load the key into "
                       f"ssh-agent (ssh-add {path}) and leave ssh.key_file empty") from None
    except (paramiko.SSHException, OSError, ValueError):
        if passphrase is not None:
            raise SSHError(f"the passphrase in keyring secret {passphrase_secret!r} does not "
                           f"open the SSH key file {path}",
                           f"store the right one with: irtui secrets set {passphrase_secret}"
                           ) from None
        hint = " (that is the public key)" if path.suffix == ".pub" else ""
        raise SSHError(f"SSH key file {path} is not a usable private key{hint}",
                       f"point ssh.key_file at the private key, {agent_fix}") from None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # ssh(1) refuses such a key (sshkey_perm_ok: "UNPROTECTED PRIVATE KEY FILE");
        # irtui also refuses it when another user owns it
        raise SSHError(f"SSH key file {path} is accessible by group or others (mode "
                       f"{mode:04o}): UNPROTECTED PRIVATE KEY FILE, refused as OpenSSH "
                       "refuses it", f"chmod 600 {path}")
    return key


class KeyCache:
    """Private keys, each loaded by :func:`load_private_key` once until its file changes
    (thread-safe: concurrent first users of one key wait for a single load)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str], tuple[Stamp, paramiko.PKey]] = {}
        self.loads = 0
        """How many times a key file was actually loaded (for tests and benchmarks)."""

    def get(self, key_file: str, passphrase_secret: str) -> paramiko.PKey:
        """The key of ``key_file`` (see :func:`load_private_key` for the arguments).

        Raises:
            SSHError, SecretError: as :func:`load_private_key`, on every call until the
                file is fixed.
        """
        with self._lock:
            now = _stamp(expand_path(key_file, "ssh.key_file"))
            cached = self._keys.get((key_file, passphrase_secret))
            if cached is not None and now is not None and cached[0] == now:
                return cached[1]
            key = load_private_key(key_file, passphrase_secret)
            self.loads += 1
            after = _stamp(expand_path(key_file, "ssh.key_file"))
            if after is not None and after == now:  # not changed while it was read
                self._keys[(key_file, passphrase_secret)] = (after, key)
            return key
