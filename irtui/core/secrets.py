"""Secrets (such as the SMTP password) kept in the OS keyring, never in the config file.

The ``keyring`` library picks the platform's keyring; on Linux that is the freedesktop.org
Secret Service (gnome-keyring, KeePassXC, ...) reached over the D-Bus session bus through
``secretstorage``. Every secret is stored under the service name :data:`SERVICE` with the
secret's name as the keyring "username" (for example service ``irtui``, name ``smtp``).

Every failure is raised as one :class:`~irtui.core.errors.SecretError` whose message names
the secret and the fix. Secret values never appear in any message or log record.
"""

from __future__ import annotations

import logging
import os

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail

from irtui.core.errors import SecretError

try:  # Linux only; other platforms use other backends.
    from secretstorage.exceptions import SecretStorageException
except ImportError:  # pragma: no cover - depends on the platform
    class SecretStorageException(Exception):  # type: ignore[no-redef]
        """Placeholder so the ``except`` clauses below stay valid without secretstorage."""

SERVICE = "irtui"
"""Keyring service name under which all irtui secrets are stored."""

log = logging.getLogger(__name__)

_NO_BACKEND_FIX = (
    "run a Secret Service such as gnome-keyring in a D-Bus session (DBUS_SESSION_BUS_ADDRESS "
    "set, e.g. via your desktop login or dbus-run-session + gnome-keyring-daemon --unlock "
    "--components=secrets), or set PYTHON_KEYRING_BACKEND to a working keyring backend"
)
_LOCKED_FIX = (
    "unlock the keyring (log in to the desktop session, or start gnome-keyring-daemon with "
    "--unlock) and retry"
)


def backend_name() -> str:
    """Describe the active keyring backend, for ``irtui secrets status``.

    Returns:
        A one-line description such as ``"keyring.backends.SecretService.Keyring (priority
        5)"``; the fail backend is described as having no usable keyring, a chainer lists the
        backends it chains, and a backend that cannot even be loaded (e.g.
        ``PYTHON_KEYRING_BACKEND`` names one whose service is down) is described with why.

    Raises:
        Nothing; it only inspects which backend ``keyring`` selects.
    """
    try:
        kr = keyring.get_keyring()
    except Exception as exc:  # loading a forced backend probes it and may raise anything
        return f"unavailable ({_load_problem(exc)})"
    cls = type(kr)
    text = f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(kr, fail.Keyring):
        return f"{text} (no usable keyring backend: {_NO_BACKEND_FIX})"
    if isinstance(kr, chainer.ChainerBackend):
        inner = ", ".join(f"{type(b).__module__}.{type(b).__qualname__}" for b in kr.backends)
        return f"{text} (chaining: {inner})"
    try:
        return f"{text} (priority {cls.priority:g})"
    except Exception:  # a backend's priority probe can itself fail; the name is enough
        return text


def _load_problem(exc: BaseException) -> str:
    forced = os.environ.get("PYTHON_KEYRING_BACKEND")
    what = f"PYTHON_KEYRING_BACKEND={forced}" if forced else "the detected keyring backend"
    return f"{what} cannot be used: {exc or type(exc).__name__}"


def _backend(action: str, name: str) -> KeyringBackend:
    """The active backend. ``keyring.get_keyring()`` loads it on first use, and loading a
    backend forced by ``PYTHON_KEYRING_BACKEND`` probes it: with no D-Bus session that raises
    RuntimeError (SecretService) or OSError (jeepney, dead bus socket) — not KeyringError."""
    try:
        return keyring.get_keyring()
    except Exception as exc:
        raise SecretError(
            f"cannot {action} secret {name!r} (service {SERVICE}): {_load_problem(exc)}",
            _NO_BACKEND_FIX,
        ) from None


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SecretError("secret name is empty", "give a secret name such as smtp")
    if any(ch in name for ch in "\r\n\0"):
        raise SecretError(
            f"secret name {name!r} contains a line break or NUL",
            "use a plain name such as smtp",
        )
    return name


