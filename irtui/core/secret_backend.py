"""Which keyring holds irtui's secrets, and what to tell a responder when there is none.

``[secrets] backend = "auto"`` (the default) uses the OS keyring that ``keyring`` selects — on
Linux the freedesktop Secret Service (gnome-keyring, KeePassXC) over the D-Bus session bus —
or one forced with ``PYTHON_KEYRING_BACKEND`` / ``keyringrc.cfg`` (keyring's own settings).
It never falls back by itself to a file: a headless jump host with no D-Bus session has *no*
keyring, and irtui says so with the two ways out (:data:`HEADLESS_HELP`). A plaintext file
keyring (``keyrings.alt.file.PlaintextKeyring``) is refused even when forced.

``backend = "file"`` is the explicit encrypted-file choice: ``keyrings.cryptfile`` (AES-GCM,
Argon2id key derivation), at ``[secrets] file`` or the platform data dir; its passphrase is
asked once per session (:func:`set_passphrase_prompt` for the CLI's terminal prompt,
:func:`unlock_file` for the TUI's masked input) and kept in memory only.

``[secrets] dbus_address`` points irtui at a Secret Service on another session bus (the
practice lab runs its own); it is applied with :func:`configure` before the first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from irtui.core.errors import SecretError
from irtui.core.settings import SecretsSettings

if TYPE_CHECKING:  # keyring (and secretstorage, jeepney) load at the first secret operation
    from keyring.backend import KeyringBackend

HEADLESS_FIX = (
    "start a Secret Service in a D-Bus session: `dbus-run-session -- $SHELL`, then in it "
    "`read -rs PW; printf %s \"$PW\" | gnome-keyring-daemon --unlock --components=secrets`; "
    "or use an encrypted file: set [secrets] backend = \"file\" in the config "
    "(passphrase asked once per session)"
)
"""The fix, on one line, for "no keyring" errors."""

HEADLESS_HELP = (
    "No OS keyring is reachable (no D-Bus session with a Secret Service: usual on a headless "
    "jump host). irtui never stores secrets in plain text. Choose one:",
    "  1. start a Secret Service for this login session (gnome-keyring; Debian packages dbus "
    "and gnome-keyring):",
    "       dbus-run-session -- $SHELL",
    "       read -rs PW; printf %s \"$PW\" | gnome-keyring-daemon --unlock --components=secrets",
    "     then run irtui from that shell (the keyring file is encrypted with PW);",
    "  2. or keep secrets in an encrypted file (keyrings.cryptfile): add to the config",
    "       [secrets]",
    "       backend = \"file\"",
    "     irtui asks for the file's passphrase once per session.",
)
"""The same, as lines for the TUI's start-up message and ``irtui secrets status``."""

LOCKED_FIX = ("unlock the keyring (log in to the desktop session, or start gnome-keyring-daemon "
              "with --unlock) and retry")
FILE_LOCKED_FIX = ("enter the passphrase of the encrypted keyring file (the TUI asks at "
                   "start-up; the CLI asks in the terminal)")


class KeyringState(Enum):
    """Whether secrets can be read and written right now."""

    READY = "ready"
    NO_BACKEND = "no keyring"
    LOCKED = "locked"
    NEEDS_PASSPHRASE = "needs passphrase"
    REFUSED = "refused"


@dataclass(frozen=True)
class KeyringStatus:
    """The keyring as irtui sees it: ``state``, a description of the backend, and for any
    state but READY the problem and its fix."""

    state: KeyringState
    backend: str
    problem: str = ""
    fix: str = ""

    @property
    def ready(self) -> bool:
        """True when secrets can be used without asking anything."""
        return self.state is KeyringState.READY


_lock = threading.Lock()
_settings = SecretsSettings()
_file_keyring: KeyringBackend | None = None
_prompt: Callable[[str], str] | None = None
_dbus_pending = False
"""secrets.dbus_address is set and its Secret Service not yet selected (see
:func:`_select_dbus_keyring`)."""


def configure(settings: SecretsSettings) -> None:
    """Apply the ``[secrets]`` settings for this process (call once, before any secret is
    used). With ``dbus_address`` the Secret Service on that bus is selected (the variable
    ``DBUS_SESSION_BUS_ADDRESS`` is set for this process, since ``secretstorage`` reads it).

    Raises:
        Nothing: a backend that cannot be reached is reported by :func:`status` and by the
        first secret operation.
    """
    global _settings, _file_keyring, _dbus_pending
    with _lock:
        _settings = settings
        _file_keyring = None
        _dbus_pending = bool(settings.dbus_address)
    if settings.dbus_address:
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = settings.dbus_address


