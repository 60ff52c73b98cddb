"""Secrets (such as the SMTP password) kept in the OS keyring, never in the config file.

The ``keyring`` library picks the platform's keyring; on Linux that is the freedesktop.org
Secret Service (gnome-keyring, KeePassXC, ...) reached over the D-Bus session bus through
``secretstorage``. Every secret is stored under the service name :data:`SERVICE` with the
secret's name as the keyring "username" (for example service ``irtui``, name ``smtp``).

Which keyring is used (the OS keyring, an explicit encrypted file, a lab's own Secret Service)
and what to say when there is none is :mod:`irtui.core.secret_backend`'s job.

A keyring cannot list what it holds, so the names (never the values) are kept in an index
entry of the same keyring (:data:`INDEX_NAME`), for ``irtui secrets list``.

Every failure is raised as one :class:`~irtui.core.errors.SecretError` whose message names
the secret and the fix. Secret values never appear in any message or log record.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from irtui.core import secret_backend
from irtui.core.errors import SecretError
from irtui.core.secret_backend import KeyringState

try:  # Linux only; other platforms use other backends.
    from secretstorage.exceptions import SecretStorageException
except ImportError:  # pragma: no cover - depends on the platform
    class SecretStorageException(Exception):  # type: ignore[no-redef]
        """Placeholder so the ``except`` clauses below stay valid without secretstorage."""

SERVICE = "irtui"
"""Keyring service name under which all irtui secrets are stored."""

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")
_keyring_calls = threading.RLock()
"""One keyring conversation at a time in this process: notifications send to every channel
at once, each reading its secret in its own thread, and concurrent Secret Service sessions
from one process have answered "Item does not exist!" for a stored item."""


def _serialised(call: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(call)
    def one_at_a_time(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _keyring_calls:
            return call(*args, **kwargs)
    return one_at_a_time


def backend_name() -> str:
    """Describe the keyring irtui uses, for ``irtui secrets status``.

    Returns:
        ``"keyring.backends.SecretService.Keyring (ready)"``, ``"encrypted file PATH
        (keyrings.cryptfile) (needs passphrase)"``, or for no usable keyring ``"none (no
        usable keyring backend: <problem> — <fix>)"``.

    Raises:
        Nothing; it only probes (see :func:`irtui.core.secret_backend.status`).
    """
    st = secret_backend.status()
    if st.state in (KeyringState.NO_BACKEND, KeyringState.REFUSED):
        return f"none (no usable keyring backend: {st.problem} — {st.fix})"
    return f"{st.backend} ({st.state.value})"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SecretError("secret name is empty", "give a secret name such as smtp")
    if name.startswith("."):
        raise SecretError(f"secret name {name!r} starts with '.', which irtui keeps for "
                          "itself", "use a plain name such as smtp")
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
        return SecretError(f"no OS keyring is available to {action} {where}",
                           secret_backend.HEADLESS_FIX)
    if isinstance(exc, keyring.errors.KeyringLocked):
        return SecretError(f"the OS keyring is locked; cannot {action} {where}",
                           secret_backend.LOCKED_FIX)
    detail = _scrub(str(exc), value) or type(exc).__name__
    if isinstance(exc, SecretStorageException | OSError):
        # The Secret Service or the D-Bus session went away (or was never there) after the
        # backend was chosen, e.g. PYTHON_KEYRING_BACKEND forces SecretService without a bus.
        return SecretError(
            f"cannot reach the Secret Service to {action} {where}: {detail}",
            secret_backend.HEADLESS_FIX)
    return SecretError(
        f"OS keyring error while trying to {action} {where}: {detail}",
        "check that the keyring daemon is running and unlocked, then retry",
    )


_KEYRING_FAILURES = (keyring.errors.KeyringError, SecretStorageException, OSError, ValueError)
"""What the keyring stack raises (ValueError: an encrypted file that does not decrypt)."""

class MissingSecretError(SecretError):
    """The keyring works but holds no secret of that name (``name`` says which)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"secret {name!r} is not in the OS keyring (service {SERVICE})",
                         f"run: irtui secrets set {name}")


INDEX_NAME = ".index"
"""The keyring entry holding the JSON list of secret names (not values)."""


def _update_index(action: str, name: str, add: bool) -> None:
    """Add ``name`` to (or remove it from) the index of names."""
    kr = secret_backend.active(action, name)
    try:
        names = set(_read_index(kr))
        if (name in names) == add:
            return
        names = names | {name} if add else names - {name}
        kr.set_password(SERVICE, INDEX_NAME, json.dumps(sorted(names)))
    except _KEYRING_FAILURES as exc:
        raise _keyring_failure(exc, action, name) from None


def _read_index(kr: KeyringBackend) -> list[str]:
    raw = kr.get_password(SERVICE, INDEX_NAME)
    try:
        names = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


@_serialised
def list_secrets() -> list[str]:
    """The names of the secrets irtui stored (``irtui secrets set``), sorted; never values.

    A secret stored by another tool (or by irtui before the index existed) is not listed;
    ``irtui secrets list`` also checks every name the config refers to.

    Raises:
        SecretError: no keyring, locked, or any other keyring failure.
    """
    kr = secret_backend.active("list", "*")
    try:
        return sorted(_read_index(kr))
    except _KEYRING_FAILURES as exc:
        raise _keyring_failure(exc, "list", "*") from None


def has_secret(name: str) -> bool:
    """True when ``name`` is stored (the value is read and dropped, never returned).

    Raises:
        SecretError: as :func:`get_secret`, except a missing secret, which is False.
    """
    try:
        get_secret(name)
    except MissingSecretError:
        return False
    return True


@_serialised
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
        value = secret_backend.active("read", name).get_password(SERVICE, name)
    except _KEYRING_FAILURES as exc:
        raise _keyring_failure(exc, "read", name) from None
    if value is None:
        raise MissingSecretError(name)
    log.debug("read secret %r from the OS keyring", name)
    return value


@_serialised
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
        secret_backend.active("store", name).set_password(SERVICE, name, value)
    except _KEYRING_FAILURES as exc:
        raise _keyring_failure(exc, "store", name, value) from None
    _update_index("store", name, add=True)
    log.debug("stored secret %r in the OS keyring", name)


@_serialised
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
        secret_backend.active("delete", name).delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        _update_index("delete", name, add=False)
        return False
    except _KEYRING_FAILURES as exc:
        raise _keyring_failure(exc, "delete", name) from None
    _update_index("delete", name, add=False)
    log.debug("deleted secret %r from the OS keyring", name)
    return True
