"""JSON Schemas shipped with irtui (package data).

``irtui-cli.schema.json`` (JSON Schema draft 2020-12) describes the one document every CLI
verb prints on stdout with ``--json`` (see :mod:`irtui.commands.jsonout`): a SIEM/SOAR can
validate irtui's output against it. Its ``$defs/data_<verb>`` give each verb's ``data``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

CLI_SCHEMA = "irtui-cli.schema.json"


def cli_schema_text() -> str:
    """The text of ``irtui-cli.schema.json`` as installed (UTF-8)."""
    return resources.files(__name__).joinpath(CLI_SCHEMA).read_text(encoding="utf-8")


def cli_schema() -> dict[str, Any]:
    """The parsed schema of the CLI's ``--json`` envelope (``schema: irtui/1``)."""
    loaded: dict[str, Any] = json.loads(cli_schema_text())
    return loaded
