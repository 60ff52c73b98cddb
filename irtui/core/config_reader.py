"""Reading one TOML table of the config with validation: every problem is collected (named by
its full key, with the fix) so the responder sees all of them at once."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from irtui.core.text import first_control, printable

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
        self.problems.append(f"{self.prefix}{_key_text(key)}: {text}")

    def sub(self, key: str, allowed: set[str] | None = None) -> Section:
        """The sub-table ``key`` (empty if absent; a problem if it is not a table)."""
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, f"must be a table like [{self.prefix}{_key_text(key)}]")
            value = {}
        return Section(self.problems, value, f"{self.prefix}{_key_text(key)}.", allowed)

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
            self.problem(key, f"must be {names}, got {_short(value)}")
            return default
        if isinstance(value, str) and (why := _control_problem(value)):
            self.problem(key, why)
            return default
        return value

    def text(self, key: str, default: Any) -> Any:
        """A multi-line text value (a shell command, a message template): like
        ``get(key, str, default)`` but newlines and tabs are allowed; any other control
        character is still a problem."""
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, str):
            self.problem(key, f"must be a string, got {_short(value)}")
            return default
        if why := _control_problem(value.replace("\n", " ").replace("\t", " ")):
            self.problem(key, why)
            return default
        return value

    def number(self, key: str, default: float) -> float:
        """An int or float value as float; NaN, infinities and numbers too large for a float
        are problems (the default is returned)."""
        value = self.get(key, (int, float), default)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            self.problem(key, f"must be a finite number, got {_short(value)}")
            return float(default)
        return number

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings (empty when absent or invalid)."""
        value = self.get(key, list, [])
        if not all(isinstance(v, str) for v in value):
            self.problem(key, "must be a list of strings")
            return ()
        for item in value:
            if why := _control_problem(item):
                self.problem(key, why)
                return ()
        return tuple(value)


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters, so one bad value cannot make the
    one-line message a page long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def _control_problem(value: str) -> str | None:
    """Why a config string cannot be used as is (it holds a control character, which would
    reach a terminal, a file name or an email header), or None."""
    at = first_control(value)
    if at is None:
        return None
    return (f"{_short(value)} holds a control character ({printable(value[at])} at "
            f"position {at}); remove it")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def _key_text(key: str) -> str:
    """A key as TOML writes it: bare (``connect_timeout``) when it can be, else quoted with
    every non-ASCII or control character escaped (``"\\u001f"``), so a hostile key cannot
    reach the terminal raw."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)
