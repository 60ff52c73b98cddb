"""The remote scripts are real files, shellcheck-clean, and take their values only as
arguments, environment or stdin."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources

import pytest

from irtui.core.remote import run_script, script, script_names

SHELLCHECK = shutil.which("shellcheck", path="/usr/bin:/bin")


def test_every_script_is_shellcheck_clean() -> None:
    names = script_names()
    assert {"probe", "rollback_arm", "conntrack_cut", "iptables_read"} <= set(names)
    if SHELLCHECK is None:
        pytest.skip("shellcheck is not installed (Debian package shellcheck)")
    folder = resources.files("irtui.core.remote")
    paths = [str(folder.joinpath(f"{n}.sh")) for n in names]
    out = subprocess.run([SHELLCHECK, "--shell=sh", "--severity=style", *paths],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_values_are_arguments_not_text(tmp_path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"/nonexistent/x'; touch {marker} #$(touch {marker})`touch {marker}`"
    cmd = run_script("rollback_status", hostile, purpose="test")
    assert cmd.argv == ("sh", "-c", script("rollback_status"), "irtui-rollback_status",
                        hostile)
    out = subprocess.run(list(cmd.argv), capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout == "none\n", out.stderr
    assert not marker.exists()  # the value stayed a value
