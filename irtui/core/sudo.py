"""sudo's own refusals, named with their fix (sudo(8) ``-n``, sudoers(5) ``requiretty``)."""

from __future__ import annotations

from irtui.core.errors import SSHError
from irtui.core.settings import HostConfig

SUDO_PASSWORD_MARKERS = ("a password is required", "a terminal is required")
SUDO_REQUIRETTY_MARKERS = ("you must have a tty",)
"""sudo's refusal under sudoers(5) ``Defaults requiretty`` ("sorry, you must have a tty to
run sudo"); ``sudo -n`` cannot get past it."""


def check_sudo(host: HostConfig, last_stderr: str) -> None:
    """Turn sudo's own refusals (sudo(8) ``-n``, sudoers(5) ``requiretty``) into one error
    naming the sudoers fix.

    Raises:
        SSHError: when ``last_stderr`` is one of those refusals.
    """
    if any(m in last_stderr for m in SUDO_REQUIRETTY_MARKERS):
        raise SSHError(f"sudo on {host.name} refuses {host.user} without a terminal: sudoers "
                       "has requiretty",
                       f"add 'Defaults:{host.user} !requiretty' to the host's sudoers (visudo "
                       "-f /etc/sudoers.d/irtui), or use root")
    if any(m in last_stderr for m in SUDO_PASSWORD_MARKERS):
        raise SSHError(f"sudo on {host.name} wants a password for {host.user}",
                       f"allow {host.user} passwordless sudo for nft/iptables, or use root")
