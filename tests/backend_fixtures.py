"""A Responder per firewall backend on the lab: ``fw`` runs a test once per backend with
every lab host forced to it; ``forced`` makes such Responders on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from irtui.core.actions import Responder
from irtui.core.audit import AuditLog
from irtui.core.config import Config

BACKENDS = ["nftables", "iptables-nft", "iptables-legacy"]


def forced_responder(lab_config: Config, backend: str, audit_dir: Path) -> Responder:
    """A Responder whose hosts all use ``backend`` (``auto``: the preflight decides)."""
    config = replace(lab_config, hosts=tuple(replace(h, firewall=backend)
                                             for h in lab_config.hosts))
    return Responder(config, audit=AuditLog(audit_dir))


@pytest.fixture(params=BACKENDS)
def fw(request: pytest.FixtureRequest, lab_config: Config, tmp_path: Path
       ) -> Iterator[Responder]:
    """A Responder whose hosts all use one forced backend (each backend in turn)."""
    responder = forced_responder(lab_config, request.param, tmp_path / "audit")
    yield responder
    responder.close()


@pytest.fixture
def forced(lab_config: Config, tmp_path: Path) -> Iterator[Callable[[str], Responder]]:
    """``forced(backend)`` makes a new Responder (which probes afresh); all are closed
    afterwards."""
    made: list[Responder] = []

    def make(backend: str = "auto") -> Responder:
        made.append(forced_responder(lab_config, backend, tmp_path / "audit"))
        return made[-1]

    yield make
    for responder in made:
        responder.close()
