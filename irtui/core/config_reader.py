"""Reading one TOML table of the config with validation: every problem is collected (named by
its full key, with the fix) so the responder sees all of them at once."""

from __future__ import annotations

from typing import Any

_KIND_NAMES = {"str": "a string", "int": "an integer", "float": "a number",
               "bool": "true or false", "list": "a list", "dict": "a table"}


class Section:
    """A view of one TOML table (``[ssh]``, ``[notify.email]``, ``hosts[2]``) that checks
    types and unknown keys while values are read.

    Args:
        problems: the shared list every problem is appended to (``"key: text"``).
        data: the parsed table.
        prefix: the table's dotted name with a trailing dot (``"notify.email."``), or ``""``
            for the document root.
        allowed: the keys this table may hold; any other key is reported.
    """

    def __init__(self, problems: list[str], data: dict[str, Any], prefix: str,
                 allowed: set[str] | None = None) -> None:
        self.problems = problems
        self.data = data
        self.prefix = prefix
        if allowed is not None:
            for key in data:
                if key not in allowed:
                    self.problem(key, "unknown key; remove it or use one of "
                                      f"{', '.join(sorted(allowed))}")

    def problem(self, key: str, text: str) -> None:
        """Record ``text`` as a problem of ``key`` (relative to this table)."""
        self.problems.append(f"{self.prefix}{key}: {text}")

    def sub(self, key: str, allowed: set[str] | None = None) -> Section:
        """The sub-table ``key`` (empty if absent; a problem if it is not a table)."""
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, f"must be a table like [{self.prefix}{key}]")
            value = {}
        return Section(self.problems, value, f"{self.prefix}{key}.", allowed)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        """The value of ``key`` if it has one of the types ``kind`` (bool is never taken for
        int), else ``default`` (with a problem recorded when the key was present)."""
        if key not in self.data:
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = False if isinstance(value, bool) and bool not in kinds else isinstance(value, kinds)
        if not ok:
            names = " or ".join(_KIND_NAMES[k.__name__] for k in kinds)
            self.problem(key, f"must be {names}, got {value!r}")
            return default
        return value

    def number(self, key: str, default: float) -> float:
        """An int or float value as float."""
        return float(self.get(key, (int, float), default))

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings (empty when absent or invalid)."""
        value = self.get(key, list, [])
        if not all(isinstance(v, str) for v in value):
            self.problem(key, "must be a list of strings")
            return ()
        return tuple(value)
