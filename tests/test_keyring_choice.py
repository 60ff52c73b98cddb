"""Which keyring holds the secrets, listing names (never values), the encrypted-file choice and
what a headless host is told — against a real Secret Service and a real absence of one."""

from __future__ import annotations

import secrets as pysecrets
import subprocess
import sys
import time
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from irtui.core import secret_backend
from irtui.core.config import write_toml_atomic
from irtui.core.errors import SecretError
from irtui.core.secret_backend import HEADLESS_HELP, KeyringState
from irtui.core.secrets import delete_secret, get_secret, list_secrets, set_secret
from irtui.core.settings import ChannelSettings, Config, NotifySettings, SecretsSettings
from irtui.tui.app import IrtuiApp
from tests.lab_fixtures import protected_key_copy
from tests.test_secrets import _clean_env
from tests.tui_helpers import log_text, settle

REPO = Path(__file__).resolve().parents[1]


def _irtui(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "irtui", *args], input=stdin, env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def test_list_shows_names_never_values(keyring_session: dict[str, str]) -> None:
    values = {name: "v-" + pysecrets.token_urlsafe(12) for name in ("smtp", "apprise-soc")}
    for name, value in values.items():
        set_secret(name, value)
    assert list_secrets() == ["apprise-soc", "smtp"]
    assert delete_secret("smtp") is True
    assert list_secrets() == ["apprise-soc"]
    assert get_secret("apprise-soc") == values["apprise-soc"]
    with pytest.raises(SecretError, match=r"starts with '\.'"):
        set_secret(".index", "x")


def test_cli_list_marks_what_the_config_needs(keyring_session: dict[str, str],
                                              tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    write_toml_atomic(cfg, {"notify": {
        "email": {"host": "127.0.0.1", "sender": "irtui@example.org", "username": "u"},
        "channels": {"soc": "keyring:apprise-soc"}}})
    value = "json://127.0.0.1:9/hooks/" + pysecrets.token_urlsafe(16)
    stored = _irtui(keyring_session, "--config", str(cfg), "secrets", "set", "apprise-soc",
                    "--stdin", stdin=value + "\n")
    assert stored.returncode == 0, stored.stderr
    out = _irtui(keyring_session, "--config", str(cfg), "secrets", "list")
    assert out.returncode == 4  # smtp is needed and missing
    lines = out.stdout.splitlines()
    assert any(line.startswith("apprise-soc") and "stored" in line for line in lines)
    assert any(line.startswith("smtp") and "MISSING" in line for line in lines)
    assert value not in out.stdout + out.stderr + stored.stdout + stored.stderr


def test_headless_host_is_told_both_ways_out(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    status = _irtui(env, "secrets", "status")
    assert status.returncode == 4
    assert "\n".join(HEADLESS_HELP) in status.stdout
    assert "dbus-run-session" in status.stdout and "gnome-keyring-daemon --unlock" in status.stdout
    assert 'backend = "file"' in status.stdout
    stored = _irtui(env, "secrets", "set", "smtp", "--stdin", stdin="never-stored\n")
    assert stored.returncode == 4
    assert "no OS keyring is available" in stored.stderr
    assert "dbus-run-session" in stored.stderr and "never-stored" not in stored.stderr


async def test_tui_says_so_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_keyring(fail.Keyring())
    notify = NotifySettings(channels=(ChannelSettings("soc", "apprise-soc"),))
    app = IrtuiApp(Config(audit_dir=str(tmp_path / "audit"), notify=notify))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        text = log_text(app)
        assert HEADLESS_HELP[0] in text
        assert "dbus-run-session -- $SHELL" in text and 'backend = "file"' in text
        assert any(HEADLESS_HELP[0] == n.message for n in app._notifications)


def test_encrypted_file_backend_asks_once_and_never_stores_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "secrets.cfg"
    secret_backend.configure(SecretsSettings(backend="file", file=str(path)))
    assert secret_backend.status().state is KeyringState.NEEDS_PASSPHRASE
    with pytest.raises(SecretError, match="is locked") as info:
        set_secret("smtp", "x")
    assert "passphrase" in info.value.fix
    value = "pw-" + pysecrets.token_urlsafe(16)
    started = time.monotonic()
    secret_backend.unlock_file("correct horse")
    set_secret("smtp", value)
    assert get_secret("smtp") == value
    assert time.monotonic() - started < 30
    assert secret_backend.status().state is KeyringState.READY
    assert value not in path.read_text() and "correct horse" not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0
    # a new session: locked again; a wrong passphrase is refused, the right one works
    secret_backend.configure(SecretsSettings(backend="file", file=str(path)))
    with pytest.raises(SecretError, match="wrong passphrase"):
        secret_backend.unlock_file("wrong horse")
    asked: list[str] = []
    secret_backend.set_passphrase_prompt(lambda q: asked.append(q) or "correct horse")
    assert get_secret("smtp") == value
    assert get_secret("smtp") == value
    assert len(asked) == 1  # once per session


async def test_tui_is_quiet_about_the_keyring_when_no_secret_is_needed(tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    app = IrtuiApp(Config(audit_dir=str(tmp_path / "audit")))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert HEADLESS_HELP[0] not in log_text(app)
        assert not [n for n in app._notifications if n.severity == "error"]


@pytest.mark.lab
def test_ssh_key_passphrase_comes_from_the_keyring(lab_config: Config, tmp_path: Path,
                                                   keyring_session: dict[str, str]) -> None:
    from dataclasses import replace

    from irtui.core.errors import SSHError
    from irtui.core.ssh import SSHPool

    key, passphrase = protected_key_copy(lab_config.ssh.key_file, tmp_path)
    settings = replace(lab_config.ssh, key_file=str(key), key_passphrase_secret="ssh-key")
    set_secret("ssh-key", passphrase)
    pool = SSHPool(settings)
    try:
        assert pool.run(lab_config.hosts[0], "echo ok", capture=True).stdout.strip() == "ok"
    finally:
        pool.close()
    set_secret("ssh-key", passphrase + "x")
    with pytest.raises(SSHError, match="the passphrase in keyring secret 'ssh-key' does not "
                                       "open the SSH key file"):
        SSHPool(settings).run(lab_config.hosts[0], "true")


def test_a_binary_secret_on_stdin_is_named_not_blamed_on_the_keyring(
        keyring_session: dict[str, str]) -> None:
    """Bytes that are not UTF-8 (a binary key piped by mistake): the input is named, with
    the byte, and nothing is stored; the keyring is not said to be down."""
    out = subprocess.run([sys.executable, "-m", "irtui", "secrets", "set", "smtp", "--stdin"],
                         input=b"pass\xd0\x00word\n", env=keyring_session, cwd=REPO,
                         capture_output=True, timeout=60, check=False)
    err = out.stderr.decode()
    assert out.returncode == 2, err
    assert "not UTF-8 text (byte 4: 0xd0)" in err and "nothing was stored" in err
    assert "keyring" not in err.lower() and "Traceback" not in err
    listed = _irtui(keyring_session, "secrets", "list")
    assert "smtp" not in listed.stdout or "MISSING" in listed.stdout
