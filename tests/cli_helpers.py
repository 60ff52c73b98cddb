"""Running the installed ``irtui`` binary as a responder would, and checking the rules for bad
input: one line on stderr naming the problem and the fix, the documented exit code, no
traceback, nothing changed on any lab host."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from irtui.core.config import write_toml_atomic
from irtui.lab import LabInfo
from irtui.lab.probe import ns_run

IRTUI = Path(sys.executable).with_name("irtui")
"""The console script of this virtualenv (``.venv/bin/irtui``), as installed."""
CLI_TIMEOUT = 60.0


def run_irtui(*args: str, timeout: float = CLI_TIMEOUT,
              **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """Run ``irtui ARGS`` and return what it did (bytes: a test may look for raw escapes).

    Raises:
        subprocess.TimeoutExpired: it ran longer than ``timeout`` seconds (a hang).
    """
    return subprocess.run([str(IRTUI), *args], capture_output=True, timeout=timeout,
                          **kwargs)


def refusal_line(out: subprocess.CompletedProcess[bytes]) -> str:
    """The one ``irtui: problem — fix`` line of a refusal; fails on a traceback, several
    lines, or a line without a fix."""
    stderr = out.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("irtui: ")]
    assert len(lines) == 1, stderr
    # problem — fix; a config problem is "config problem in PATH: key: problem; fix"
    assert " — " in lines[0] or lines[0].startswith("irtui: config problem"), lines[0]
    return lines[0]


def lab_rulesets(info: LabInfo) -> dict[str, bytes]:
    """``nft list ruleset`` of every lab host, to compare before/after a refused command."""
    return {h.name: ns_run(h.namespace, ["nft", "list", "ruleset"]).stdout for h in info.hosts}


def config_copy(info: LabInfo, path: Path, **sections: dict[str, Any]) -> Path:
    """The lab's config with ``sections`` merged in (each a table: ``ssh={...}`` updates
    ``[ssh]``), written to ``path``."""
    data = tomllib.loads(Path(info.config_path).read_text())
    for name, table in sections.items():
        data[name] = {**data.get(name, {}), **table} if isinstance(table, dict) else table
    write_toml_atomic(path, data)
    return path