def _select_dbus_keyring() -> None:
    """With ``secrets.dbus_address``, select the Secret Service on that bus, once, at the
    first secret operation rather than in :func:`configure`: importing keyring and probing
    the bus would otherwise cost every CLI verb, most of which read no secret, ~30 ms."""
    global _dbus_pending
    with _lock:
        if not _dbus_pending:
            return
        _dbus_pending = False
        import keyring
        from keyring.backends import SecretService

        try:
            SecretService.Keyring.priority  # noqa: B018  (probes the bus; raises if absent)
        except Exception:  # status() and the first use report it with the fix
            return
        keyring.set_keyring(SecretService.Keyring())


def set_passphrase_prompt(prompt: Callable[[str], str] | None) -> None:
    """How to ask for the encrypted file's passphrase when it is first needed
    (``prompt(question) -> passphrase``; the CLI passes a terminal prompt)."""
    global _prompt
    _prompt = prompt


def _file_path() -> Path:
    if _settings.file:
        return Path(_settings.file).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("irtui")) / "secrets.cfg"


def _file_backend() -> KeyringBackend:
    global _file_keyring
    with _lock:
        if _file_keyring is None:
            try:
                from keyrings.cryptfile.cryptfile import CryptFileKeyring
            except ImportError:
                raise SecretError("[secrets] backend = \"file\" needs keyrings.cryptfile, "
                                  "which is not installed",
                                  "pip install keyrings.cryptfile (irtui depends on it)") from None
            kr = _IrtuiCryptFile.make(CryptFileKeyring)
            kr.file_path = str(_file_path())  # an instance attribute is what cryptfile reads
            _file_keyring = kr
        return _file_keyring


class _IrtuiCryptFile:
    """Argon2id cost for irtui's keyring file: RFC 9106 section 4's second recommended option
    (t=3 passes, m=64 MiB, p=4 lanes), a fifth of keyrings.cryptfile's default time (t=15)
    so reading a secret takes well under a second. The file is irtui's own: it is always read
    with these same parameters."""

    TIME_COST, MEMORY_COST, PARALLELISM = 3, 2**16, 4

    @classmethod
    def make(cls, base: type) -> KeyringBackend:
        kind = type("IrtuiCryptFileKeyring", (base,), {
            "time_cost": cls.TIME_COST, "memory_cost": cls.MEMORY_COST,
            "parallelism": cls.PARALLELISM, "__module__": base.__module__})
        return kind()  # type: ignore[no-any-return]


def unlock_file(passphrase: str) -> None:
    """Unlock (or, the first time, create) the encrypted file keyring with ``passphrase``,
    kept in memory for the rest of the session.

    Raises:
        SecretError: the passphrase is empty or wrong (the file's reference entry does not
            decrypt), or the file cannot be read or written.
    """
    kr = _file_backend()
    path = _file_path()
    if not passphrase.strip():
        raise SecretError("the keyring file passphrase is empty", "type the passphrase")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        kr.keyring_key = passphrase  # type: ignore[attr-defined]  # checks the reference
    except ValueError:
        del kr.keyring_key  # type: ignore[attr-defined]
        raise SecretError(f"wrong passphrase for the encrypted keyring file {path}",
                          "type the passphrase this file was created with") from None
    except OSError as exc:
        raise SecretError(f"cannot use the encrypted keyring file {path} "
                          f"({exc.strerror or exc})", "set [secrets] file to a writable "
                          "path") from None


def _file_unlocked(kr: KeyringBackend) -> bool:
    return getattr(kr, "_keyring_key", None) is not None


def _explicit_choice() -> bool:
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    from keyring.util import platform_

    return (Path(platform_.config_root()) / "keyringrc.cfg").is_file()


def _is_file_backend(kr: KeyringBackend) -> bool:
    return type(kr).__module__.startswith(("keyrings.cryptfile", "keyrings.alt"))


def _is_plaintext(kr: KeyringBackend) -> bool:
    return "plaintext" in type(kr).__name__.lower()


def describe(kr: KeyringBackend) -> str:
    """``module.Class`` of a backend (what ``irtui secrets status`` shows)."""
    return f"{type(kr).__module__}.{type(kr).__qualname__}"