def _scrub(text: str, value: str | None) -> str:
    """Remove ``value`` from ``text`` (belt and braces: backends never echo secrets)."""
    return text.replace(value, "***") if value else text


def _keyring_failure(
    exc: BaseException, action: str, name: str, value: str | None = None
) -> SecretError:
    """Map an exception raised by the keyring stack to a :class:`SecretError`."""
    where = f"secret {name!r} (service {SERVICE})"
    if isinstance(exc, keyring.errors.NoKeyringError):
        return SecretError(f"no OS keyring is available to {action} {where}", _NO_BACKEND_FIX)
    if isinstance(exc, keyring.errors.KeyringLocked):
        return SecretError(f"the OS keyring is locked; cannot {action} {where}", _LOCKED_FIX)
    detail = _scrub(str(exc), value) or type(exc).__name__
    if isinstance(exc, SecretStorageException | OSError):
        # The Secret Service or the D-Bus session went away (or was never there) after the
        # backend was chosen, e.g. PYTHON_KEYRING_BACKEND forces SecretService without a bus.
        return SecretError(
            f"cannot reach the Secret Service to {action} {where}: {detail}", _NO_BACKEND_FIX
        )
    return SecretError(
        f"OS keyring error while trying to {action} {where} ({backend_name()}): {detail}",
        "check that the keyring daemon is running and unlocked, then retry",
    )


_KEYRING_FAILURES = (keyring.errors.KeyringError, SecretStorageException, OSError)


def get_secret(name: str) -> str:
    """Read a secret from the OS keyring.

    Args:
        name: the secret's name, e.g. ``"smtp"`` (``notify.email.password_secret``).

    Returns:
        The stored value.

    Raises:
        SecretError: the name is empty; the secret is not stored (fix: ``irtui secrets set
            NAME``); no keyring backend exists (``keyring.errors.NoKeyringError``); the keyring
            is locked (``KeyringLocked``); or any other keyring / D-Bus failure.
    """
    _check_name(name)
    try:
        value = _backend("read", name).get_password(SERVICE, name)
    except _KEYRING_FAILURES as exc:
        raise _keyring_failure(exc, "read", name) from None
    if value is None:
        raise SecretError(
            f"secret {name!r} is not in the OS keyring (service {SERVICE})",
            f"run: irtui secrets set {name}",
        )
    log.debug("read secret %r from the OS keyring", name)
    return value


def set_secret(name: str, value: str) -> None:
    """Store (or replace) a secret in the OS keyring.

    Args:
        name: the secret's name, e.g. ``"smtp"``.
        value: the secret; must be a non-empty string. It never appears in messages or logs.

    Raises:
        SecretError: empty name or value, no keyring backend, keyring locked, or any other
            keyring / D-Bus failure.
    """
    _check_name(name)
    if not isinstance(value, str) or value == "":
        raise SecretError(
            f"refusing to store an empty value for secret {name!r}", "give a non-empty value"
        )
    try:
        _backend("store", name).set_password(SERVICE, name, value)
    except _KEYRING_FAILURES as exc:
        raise _keyring_failure(exc, "store", name, value) from None
    log.debug("stored secret %r in the OS keyring", name)


def delete_secret(name: str) -> bool:
    """Delete a secret from the OS keyring.

    Args:
        name: the secret's name, e.g. ``"smtp"``.

    Returns:
        True if a stored secret was deleted, False if there was none.

    Raises:
        SecretError: empty name, no keyring backend, keyring locked, or any other keyring /
            D-Bus failure.
    """
    _check_name(name)
    try:
        _backend("delete", name).delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        return False
    except _KEYRING_FAILURES as exc:
        raise _keyring_failure(exc, "delete", name) from None
    log.debug("deleted secret %r from the OS keyring", name)
    return True
