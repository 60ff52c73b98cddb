"""A non-root login user: commands go through `sudo -n`; a sudo that wants a password is
one clear error, and nothing changes on the host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config
from irtui.core.errors import SSHError
from irtui.lab.probe import ns_run, tcp_connects
from tests.lab_fixtures import SLOT

# Accounts and sudoers files are machine-wide: one per test lab slot, so parallel workers
# and concurrent runs each have their own.
USER = f"irtui-sudo-test{SLOT}"
SUDOERS = Path(f"/etc/sudoers.d/irtui-sudo-test{SLOT}")


@pytest.fixture
def lab_user(clean_lab) -> Iterator[str]:
    """A throwaway local account (the lab hosts share /etc/passwd); removed afterwards."""
    # "*" = no password, but not locked: sshd (UsePAM no) refuses locked accounts.
    # --force: the previous test's sshd session process may still be exiting.
    subprocess.run(["userdel", "--force", USER], capture_output=True)
    made = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", "--password",
                           "*", USER], capture_output=True, text=True)
    if made.returncode == 9:  # still there: reuse it
        subprocess.run(["usermod", "--password", "*", USER], check=True)
    else:
        assert made.returncode == 0, made.stderr
    try:
        yield USER
    finally:
        SUDOERS.unlink(missing_ok=True)
        subprocess.run(["userdel", "--force", USER], capture_output=True)


def _responder(config: Config, tmp_path: Path) -> Responder:
    hosts = tuple(replace(h, user=USER) for h in config.hosts)
    return Responder(replace(config, hosts=hosts), audit=AuditLog(tmp_path / "audit"))


def test_sudo_password_required_is_one_clear_error(lab_config: Config, lab_user: str,
                                                   tmp_path: Path) -> None:
    responder = _responder(lab_config, tmp_path)
    try:
        with pytest.raises(SSHError, match=rf"sudo on host1 wants a password for {USER}"):
            responder.plan_block(["203.0.113.7"], ["host1"])
    finally:
        responder.close()


def test_passwordless_sudo_blocks_for_real(lab_config: Config, lab_user: str, clean_lab,
                                           tmp_path: Path) -> None:
    SUDOERS.write_text(f"{USER} ALL=(root) NOPASSWD: ALL\n")
    SUDOERS.chmod(0o440)
    responder = _responder(lab_config, tmp_path)
    attacker, h1 = clean_lab.attacker, clean_lab.hosts[0]
    try:
        plan = responder.plan_block([attacker.v4], ["host1"], "1h")
        assert all(step.command.startswith("sudo -n ") for step in plan.steps)
        assert responder.execute(plan, lambda e: None).ok
        assert not tcp_connects(attacker.namespace, h1.v4, 22)
        management = responder.profile("host1").facts.ssh_client
        assert str(management) == clean_lab.responder_v4  # survives sudo's env reset
    finally:
        responder.close()


def test_sudo_requiretty_names_the_sudoers_fix(lab_config: Config, lab_user: str, clean_lab,
                                               tmp_path: Path) -> None:
    """sudoers ``Defaults requiretty`` (still the default on some RHEL-family images): even
    a NOPASSWD rule cannot pass ``sudo -n`` over a non-interactive session. irtui names
    requiretty and the sudoers line that lifts it, and changes nothing."""
    SUDOERS.write_text(f"Defaults:{USER} requiretty\n{USER} ALL=(root) NOPASSWD: ALL\n")
    SUDOERS.chmod(0o440)
    ruleset = ["nft", "list", "ruleset"]
    before = ns_run(clean_lab.hosts[0].namespace, ruleset).stdout
    responder = _responder(lab_config, tmp_path)
    try:
        with pytest.raises(SSHError) as err:
            responder.plan_block(["203.0.113.7"], ["host1"])
    finally:
        responder.close()
    message = str(err.value)
    assert "requiretty" in message
    assert f"Defaults:{USER} !requiretty" in message
    assert ns_run(clean_lab.hosts[0].namespace, ruleset).stdout == before


def test_a_login_user_with_nologin_is_named_not_its_home(lab_config: Config, lab_user: str,
                                                         tmp_path: Path) -> None:
    """The login user's shell is nologin(8) (a service account), with no home directory:
    sshd's "Could not chdir to home directory" comes first, but the cause is the shell, and
    the message says so, with the fix."""
    subprocess.run(["usermod", "--shell", "/usr/sbin/nologin", "--home", "/nonexistent",
                    USER], check=True)
    responder = _responder(lab_config, tmp_path)
    try:
        with pytest.raises(Exception) as err:
            responder.plan_block(["203.0.113.7"], ["host1"])
        text = str(err.value)
        assert "login shell of " + USER + " refuses every command (nologin" in text, text
        assert "chdir" not in text
    finally:
        responder.close()
