"""Message templates filled from the incident context.

A template is a subject and a body with ``$placeholders`` (:class:`string.Template` syntax:
``$name`` or ``${name}``, ``$$`` for a dollar sign). Only the names in :data:`PLACEHOLDERS`
exist; the config parser rejects any other, so a typo is named at start-up and never reaches
the team as a literal ``$hots_isolated``. Values are never evaluated: a placeholder is replaced
by text and nothing else (no attribute access, unlike ``str.format``).

The caller fills a :class:`NotifyContext`. Today that is
:func:`irtui.core.actions.notify.session_context` (live read-back of every host plus this
session's audit records); the incident record fills the same dataclass through
:class:`ContextSource` once it exists.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Protocol

from irtui.core.errors import InvalidTargetError

PLACEHOLDERS: dict[str, str] = {
    "incident_id": "the incident (or, without a record, the session) id",
    "who": "the responder, user@host",
    "when": "when the message was prepared, ISO 8601 UTC",
    "headline": "e.g. '2 host(s) isolated, 3 address(es) blocked'",
    "hosts_isolated": "hosts whose firewall shows irtui's isolation (live read-back)",
    "addresses_blocked": "IOCs blocked, each with the hosts enforcing it (live read-back)",
    "unknown_hosts": "hosts whose state could not be read, with why",
    "evidence_hashes": "SHA-256 and path of every evidence file and snapshot",
    "actions": "the actions of this session, OK/FAIL each",
    "tally": "e.g. '4 action(s): 3 succeeded, 1 failed'",
    "audit_trail": "the audit trail file",
}
"""Every placeholder a template may use, with what it is replaced by."""

DEFAULT_SUBJECT = "[irtui] $incident_id: $headline"
DEFAULT_BODY = """\
Incident $incident_id — containment update
From $who at $when

Hosts isolated (read back from their firewalls):
$hosts_isolated

Addresses blocked (read back from the firewalls):
$addresses_blocked

Hosts not read (state unknown):
$unknown_hosts

Evidence (SHA-256):
$evidence_hashes

Actions ($tally):
$actions