def _auto_backend() -> KeyringBackend | None:
    """The OS keyring, or None when there is none. A chainer is reduced to its best
    non-file backend: keyring would otherwise fall through to a file keyring that prompts
    on the terminal (cryptfile's getpass) in the middle of the TUI."""
    import keyring
    from keyring.backends import chainer, fail

    _select_dbus_keyring()
    kr = keyring.get_keyring()
    if isinstance(kr, chainer.ChainerBackend):
        usable = [b for b in kr.backends if not _is_file_backend(b)]
        kr = usable[0] if usable else fail.Keyring()
    if isinstance(kr, fail.Keyring):
        return None
    if _is_file_backend(kr) and not _explicit_choice() and not _is_plaintext(kr):
        return None
    return kr


def active(action: str, name: str) -> KeyringBackend:
    """The backend to use for one secret operation.

    Args:
        action: ``read``/``store``/``delete``/``list``, for the message.
        name: the secret's name, for the message.

    Raises:
        SecretError: no keyring (fix: :data:`HEADLESS_FIX`), a plaintext keyring (refused),
            the encrypted file still locked and nobody to ask, or the forced backend cannot
            be loaded.
    """
    from irtui.core.secrets import SERVICE

    where = f"secret {name!r} (service {SERVICE})" if name else f"secrets (service {SERVICE})"
    if _settings.backend == "file":
        kr = _file_backend()
        if not _file_unlocked(kr):
            if _prompt is None:
                raise SecretError(f"the encrypted keyring file {_file_path()} is locked; "
                                  f"cannot {action} {where}", FILE_LOCKED_FIX)
            unlock_file(_prompt(f"passphrase for the irtui keyring file {_file_path()}: "))
        return kr
    try:
        kr = _auto_backend()
    except Exception as exc:  # loading a forced backend probes it and may raise anything
        forced = os.environ.get("PYTHON_KEYRING_BACKEND")
        what = f"PYTHON_KEYRING_BACKEND={forced}" if forced else "the detected keyring backend"
        raise SecretError(f"cannot {action} {where}: {what} cannot be used: "
                          f"{exc or type(exc).__name__}", HEADLESS_FIX) from None
    if kr is None and _settings.dbus_address:
        raise SecretError(f"no Secret Service answers on secrets.dbus_address "
                          f"({_settings.dbus_address.split(',')[0]}) to {action} {where}",
                          "start it (the practice lab's: irtui lab up), or remove "
                          "secrets.dbus_address from the config to use your session's keyring")
    if kr is None:
        raise SecretError(f"no OS keyring is available to {action} {where}", HEADLESS_FIX)
    if _is_plaintext(kr):
        raise SecretError(f"the keyring backend {describe(kr)} stores secrets in plain text; "
                          f"irtui refuses to {action} {where} there",
                          "unset PYTHON_KEYRING_BACKEND (or keyringrc.cfg) and use the Secret "
                          "Service, or [secrets] backend = \"file\" (encrypted)")
    return kr


def status() -> KeyringStatus:
    """Probe the keyring without reading any secret (one lookup of an unused name).

    Returns:
        A :class:`KeyringStatus`; never raises (every failure is a state with its fix).
    """
    if _settings.backend == "file":
        try:
            kr = _file_backend()
        except SecretError as exc:
            return KeyringStatus(KeyringState.NO_BACKEND, "keyrings.cryptfile", exc.problem,
                                 exc.fix)
        where = f"encrypted file {_file_path()} (keyrings.cryptfile)"
        if not _file_unlocked(kr):
            return KeyringStatus(KeyringState.NEEDS_PASSPHRASE, where,
                                 f"the encrypted keyring file {_file_path()} needs its "
                                 "passphrase", FILE_LOCKED_FIX)
        return KeyringStatus(KeyringState.READY, where)
    import keyring.errors

    try:
        kr = active("use", "")
        kr.get_password("irtui", ".probe")
    except SecretError as exc:
        state = (KeyringState.REFUSED if "plain text" in exc.problem
                 else KeyringState.NO_BACKEND)
        return KeyringStatus(state, "none", exc.problem, exc.fix)
    except keyring.errors.KeyringLocked:
        return KeyringStatus(KeyringState.LOCKED, describe(kr), "the OS keyring is locked",
                             LOCKED_FIX)
    except Exception as exc:  # a D-Bus session that went away, a daemon that died
        return KeyringStatus(KeyringState.NO_BACKEND, describe(kr),
                             f"the OS keyring does not answer ({type(exc).__name__})",
                             HEADLESS_FIX)
    return KeyringStatus(KeyringState.READY, describe(kr))
