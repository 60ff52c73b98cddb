"""``--json``: one JSON document per CLI verb, for a SIEM/SOAR to drive irtui.

Every verb takes ``--json``. Its stdout is then exactly one JSON document, the *envelope*
(schema ``irtui/1``, shipped as ``irtui/schema/irtui-cli.schema.json``, JSON Schema draft
2020-12); the human text and the live remote output go to stderr instead (``-q`` drops the
human text too)::

    {"schema": "irtui/1", "verb": "block", "ok": false, "exit_code": 1, "dry_run": false,
     "incident": "INC-2026-0001", "plan": {...} | null, "results": [...],
     "error": {"type", "problem", "fix"} | null, "data": {...verb-specific...}}

``exit_code`` is the process's exit code (module docstring of :mod:`irtui.cli`); ``ok`` is
``exit_code == 0``. ``plan`` is the plan as built (every entry's fate, the refusals with
their rule, the hosts that failed planning or need nothing, the exact commands per host);
``results`` one object per host once it ran (none with ``--dry-run``). An error that stops
the verb fills ``error`` and keeps its exit code.

Everything here is built from the typed objects (:class:`~irtui.core.plan.Plan`,
:class:`~irtui.core.events.PlanResult`, :class:`~irtui.core.firewall.state.HostState`, the
record's dataclasses…), never from printed text. The verb modules hand them to the
:class:`Report` of the running verb (:func:`report`); the verb-specific ``data`` shapes are
in :mod:`irtui.commands.jsondata`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irtui.core.actions.profiles import HostProfile
    from irtui.core.config import HostConfig
    from irtui.core.events import PlanResult
    from irtui.core.feed_accounting import FeedAccount
    from irtui.core.firewall.state import HostState
    from irtui.core.plan import Plan

SCHEMA = "irtui/1"
"""The envelope's ``schema`` value; bumped only for a change that breaks a reader."""
HELP = ("print one JSON document on stdout (schema irtui/1: plan, per-host results, "
        "refusals with reasons, exit code); human text goes to stderr")

Json = dict[str, Any]


# ---- the envelope ------------------------------------------------------------------------


class Report:
    """What the running verb will put in its JSON document. Methods are thread-safe (hosts
    may be read in parallel).

    Attributes:
        verb: ``block``, ``incident new``, ``lab status``…
        incident: the incident the verb acted in or is about (else the session's pinned
            incident is used, see :meth:`document`).
        plan: the plan (:func:`plan_json`) or None.
        results: one object per host result (:func:`result_json`).
        data: the verb-specific part.
    """

    def __init__(self, verb: str = "", dry_run: bool = False) -> None:
        self.verb = verb
        self.dry_run = dry_run
        self.incident: str | None = None
        self._plan: Plan | None = None
        self.results: list[Json] = []
        self.data: Json = {}
        self.exit_code: int | None = None
        self.error: Json | None = None
        self._hosts: dict[str, Json] = {}
        self._lock = threading.Lock()

    def set_plan(self, plan: Plan) -> None:
        """The plan the verb built (before it runs, so a refusal still shows it); turned
        into JSON only when the document is (a feed's plan holds 100,000 entries, and
        without ``--json`` no document is written)."""
        with self._lock:
            self._plan = plan

    @property
    def plan(self) -> Json | None:
        """The plan as :func:`plan_json` gives it, or None."""
        return plan_json(self._plan) if self._plan is not None else None

    def add_result(self, result: PlanResult) -> None:
        """Append every host result of ``result``."""
        with self._lock:
            self.results += [result_json(result, r) for r in result.results]

    def put(self, **data: Any) -> None:
        """Set keys of ``data`` (JSON-ready values)."""
        with self._lock:
            self.data.update(data)

    def host(self, row: Json) -> None:
        """One host's row of ``data.hosts`` (``row["host"]`` names it; a later row for the
        same host replaces it). Rows keep the order in which hosts were first reported."""
        with self._lock:
            self._hosts[row["host"]] = row

    def done(self, exit_code: int, error: BaseException | None = None) -> int:
        """Set the verb's exit code and the error that stopped it; returns ``exit_code``."""
        self.exit_code = exit_code
        self.error = error_json(error) if error is not None else None
        return exit_code

    def document(self, incident: str | None = None) -> Json:
        """The envelope; ``incident`` is used when no incident was set on the report."""
        code = self.exit_code if self.exit_code is not None else 1
        data = dict(self.data)
        if self._hosts:
            data["hosts"] = list(self._hosts.values())
        return {"schema": SCHEMA, "verb": self.verb, "ok": code == 0, "exit_code": code,
                "dry_run": self.dry_run, "incident": self.incident or incident,
                "plan": self.plan, "results": self.results, "error": self.error,
                "data": data}


