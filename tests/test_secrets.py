"""irtui.core.secrets against a real Secret Service (gnome-keyring on a private D-Bus) and
against a real absence of one — no mocks."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
import secretstorage

from irtui.core.errors import SecretError
from irtui.core.secrets import SERVICE, backend_name, delete_secret, get_secret, set_secret
from tests import service_fixtures

# The real Secret Service (works with or without a conftest that also provides it).
keyring_session = service_fixtures.keyring_session

REPO = Path(__file__).resolve().parents[1]

# Runs in a subprocess: try each operation, print what happened as JSON.
PROBE = r"""
import json, sys
from irtui.core.errors import SecretError
from irtui.core import secrets as s
out = {"backend": s.backend_name()}
for op, args in (("get", ("smtp",)), ("set", ("smtp", sys.argv[1])), ("delete", ("smtp",))):
    fn = {"get": s.get_secret, "set": s.set_secret, "delete": s.delete_secret}[op]
    try:
        out[op] = {"ok": fn(*args)}
    except SecretError as exc:
        out[op] = {"problem": exc.problem, "fix": exc.fix, "line": str(exc)}
print(json.dumps(out))
"""


def _probe(env: dict[str, str], value: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, value], env=env, cwd=REPO, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """os.environ without any D-Bus session or keyring override, with a private HOME."""
    env = {
        k: v for k, v in os.environ.items()
        if k not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")
        and not k.startswith("XDG_")
    }
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), **extra)
    return env


def test_round_trip_through_the_secret_service(keyring_session: dict[str, str]):
    assert backend_name().startswith("keyring.backends.SecretService.Keyring")
    value = "pässwörd-" + secrets.token_urlsafe(16)
    set_secret("smtp", value)
    assert get_secret("smtp") == value
    # It really is in the Secret Service, under service "irtui" and the secret's name.
    with secretstorage.dbus_init() as conn:
        items = list(secretstorage.get_default_collection(conn).search_items(
            {"service": "irtui", "username": "smtp"}))
        assert [i.get_secret().decode() for i in items] == [value]
    set_secret("smtp", value + "-2")  # replaces, does not add a second item
    assert get_secret("smtp") == value + "-2"
    assert delete_secret("smtp") is True
    assert delete_secret("smtp") is False
    with pytest.raises(SecretError):
        get_secret("smtp")


def test_missing_secret_names_the_secret_and_the_fix(keyring_session: dict[str, str]):
    with pytest.raises(SecretError) as info:
        get_secret("smtp")
    assert info.value.problem == "secret 'smtp' is not in the OS keyring (service irtui)"
    assert info.value.fix == "run: irtui secrets set smtp"


def test_subprocess_uses_the_same_keyring(keyring_session: dict[str, str], tmp_path: Path):
    """The yielded env lets a subprocess find the session, and keyring detects it by itself."""
    set_secret("smtp", "from-the-parent")
    out = _probe(keyring_session, "from-the-child")
    assert out["backend"].startswith("keyring.backends.SecretService.Keyring")
    assert out["get"] == {"ok": "from-the-parent"}
    assert out["set"] == {"ok": None}
    assert out["delete"] == {"ok": True}
    assert delete_secret("smtp") is False  # the child deleted it


def test_locked_keyring_gives_secret_error(keyring_session: dict[str, str]):
    set_secret("smtp", "s3-" + secrets.token_urlsafe(8))
    with secretstorage.dbus_init() as conn:
        collection = secretstorage.get_default_collection(conn)
        collection.lock()
        assert collection.is_locked()
    # Unlocking needs a prompt; the private bus has no prompter, so it really fails.
    with pytest.raises(SecretError) as info:
        get_secret("smtp")
    assert "locked" in info.value.problem and "'smtp'" in info.value.problem
    assert "unlock" in info.value.fix


@pytest.mark.parametrize(
    ("case", "extra"),
    [
        # Nothing at all: keyring's detection finds no backend and picks fail.Keyring.
        ("no-session", {}),
        # The explicit variant of the same situation.
        ("fail-backend", {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}),
    ],
    ids=["no-session", "fail-backend"],
)
def test_no_keyring_backend_gives_secret_error_with_fix(
    case: str, extra: dict[str, str], tmp_path: Path
):
    value = "never-shown-" + secrets.token_urlsafe(8)
    out = _probe(_clean_env(tmp_path, **extra), value)
    assert out["backend"].startswith("none (no usable keyring backend: no OS keyring is "
                                     "available to use secrets (service irtui)")
    for op in ("get", "set", "delete"):
        assert "no OS keyring is available" in out[op]["problem"], out
        assert "'smtp'" in out[op]["problem"]
        assert "Secret Service" in out[op]["fix"] and "gnome-keyring" in out[op]["fix"]
        assert "D-Bus session" in out[op]["fix"]
        assert value not in out[op]["line"]


@pytest.mark.parametrize("bus", ["unset", "dead-socket"])
def test_secret_service_forced_but_no_bus_gives_secret_error(bus: str, tmp_path: Path):
    """PYTHON_KEYRING_BACKEND forces SecretService but there is no bus (unset, or an address
    where nothing listens). keyring then raises RuntimeError / OSError, not KeyringError."""
    extra = {"PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    if bus == "dead-socket":
        extra["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus-here'}"
    value = "never-shown-" + secrets.token_urlsafe(8)
    out = _probe(_clean_env(tmp_path, **extra), value)
    assert out["backend"].startswith("none (no usable keyring backend: cannot use secrets "
                                     "(service irtui): PYTHON_KEYRING_BACKEND=keyring.backends.")
    for op in ("get", "set", "delete"):
        problem = out[op]["problem"]
        assert "secret 'smtp'" in problem, out
        assert "PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring cannot be used" in (
            problem
        )
        assert "gnome-keyring" in out[op]["fix"]
        assert value not in out[op]["line"]


def test_fail_backend_in_process(monkeypatch: pytest.MonkeyPatch):
    import keyring.core
    from keyring.backends import fail

    monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.core._keyring_backend)
    keyring.set_keyring(fail.Keyring())
    value = "never-shown-" + secrets.token_urlsafe(8)
    with pytest.raises(SecretError) as info:
        set_secret("smtp", value)
    assert value not in str(info.value)
    assert "no usable keyring backend" in backend_name()


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_rejected(name: str):
    with pytest.raises(SecretError, match="secret name is empty"):
        get_secret(name)
    with pytest.raises(SecretError, match="secret name is empty"):
        set_secret(name, "x")
    with pytest.raises(SecretError, match="secret name is empty"):
        delete_secret(name)


def test_empty_value_rejected(keyring_session: dict[str, str]):
    with pytest.raises(SecretError, match="empty value for secret 'smtp'"):
        set_secret("smtp", "")
    assert keyring.get_password(SERVICE, "smtp") is None  # nothing was stored
