"""Running ``irtui VERB ... --json`` as a SOAR would (the installed binary, stdout parsed as
one JSON document) and checking the document against the shipped JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from irtui.lab import LabInfo
from irtui.schema import cli_schema
from tests.cli_helpers import config_copy, run_irtui

VALIDATOR = Draft202012Validator(cli_schema())
GROUPS = {"evidence", "hosts", "secrets", "incident", "audit", "lab"}
"""Verbs with sub-verbs: their ``verb`` is two words (``incident new``)."""


def schema_problems(doc: Any) -> list[str]:
    """Every way ``doc`` breaks the schema, one line each (empty: it validates)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(VALIDATOR.iter_errors(doc), key=str)]


def irtui_json(*args: str, config: Path | str | None = None, expect: int = 0,
               stdin: str | None = None, env: dict[str, str] | None = None,
               timeout: float = 120) -> dict[str, Any]:
    """Run ``irtui [--config C] ARGS --json`` and return its document, after checking that
    stdout is exactly one JSON document, printable ASCII only, valid against the schema,
    naming the verb, with ``exit_code`` equal to the process's (``expect``), and that
    stderr holds no traceback.

    Raises:
        AssertionError: any of these does not hold.
    """
    argv = [*(["--config", str(config)] if config else []), *args, "--json"]
    out = run_irtui(*argv, input=stdin.encode() if stdin is not None else None, env=env,
                    timeout=timeout)
    stdout, stderr = out.stdout.decode(), out.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    assert all(c == "\n" or " " <= c <= "~" for c in stdout), "stdout not printable ASCII"
    doc = json.loads(stdout)  # one document: trailing text would fail here
    assert schema_problems(doc) == [], (schema_problems(doc), doc)
    words = [a for a in args if not a.startswith("-")]
    verb = " ".join(words[:2]) if words[0] in GROUPS else words[0]
    assert doc["verb"] == verb
    assert doc["exit_code"] == out.returncode == expect, (out.returncode, doc, stderr)
    return doc


def record_config(path: Path, info: LabInfo | None = None, **sections: Any) -> Path:
    """A config (the lab's, or an empty one) whose audit trail, incident record and evidence
    live under ``path``'s directory; ``sections`` are merged in."""
    base = path.parent
    tables = {"audit": {"dir": str(base / "audit")}, "record": {"path": str(base / "rec.db")},
              "triage": {"evidence_dir": str(base / "evidence")}, **sections}
    if info is not None:
        return config_copy(info, path, **tables)
    from irtui.core.config import write_toml_atomic

    write_toml_atomic(path, tables)
    return path


def one_host(doc: dict[str, Any], host: str) -> dict[str, Any]:
    """The row of ``host`` in ``data.hosts``."""
    [row] = [r for r in doc["data"]["hosts"] if r["host"] == host]
    return row