_active: list[Report] = []
_active_lock = threading.Lock()


def report() -> Report:
    """The :class:`Report` of the verb running in this process (a throwaway one when no
    verb runs through :func:`collecting`, e.g. a handler called directly)."""
    with _active_lock:
        return _active[-1] if _active else Report()


class _Discard:
    """A text stream that drops what is written (``--json -q``)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


ROW_LIST_MIN = 64
"""A list of at least this many flat objects (a blocklist's entries) is written one object
per line: ``json.dumps(indent=...)`` encodes in pure Python (about 0.5 s for 100,000
entries), one line per object uses the C encoder."""


def dumps(doc: Json) -> str:
    """``doc`` as JSON text that is printable ASCII only (every other character escaped,
    DEL included), so a host's bytes can neither drive a terminal nor be altered by the
    CLI's escaping of control characters. Indented by 2; a long list of flat objects
    (:data:`ROW_LIST_MIN`) has one object per line."""
    rows: list[list[Json]] = []
    mark = f"irtui-rows-{secrets.token_hex(8)}-"

    def lifted(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: lifted(v) for k, v in value.items()}
        if isinstance(value, list):
            if len(value) >= ROW_LIST_MIN and all(isinstance(item, dict) for item in value) \
                    and not any(issubclass(kind, dict | list)  # the values' types, once each
                                for kind in {type(v) for item in value for v in item.values()}):
                rows.append(value)
                return f"{mark}{len(rows) - 1}"
            return [lifted(v) for v in value]
        return value

    text = json.dumps(lifted(doc), ensure_ascii=True, indent=2)
    for i, items in enumerate(rows):
        at = text.index(f'"{mark}{i}"')
        line = text[text.rfind("\n", 0, at) + 1:at]
        indent = " " * (len(line) - len(line.lstrip(" ")))
        body = _row_lines(items, f",\n{indent}  ")
        end = at + len(mark) + len(str(i)) + 2
        text = f"{text[:at]}[\n{indent}  {body}\n{indent}]{text[end:]}"
    return text.replace("\x7f", "\\u007f")


def _row_lines(items: list[Json], separator: str) -> str:
    """The flat objects ``items`` encoded one by one and joined with ``separator``, as
    ``separator.join(json.dumps(item) for item in items)`` gives, in one call of the C
    encoder: the list is encoded whole and cut between its objects at ``}, {``. A string
    holding ``}, {`` would add a cut; the cut count then differs from the object count and
    each object is encoded alone instead, so the result never depends on the path taken."""
    whole = json.dumps(items, ensure_ascii=True)[1:-1]
    pieces = whole.split("}, {")
    if len(pieces) == len(items):
        return ("}" + separator + "{").join(pieces)
    return separator.join(json.dumps(item, ensure_ascii=True) for item in items)


@contextmanager
def collecting(args: argparse.Namespace) -> Iterator[Report]:
    """Run a verb with its :class:`Report`. With ``args.json``: what the verb prints on
    stdout goes to stderr (nowhere with ``-q``), and when the verb has called
    :meth:`Report.done` the envelope is written on stdout at the end."""
    rep = Report(getattr(args, "json_verb", "") or str(getattr(args, "cmd", "") or ""),
                 bool(getattr(args, "dry_run", False)))
    wanted = bool(getattr(args, "json", False))
    saved = sys.stdout
    with _active_lock:
        _active.append(rep)
    if wanted:
        sys.stdout = _Discard() if getattr(args, "quiet", False) else sys.stderr  # type: ignore[assignment]
    try:
        yield rep
    finally:
        sys.stdout = saved
        with _active_lock:
            _active.remove(rep)
    if wanted and rep.exit_code is not None:
        with suppress(OSError):  # the reader went away: the exit code still tells
            saved.write(dumps(rep.document(_pinned(args))) + "\n")
            saved.flush()


def _pinned(args: argparse.Namespace) -> str | None:
    """The incident the verb's session recorded in (or was told to), if it had one."""
    recorder = getattr(getattr(args, "responder", None), "audit", None)
    pinned = getattr(recorder, "pinned_incident", None)
    return pinned if isinstance(pinned, str) else None


def usage_error(verb: str, prog: str, message: str) -> None:
    """The envelope of a command line argparse refused (exit 2), written on stdout."""
    rep = Report(verb)
    rep.exit_code = 2
    rep.error = {"type": "UsageError", "problem": message, "fix": f"see {prog} --help"}
    sys.stdout.write(dumps(rep.document()) + "\n")


def leaf_parsers(parser: argparse.ArgumentParser, verb: str = ""
                 ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``(verb words, parser)`` for ``parser`` itself when it has no subcommands, else for
    every leaf parser below it (``incident new``…)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield verb, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from leaf_parsers(child, f"{verb} {name}".strip())


def add_option(parser: argparse.ArgumentParser, verb: str) -> None:
    """Give ``parser`` and every leaf parser below it ``--json`` (once) and the default
    ``json_verb`` (``incident new``…)."""
    for words, leaf in leaf_parsers(parser, verb):
        if "--json" not in leaf._option_string_actions:
            leaf.add_argument("--json", action="store_true", help=HELP)
        leaf.set_defaults(json_verb=words)


# ---- typed objects → JSON --------------------------------------------------------------


def error_json(error: BaseException | str) -> Json:
    """``{"type", "problem", "fix"}`` of an error that stopped a verb (an
    :class:`~irtui.core.errors.IrtuiError`, a ``KeyboardInterrupt``, or a text), plus
    ``changed`` (the hosts that WERE changed) for an audit failure after a change."""
    if isinstance(error, str):
        return {"type": "Error", "problem": error, "fix": ""}
    if isinstance(error, KeyboardInterrupt):
        return {"type": "Interrupted", "problem": "interrupted", "fix": ""}
    out = {"type": type(error).__name__, "problem": str(getattr(error, "problem", error)),
           "fix": str(getattr(error, "fix", ""))}
    changed = getattr(error, "changed", ())  # AuditError after a change: hosts changed
    if changed:
        out["changed"] = list(changed)
    return out


def plan_json(plan: Plan) -> Json:
    """A plan: ``entries`` host → [{entry, fate, reason}] (fate is an
    :class:`~irtui.core.plan.EntryFate` value), ``refused`` flat, ``counts`` per fate family,
    ``failed``/``skipped`` host → why, ``commands`` host → [{purpose, command, local}] with
    the exact text (:meth:`~irtui.core.plan.Step.render`)."""
    commands: dict[str, list[Json]] = {host: [] for host in plan.hosts}
    for step in plan.steps:
        commands.setdefault(step.host, []).append(
            {"purpose": step.purpose, "command": step.render(), "local": step.local is not None})
    entries = {host: [{"entry": entry, "fate": status.fate.value, "reason": status.reason}
                      for entry, status in per_host.items()]
               for host, per_host in plan.entries.items()}
    refused = [{"host": host, "entry": entry, "reason": status.reason}
               for host, per_host in plan.entries.items()
               for entry, status in per_host.items() if status.refused]
    return {"action": plan.action, "summary": plan.summary, "hosts": list(plan.hosts),
            "notes": list(plan.notes), "dangerous": plan.dangerous,
            "confirm_text": plan.confirm_text, "counts": plan.counts(), "entries": entries,
            "refused": refused, "failed": dict(plan.failed), "skipped": dict(plan.skipped),
            "commands": commands}


def result_json(result: PlanResult, host_result: Any) -> Json:
    """One :class:`~irtui.core.events.HostResult` of ``result``: ``outcome`` is an
    :class:`~irtui.core.events.Outcome` value; ``duration_s`` in seconds."""
    return {"host": host_result.host, "action": result.action,
            "outcome": host_result.outcome.value, "ok": host_result.ok,
            "message": host_result.message, "duration_s": round(host_result.duration, 3)}


def feed_accounts(accounts: Iterable[FeedAccount]) -> list[Json]:
    """Per feed: read, planned, duplicates, refused (reason → count)."""
    return [{"name": a.name, "format": a.format, "read": a.read, "planned": a.planned,
             "duplicates": a.duplicates, "refused": dict(a.refused)} for a in accounts]


def host_error(name: str, error: BaseException) -> Json:
    """The row of a host that could not be read."""
    return {"host": name, "error": error_json(error)}


def blocks_row(state: HostState) -> Json:
    """``blocks``: one host's live blocklist with each entry's enforcement: ``entry`` (as a
    user writes it), ``family``, ``timeout_s``/``expires_s`` (None: permanent),
    ``enforcement`` and ``enforced``; built in one loop (100,000 entries)."""
    from irtui.core.firewall.state import Enforcement

    meaning = {e: (e.value, e is Enforcement.ENFORCED) for e in Enforcement}
    entries = []
    for e in state.blocks:
        value, enforced = meaning[e.enforcement]
        entries.append({"entry": e.text, "family": e.network.version, "timeout_s": e.timeout,
                        "expires_s": e.expires, "enforcement": value, "enforced": enforced})
    return {"host": state.host, "error": None, "backend": state.backend,
            "entries": entries, "gaps": list(state.gaps)}


def status_row(host: HostConfig, state: HostState, conflict: str, attention: bool) -> Json:
    """``status``: reachable, isolation, counts of blocks and of those NOT ENFORCED. With
    a backend ``conflict`` the isolation is ``unknown`` and the counts null: ``state``, read
    from the one backend irtui uses there, is not the host's whole state."""
    if conflict:
        return {"host": host.name, "error": None, "address": host.address,
                "backend": state.backend,
                "isolation": {"status": "unknown", "since": None, "management": [],
                              "problem": ""},
                "blocks": None, "not_enforced": None, "gaps": [], "conflict": conflict,
                "attention": attention}
    iso = state.isolation
    return {"host": host.name, "error": None, "address": host.address,
            "backend": state.backend, "isolation": {
                "status": state.isolation_status.value, "since": iso.since if iso else None,
                "management": list(iso.management) if iso else [],
                "problem": iso.problem if iso else ""},
            "blocks": len(state.blocks), "not_enforced": len(state.not_enforced),
            "gaps": list(state.gaps), "conflict": conflict or None, "attention": attention}


def probe_row(host: HostConfig, profile: HostProfile) -> Json:
    """``probe``: the backend chosen and why, IPv6, managers, tools, the preflight line."""
    facts, choice = profile.facts, profile.choice
    return {"host": host.name, "error": None, "backend": choice.name,
            "reason": choice.reason, "conflict": choice.conflict or None,
            "global_ipv6": facts.global_ipv6, "ipv6_protected": choice.ipv6_protected,
            "managers": dict(facts.services), "tools": sorted(facts.binaries),
            "ssh_client": str(facts.ssh_client) if facts.ssh_client else None,
            "preflight": profile.preflight}


Render = Callable[[Any, "HostConfig"], tuple[str, bool]]


def rows_on_error(render: Render) -> Render:
    """Wrap a reading verb's per-host ``render(responder, host)``: a host that cannot be
    read gets its error row in ``data.hosts`` (the error still propagates)."""
    from irtui.core.errors import IrtuiError

    def wrapped(fw: Any, host: HostConfig) -> tuple[str, bool]:
        try:
            return render(fw, host)
        except IrtuiError as exc:
            report().host(host_error(host.name, exc))
            raise
    return wrapped

