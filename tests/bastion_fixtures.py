"""Pytest fixtures for the bastion lab: a second test lab (its own prefix, subnets and
directory, :meth:`LabSpec.for_tests` with ``bastion=True``) whose hosts accept SSH only from
its bastion, so the plain ``lab`` fixture stays as it is.

Import them from ``tests/conftest.py``::

    from tests.bastion_fixtures import bastion_config, bastion_lab  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from irtui.core.config import Config, load_config
from irtui.lab import LabInfo, LabSpec, lab_status, lab_up
from tests.lab_fixtures import reset_firewall, reset_lab_firewalls, running_lab

BASTION_SPEC = LabSpec.for_tests(hosts=2, bastion=True)


@pytest.fixture(scope="session")
def bastion_lab(request: pytest.FixtureRequest) -> Iterator[LabInfo]:
    """The bastion test lab (2 hosts behind a bastion), up for the whole session."""
    with running_lab(BASTION_SPEC, request.config) as info:
        yield info


@pytest.fixture
def bastion_config(bastion_lab: LabInfo, tmp_path: Path) -> Config:
    """The bastion lab's generated config (hosts named by ssh_config alias, ProxyJump
    bastion), with empty firewalls everywhere, every sshd running, and the audit trail in
    tmp_path."""
    if not lab_status(BASTION_SPEC).up:
        lab_up(BASTION_SPEC)
    reset_lab_firewalls(bastion_lab)
    assert bastion_lab.bastion is not None
    reset_firewall(bastion_lab.bastion.namespace)
    return replace(load_config(bastion_lab.config_path), audit_dir=str(tmp_path / "audit"))