Audit trail: $audit_trail
"""
DEFAULT_NAME = "default"


@dataclass(frozen=True)
class EvidenceHash:
    """One file whose integrity matters (evidence, a ruleset snapshot): chain of custody."""

    path: str
    sha256: str


@dataclass(frozen=True)
class NotifyContext:
    """What a notification can say about the incident. Every list is already in the order
    to show. Nothing here may hold a secret (it is rendered into messages and previews).

    Attributes:
        incident_id: the incident id, or the session id without an incident record.
        who: the responder (``user@host``).
        when: ISO 8601 UTC time the context was gathered.
        hosts_isolated: host names whose live state shows isolation.
        hosts_partial: ``(host, why)`` whose isolation reads only PARTIAL (not contained;
            listed under the isolated hosts as such, never counted with them).
        addresses_blocked: ``(entry, hosts)`` pairs from the live state.
        unknown_hosts: ``(host, why)`` for hosts that could not be read.
        evidence: evidence and snapshot files with their SHA-256.
        actions: ``(ok, summary)`` for each action of the session (or the record).
        audit_trail: path of the audit trail file.
    """

    incident_id: str
    who: str
    when: str
    hosts_isolated: tuple[str, ...] = ()
    hosts_partial: tuple[tuple[str, str], ...] = ()
    addresses_blocked: tuple[tuple[str, tuple[str, ...]], ...] = ()
    unknown_hosts: tuple[tuple[str, str], ...] = ()
    evidence: tuple[EvidenceHash, ...] = ()
    actions: tuple[tuple[bool, str], ...] = field(default_factory=tuple)
    audit_trail: str = ""

    def values(self, one_line: bool) -> dict[str, str]:
        """The placeholder values: lists as ``- item`` lines, or comma-separated when
        ``one_line`` (for a subject, which must stay one line, RFC 5322 section 2.2.3)."""

        def items(rows: list[str]) -> str:
            if not rows:
                return "none"
            return ", ".join(rows) if one_line else "\n".join(f"  - {r}" for r in rows)

        good = sum(ok for ok, _ in self.actions)
        pending = sum(why.startswith(("NOT CONFIRMED", "rollback"))
                      for _, why in self.hosts_partial)
        isolated = len(self.hosts_isolated)
        blocked = sum(any(not h.endswith("(NOT ENFORCED)") for h in hosts)
                      for _, hosts in self.addresses_blocked)
        return {
            "incident_id": self.incident_id,
            "who": self.who,
            "when": self.when,
            "headline": f"{isolated} host(s) isolated, {blocked} address(es) blocked"
                        + (f", {pending} isolation(s) NOT CONFIRMED" if pending else "")
                        + (f", {len(self.hosts_partial) - pending} only PARTIALLY isolated"
                           if len(self.hosts_partial) > pending else "")
                        + (f", {len(self.unknown_hosts)} host(s) unknown"
                           if self.unknown_hosts else ""),
            "hosts_isolated": items(list(self.hosts_isolated) + [
                f"{host}: isolated, {why}" if why.startswith(("NOT CONFIRMED", "rollback"))
                else f"{host}: PARTIAL isolation, not contained ({why})"
                for host, why in self.hosts_partial]),
            "addresses_blocked": items([f"{entry} on {', '.join(hosts)}"
                                        for entry, hosts in self.addresses_blocked]),
            "unknown_hosts": items([f"{host}: {why}" for host, why in self.unknown_hosts]),
            "evidence_hashes": items([f"{e.sha256}  {e.path}" for e in self.evidence]),
            "actions": items([f"{'OK  ' if ok else 'FAIL'}  {s}" for ok, s in self.actions]),
            "tally": f"{len(self.actions)} action(s): {good} succeeded, "
                     f"{len(self.actions) - good} failed",
            "audit_trail": self.audit_trail or "none",
        }


class ContextSource(Protocol):
    """Anything that can describe the incident (the incident record implements it)."""

    def notify_context(self) -> NotifyContext:
        """The context to fill templates with."""
        ...


@dataclass(frozen=True)
class MessageTemplate:
    """A named subject + body pair of :class:`string.Template` texts."""

    name: str
    subject: str
    body: str

    def render(self, context: NotifyContext) -> tuple[str, str]:
        """Fill the template.

        Returns:
            ``(subject, body)``; the subject is one line.

        Raises:
            InvalidTargetError: a placeholder is not in :data:`PLACEHOLDERS` or a ``$`` is
                not followed by a name (templates from the config are checked at load, so
                this only happens for templates built in code).
        """
        problems = template_problems(self.subject) + template_problems(self.body)
        if problems:
            raise InvalidTargetError(f"template {self.name!r}: {'; '.join(problems)}",
                                     "fix the template in [notify.templates]")
        subject = string.Template(self.subject).substitute(context.values(one_line=True))
        body = string.Template(self.body).substitute(context.values(one_line=False))
        return " ".join(subject.split()), body


DEFAULT_TEMPLATE = MessageTemplate(DEFAULT_NAME, DEFAULT_SUBJECT, DEFAULT_BODY)


def template_problems(text: str) -> list[str]:
    """What is wrong with one template text: unknown placeholders or a stray ``$``.

    Returns:
        Problems as short phrases (empty when the text is valid).
    """
    tpl = string.Template(text)
    if not tpl.is_valid():
        return ["a '$' is not followed by a placeholder name (write $$ for a dollar sign)"]
    unknown = sorted(set(tpl.get_identifiers()) - set(PLACEHOLDERS))
    if unknown:
        return [f"unknown placeholder(s) {', '.join('$' + u for u in unknown)}; known: "
                + ", ".join("$" + p for p in PLACEHOLDERS)]
    return []


def pick_template(templates: tuple[MessageTemplate, ...] | list[MessageTemplate],
                  name: str = "") -> MessageTemplate:
    """The template called ``name`` (empty: the first configured one, else the built-in).

    Raises:
        InvalidTargetError: no template has that name (the message lists the known ones).
    """
    known = {t.name: t for t in templates}
    known.setdefault(DEFAULT_NAME, DEFAULT_TEMPLATE)
    if not name:
        return next(iter(templates), DEFAULT_TEMPLATE)
    if name not in known:
        raise InvalidTargetError(f"unknown template {name!r}",
                                 f"use one of {', '.join(known)} or add [notify.templates.{name}]")
    return known[name]
