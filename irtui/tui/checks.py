"""Checks of what the responder typed in the block/unblock prompt, before any host is read:
the core's own parsers (:func:`~irtui.core.actions.guardrails.parse_targets` with its
refang of pasted IOCs, :func:`~irtui.core.durations.parse_ttl`, ``Config.select``) and its
config-level guardrails, so the prompt can keep the input and mark the bad tokens.

Pure functions: no widgets, no I/O.
"""

from __future__ import annotations

from irtui.core.durations import parse_ttl
from irtui.core.errors import InvalidTargetError, UnknownHostError
from irtui.core.ioc_paste import split_pasted
from irtui.core.settings import Config
from irtui.core.targets import refusal
from irtui.tui.cells import clip
from irtui.tui.prompt import Problem, TargetRequest

TOKEN_SHOWN = 40
"""A bad token is quoted with at most this many characters."""
ADDRESS_FIX = "give IPv4/IPv6 addresses or prefixes, e.g. 203.0.113.7 or 2001:db8::/32"


def host_tokens(text: str) -> list[str]:
    """The names in the hosts field (spaces or commas between them)."""
    return text.replace(",", " ").split()


def _bad_targets(config: Config, tokens: list[str], guard: bool) -> Problem | None:
    from irtui.core.actions.guardrails import config_guard, guard_hit, parse_targets

    notes: list[str] = []
    try:
        networks, refused = parse_targets(tokens, notes)
    except InvalidTargetError as exc:
        return Problem("targets", exc.line)
    if refused:
        bad = list(refused)
        first = refused[bad[0]].reason
        if len(bad) == 1:  # a URL or address:port comes with its own fix
            fix = "" if " — " in first else f" — {ADDRESS_FIX}"
            return Problem("targets", first + fix, tuple(bad))
        return Problem("targets", f"{len(bad)} of {len(tokens)} tokens are not addresses, "
                       f"e.g. {first} — fix them or ctrl+t drops them", tuple(bad))
    if guard:
        rules = config_guard(config)
        why = {str(n): refusal(n) or guard_hit(n, rules) for n in networks}
        if all(why.values()):
            first = next(iter(why))
            reason = str(why[first])
            shown = reason if reason.startswith(first) else f"{first} {reason}"
            return Problem("targets", f"nothing to block: {shown}", tuple(tokens))
    return None


def check_request(config: Config, request: TargetRequest, *, block: bool) -> Problem | None:
    """The first problem of ``request``, or None when the core can plan it.

    Args:
        config: the session's config (hosts, groups, guardrails).
        request: what was typed.
        block: True for a block (TTL checked, and every address refused by a config-level
            guardrail is a problem); False for an unblock.

    Returns:
        A :class:`Problem` naming the field, the message (problem and fix, bad tokens
        quoted with at most :data:`TOKEN_SHOWN` characters) and the tokens to mark.
    """
    tokens = split_pasted(request.targets)
    if not tokens:
        return Problem("targets", "type an address or CIDR")
    shown = [clip(t, TOKEN_SHOWN) for t in tokens]
    problem = _bad_targets(config, tokens, block)
    if problem is not None:
        for token, short in zip(tokens, shown, strict=True):
            problem = Problem(problem.field, problem.message.replace(token, short),
                              problem.bad) if token != short else problem
        return problem
    if block:  # the CLI's --ttl rule: required (the prompt comes prefilled with the default)
        try:
            parse_ttl(request.ttl)
        except InvalidTargetError as exc:
            return Problem("ttl", exc.line, (request.ttl,))
    names = host_tokens(request.hosts)
    if not names:
        return Problem("hosts", "name a host, @group or all (marked hosts are prefilled)")
    unknown = []
    first = ""
    for name in names:
        try:
            config.select([name])
        except UnknownHostError as exc:
            unknown.append(name)
            first = first or exc.line
    if unknown:
        return Problem("hosts", first, tuple(unknown))
    return None
