"""The way every change goes from a key to the hosts: prompt (kept open on bad input) →
plan in a worker → confirmation (summary first, reason, typed name where it matters) →
execution in a worker, a spinner on each affected row, cancel where it is safe, and
"retry failed hosts" afterwards.

A mixin of :class:`irtui.tui.app.IrtuiApp`; ``self`` is the app.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual import work

from irtui.core.errors import InvalidTargetError, IrtuiError, UnknownHostError
from irtui.core.events import Outcome
from irtui.core.ioc_paste import split_pasted
from irtui.core.plan import Plan
from irtui.tui import replan
from irtui.tui.blocklist_view import BlockTable
from irtui.tui.checks import check_request, host_tokens
from irtui.tui.hosts_table import HostTable
from irtui.tui.log_panel import ERROR_MARK
from irtui.tui.prompt import Problem, TargetPrompt, TargetRequest
from irtui.tui.screens import ConfirmScreen

if TYPE_CHECKING:
    from irtui.core.actions import Responder
    from irtui.core.config import Config
    from irtui.core.events import Event, PlanResult
    from irtui.tui.host_view import HostView

Rebuild = Callable[[list[str]], Plan]
"""``rebuild(hosts) -> Plan``: the same action planned again on ``hosts`` (for a retry)."""
CANCELLABLE = frozenset({"block", "unblock"})
"""Actions ``x`` may cancel: their steps are atomic transactions. Never an isolation: its
commit-confirm and rollback must run to their end."""


class LinkedCancel(threading.Event):
    """A run's own cancel flag (``x``) that also reads as set once the app's is (quitting
    stops every run)."""

    def __init__(self, app_cancel: threading.Event) -> None:
        super().__init__()
        self.app_cancel = app_cancel

    def is_set(self) -> bool:
        return super().is_set() or self.app_cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                break
            super().wait(left)
        return self.is_set()


@dataclass
class Run:
    """An action running now: its plan and the cancel flag it runs with (its own for the
    cancellable actions, else the app's: only quitting stops an isolation)."""

    plan: Plan
    cancel: threading.Event = field(default_factory=threading.Event)


def typed_confirmation(plan: Plan) -> str | None:
    """What must be typed to confirm ``plan``: the core's ``confirm_text`` (one host's name
    before isolating it, a large prefix), or for an isolation of several hosts
    ``isolate N`` — never just ``y`` for cutting hosts off."""
    if plan.confirm_text:
        return plan.confirm_text
    changing = [h for h in plan.hosts if h not in plan.failed and h not in plan.skipped]
    if plan.action == "isolate" and len(changing) > 1:
        return f"isolate {len(changing)}"
    return None


class ActionFlow:
    """Plans, confirmations, runs, cancel and retry."""

    config: Config
    responder: Responder
    views: dict[str, HostView]
    read_only: bool

    def _init_flow(self) -> None:
        self._planning = False  # a plan is being built: its confirmation is coming
        self.runs: dict[int, Run] = {}
        self._retry: tuple[Rebuild, list[str], str] | None = None

    # ---- what an action applies to ------------------------------------------------------

    def _tab(self) -> str:
        return str(self.query_one("#tabs").active)  # type: ignore[attr-defined]

    def _host_targets(self) -> list[str]:
        return self.query_one(HostTable).targets()  # type: ignore[attr-defined]

    def _check(self, block: bool) -> Callable[[TargetRequest], Problem | None]:
        def check(request: TargetRequest) -> Problem | None:
            problem = check_request(self.config, request, block=block)
            if problem is not None:  # logged too (the prompt shows it: no toast over it)
                self._log_error_untoasted(problem.message)  # type: ignore[attr-defined]
            return problem
        return check

    # ---- block / unblock ----------------------------------------------------------------

    def action_block(self, request: TargetRequest | None = None,
                     problem: Problem | None = None) -> None:
        """``b``: the prompt; hosts are the marked (or selected) hosts; on the Blocklist the
        marked (or selected) entries and their hosts are prefilled."""
        from irtui.core.durations import exact_duration

        targets, hosts = "", " ".join(self._host_targets())
        if request is None and self._tab() == "blocks":
            rows = self.query_one(BlockTable).targets()  # type: ignore[attr-defined]
            targets = " ".join(r.entry for r in rows)
            held = {h for r in rows for h in r.targets}
            hosts = " ".join(h for h in self.views if h in held) or hosts
        ttl = exact_duration(self.config.firewall.default_ttl)  # prefilled; empty is refused
        self._prompt("Block address(es) — the IOC to drop", request or TargetRequest(
            targets, ttl, hosts), problem, block=True)

    def _prompt(self, title: str, request: TargetRequest, problem: Problem | None, *,
                block: bool) -> None:
        """The block/unblock prompt with ``request`` in its fields; Enter plans it, a
        problem the core finds brings the prompt back with the input."""
        again = self.action_block if block else self.action_unblock

        def requested(got: TargetRequest | None) -> None:
            if got is None:
                return
            targets = split_pasted(got.targets)
            ttl = got.ttl  # as the CLI's --ttl: empty is refused, the default is prefilled

            def rebuild(hosts: list[str]) -> Plan:
                return (self.responder.plan_block(targets, hosts, ttl) if block
                        else self.responder.plan_unblock(targets, hosts))

            self._plan_then_confirm(rebuild, host_tokens(got.hosts),
                                    reopen=lambda p: again(got, p))

        self.push_screen(TargetPrompt(  # type: ignore[attr-defined]
            title, request.hosts, request.ttl if block else None, targets=request.targets,
            check=self._check(block), problem=problem), requested)

    def action_unblock(self, request: TargetRequest | None = None,
                       problem: Problem | None = None) -> None:
        """``u``: on the Blocklist the marked (or selected) entries on every reachable host
        holding them; elsewhere a prompt."""
        if request is None and self._tab() == "blocks":
            rows = self.query_one(BlockTable).targets()  # type: ignore[attr-defined]
            if not rows:
                self.notify("no blocklist entry selected", severity="warning")  # type: ignore[attr-defined]
                return
            self._unblock_rows(rows)
            return
        self._prompt("Unblock address(es)", request or TargetRequest(
            "", "", " ".join(self._host_targets())), problem, block=False)

    def _unblock_rows(self, rows: list) -> None:
        for row in rows:
            if row.unreachable:
                self._log(f"note: {row.entry} is also in the last known blocklist of "  # type: ignore[attr-defined]
                          f"unreachable {', '.join(row.unreachable)}: not included")
        reachable = [r for r in rows if r.targets]
        if not reachable:
            what = rows[0].entry if len(rows) == 1 else f"these {len(rows)} entries"
            self.notify(f"{what} only on unreachable hosts", severity="warning")  # type: ignore[attr-defined]
            return
        entries = [r.entry for r in reachable]
        held = {h for r in reachable for h in r.targets}
        hosts = [h for h in self.views if h in held]
        self._plan_then_confirm(lambda on: self.responder.plan_unblock(entries, on), hosts)

    def action_unblock_shown(self) -> None:
        """``U`` (Blocklist): unblock every entry shown (after the filter) on its hosts."""
        rows = self.query_one(BlockTable).shown_rows()  # type: ignore[attr-defined]
        if not rows:
            self.notify("the Blocklist shows no entry", severity="warning")  # type: ignore[attr-defined]
            return
        self._unblock_rows(rows)

    def action_complete(self) -> None:
        """``p`` (Blocklist): block the selected partial entry on the reachable members of
        its group(s) that lack it, with the time left on its soonest copy."""
        row = self.query_one(BlockTable).selected()  # type: ignore[attr-defined]
        if row is None or not row.missing:
            self.notify("the selected entry is not a partial block (no ⚠)",  # type: ignore[attr-defined]
                        severity="warning")
            return
        ttl: int | None = None
        if row.deadline is not None:
            ttl = math.ceil(row.deadline - time.time())
            if ttl < 1:
                self.notify(f"{row.entry} has expired; block it again with b",  # type: ignore[attr-defined]
                            severity="warning")
                return
        entry = row.entry
        self._plan_then_confirm(lambda hosts: self.responder.plan_block([entry], hosts, ttl),
                                list(row.missing))

    # ---- isolate / release ----------------------------------------------------------------

    def action_isolate(self) -> None:
        """``i``: isolate the marked (or selected) hosts."""
        hosts = self._host_targets()
        if hosts and not self._refuse_if_busy(hosts):  # type: ignore[attr-defined]
            self._plan_then_confirm(lambda on: self.responder.plan_isolate(on), hosts)

    def action_release(self) -> None:
        """``r``: release the marked (or selected) hosts."""
        hosts = self._host_targets()
        if hosts and not self._refuse_if_busy(hosts):  # type: ignore[attr-defined]
            self._plan_then_confirm(lambda on: self.responder.plan_release(on), hosts)

    # ---- forensic triage ------------------------------------------------------------------

    def action_collect(self) -> None:
        """``c``: collect triage evidence from the marked (or selected) hosts, in order of
        volatility, into ``triage.evidence_dir/<incident>/<host>/``."""
        hosts = self._host_targets()
        if hosts and not self._refuse_if_busy(hosts):  # type: ignore[attr-defined]
            self._plan_then_confirm(lambda on: self.responder.plan_collect(on), hosts)

    def action_collect_contain(self) -> None:
        """``C``: collect the volatile evidence (network state, processes) first, then isolate
        each host, commit-confirmed; a host whose collection is incomplete is not isolated
        (the result says so and why)."""
        hosts = self._host_targets()
        if hosts and not self._refuse_if_busy(hosts):  # type: ignore[attr-defined]
            self._plan_then_confirm(
                lambda on: self.responder.plan_collect(
                    on, volatile_only=True, then=self.responder.plan_isolate(on)), hosts)

    # ---- drift ---------------------------------------------------------------------------

    def action_reapply(self) -> None:
        """``R``: put back what drifted away (≠) on the marked (or selected) hosts: they are
        read and compared with the incident record, and the first re-apply plan (lost blocks
        first, then a removed isolation) is confirmed like any change; ``R`` again plans
        the next one."""
        hosts = self._host_targets()
        if hosts and not self._refuse_if_busy(hosts):  # type: ignore[attr-defined]
            self._plan_then_confirm(self._reapply_plan, hosts)

    def _reapply_plan(self, hosts: list[str]) -> Plan:
        plans = self.responder.plan_reapply(self.responder.drift(hosts))
        if not plans:
            raise InvalidTargetError(f"nothing to re-apply on {', '.join(hosts)}: no block "
                                     "or isolation was lost", "R re-applies lost blocks and "
                                     "isolations; an entry the record never placed "
                                     "(unrecorded ≠) is unblocked with u, or kept")
        plan = next((p for p in plans if p.steps), plans[0])
        rest = [p for p in plans if p is not plan]
        plan.notes += [f"also to re-apply: {p.summary}" + "".join(
            f"; {h}: {why}" for h, why in p.failed.items()) for p in rest]
        if any(p.steps for p in rest):
            plan.notes.append("press R again after this plan for the next one")
        return plan

    # ---- plan → confirm → execute ---------------------------------------------------------

    def _plan_then_confirm(self, rebuild: Rebuild, hosts: list[str],
                           reopen: Callable[[Problem], None] | None = None) -> None:
        if self.read_only:  # the bindings are gone too; this is the backstop
            self.notify("read-only mode: nothing may change a host", severity="warning")  # type: ignore[attr-defined]
            return
        if self._planning:  # e.g. `i` pressed twice: one confirmation, not two stacked
            self.notify("a plan is already being prepared", severity="warning")  # type: ignore[attr-defined]
            return
        self._planning = True
        self._log("── reading live state to build the plan…")  # type: ignore[attr-defined]
        self._plan_worker(rebuild, hosts, reopen)

    def _planned(self) -> None:
        self._planning = False

    @work(thread=True, group="plan", exit_on_error=False, description="build plan")
    def _plan_worker(self, rebuild: Rebuild, hosts: list[str],
                     reopen: Callable[[Problem], None] | None,
                     then: Callable[[Plan], None] | None = None) -> None:
        """Build the plan in a thread, then confirm it (or hand it to ``then``)."""
        post = self._post  # type: ignore[attr-defined]
        try:
            plan = rebuild(hosts)
        except IrtuiError as exc:
            post("line", f"{ERROR_MARK}{exc.line}")
            if reopen is not None:  # the prompt comes back with what was typed
                problem = Problem("hosts" if isinstance(exc, UnknownHostError) else "targets",
                                  exc.line)
                post("call", lambda: reopen(problem))
        except Exception as exc:
            post("line", f"{ERROR_MARK}internal error while planning: {exc!r}")
        else:
            post("call", lambda: (then or (lambda p: self._confirm(p, rebuild)))(plan))
        finally:  # after the confirmation was pushed (the queue keeps the order)
            post("call", self._planned)

    def _confirm(self, plan: Plan, rebuild: Rebuild) -> None:
        if plan.steps and self._refuse_if_busy(plan.hosts):  # type: ignore[attr-defined]
            return
        for note in plan.notes[:20]:
            self._log(f"note: {note}")  # type: ignore[attr-defined]
        if not plan.steps:
            for host, why in plan.failed.items():
                self._log_error(f"{host}: {why}")  # type: ignore[attr-defined]
            said = [f"{h}: {why}" for h, why in plan.skipped.items()]
            if plan.failed:
                said.append(f"{len(plan.failed)} host(s) refused before any change (above)")
            word = "nothing changed" if plan.failed else "nothing to do"
            self._log(f"── {plan.summary}: {word} — " + "; ".join(said))  # type: ignore[attr-defined]
            return
        screen = ConfirmScreen(plan, typed_confirmation(plan),
                               reason=self._default_reason(),  # type: ignore[attr-defined]
                               capture=self._screenshots_on())  # type: ignore[attr-defined]
        built = time.monotonic()

        def decided(ok: bool | None) -> None:
            if ok and replan.stale(plan, built, time.monotonic()):
                age = replan.PLAN_PROFILE_MAX_AGE
                self._log(f"── the plan was read more than {age:g} s ago and the hosts "  # type: ignore[attr-defined]
                          "may have changed since: reading the hosts again before the "
                          "change…")
                self._planning = True
                reason, shot = screen.reason, screen.screenshot
                self._plan_worker(rebuild, plan.hosts, None, lambda new: self._replanned(
                    plan, new, rebuild, reason, shot))
            elif ok:
                self._confirmed(plan, screen.reason, screen.screenshot)  # type: ignore[attr-defined]
                self._execute(plan, rebuild, screen.screenshot)
            else:
                self._log(f"── cancelled: {plan.summary}")  # type: ignore[attr-defined]
                self.responder.discard(plan)
                self._declined(plan)  # type: ignore[attr-defined]

        self.push_screen(screen, decided)  # type: ignore[attr-defined]

    def _replanned(self, old: Plan, new: Plan, rebuild: Rebuild, reason: str,
                   screenshot: str | None) -> None:
        if replan.outcome(new) != replan.outcome(old):
            self._log("── the hosts changed while the plan waited: "  # type: ignore[attr-defined]
                      "here is the plan as of now")
            self._confirm(new, rebuild)
            return
        self._confirmed(new, reason, screenshot)  # type: ignore[attr-defined]
        self._execute(new, rebuild, screenshot)

    def _execute(self, plan: Plan, rebuild: Rebuild, screenshot: str | None = None) -> None:
        assert not self.read_only
        refused = self.running.start(plan)  # type: ignore[attr-defined]
        if refused:  # a change already runs on one of its hosts
            self.notify(refused, severity="warning", timeout=10,  # type: ignore[attr-defined]
                        markup=False)
            self._log(f"── not started: {refused}")  # type: ignore[attr-defined]
            return
        self._log(f"── {plan.summary}")  # type: ignore[attr-defined]
        for host in plan.hosts:
            self.views[host].running, self.views[host].busy = plan.action, ""
        self.query_one(HostTable).action_clear_marks()  # type: ignore[attr-defined]
        self.query_one(BlockTable).clear_marks()  # type: ignore[attr-defined]
        self.query_one(HostTable).show(list(self.views.values()))  # type: ignore[attr-defined]
        app_cancel: threading.Event = self.cancel  # type: ignore[attr-defined]
        run = Run(plan, LinkedCancel(app_cancel) if plan.action in CANCELLABLE else app_cancel)
        self.runs[id(run)] = run
        self._execute_worker(run, rebuild, screenshot)

    @work(thread=True, group="action", exit_on_error=False, description="run plan")
    def _execute_worker(self, run: Run, rebuild: Rebuild, screenshot: str | None) -> None:
        plan, post = run.plan, self._post  # type: ignore[attr-defined]
        running = self.running  # type: ignore[attr-defined]
        started = time.monotonic()
        done: set[str] = set()
        result: PlanResult | None = None

        def on_event(event: Event) -> None:
            running.observe(event)
            post("event", event)

        try:
            result = self.responder.execute(plan, on_event, run.cancel)
            for r in result.results:
                mark = "✓" if r.ok else "?" if r.outcome is Outcome.INCONCLUSIVE else "✗"
                word = "ok" if r.ok else r.outcome.value
                post("busy", (r.host, f"{mark} {plan.action} {word}"))
                done.add(r.host)
            if screenshot:
                self._keep_screenshot(plan, screenshot)  # type: ignore[attr-defined]
        except IrtuiError as exc:
            post("line", f"{ERROR_MARK}{exc.line}")
        except Exception as exc:
            post("line", f"{ERROR_MARK}internal error while executing: {exc!r}")
        finally:  # never leave a row spinning
            for host in plan.hosts:
                if host not in done:
                    post("busy", (host, f"✗ {plan.action} failed"))
            failed = ([r.host for r in result.results if not r.ok] if result is not None
                      else list(plan.hosts))
            post("line", f"── took {time.monotonic() - started:.2f} s"
                 + (f"; a retries {', '.join(failed)}" if failed else ""))
            post("call", lambda: self._finished(run, rebuild, failed))
            running.finish(plan)  # last: quitting waits for this

    def _finished(self, run: Run, rebuild: Rebuild, failed: list[str]) -> None:
        self.runs.pop(id(run), None)
        if failed:
            self._retry = (rebuild, failed, run.plan.summary)
        if not self._stopping:  # type: ignore[attr-defined]
            self.refresh_state(run.plan.hosts)  # type: ignore[attr-defined]
            self._after_action()  # type: ignore[attr-defined]

    def action_retry(self) -> None:
        """``a``: the last action again, planned afresh on the hosts where it failed."""
        if self._retry is None:
            self.notify("no failed action to retry", severity="warning")  # type: ignore[attr-defined]
            return
        rebuild, failed, summary = self._retry
        self._retry = None
        self._log(f"── retrying on {', '.join(failed)}: {summary}")  # type: ignore[attr-defined]
        self._plan_then_confirm(rebuild, failed)

    def action_cancel_action(self) -> None:
        """``x``: cancel the running block/unblock on the selected host (else the latest
        one); the hosts stop after their current step. Never an isolation."""
        if not self.runs:
            self.notify("no action is running", severity="warning")  # type: ignore[attr-defined]
            return
        host = self.query_one(HostTable).selected_host()  # type: ignore[attr-defined]
        runs = list(self.runs.values())
        run = next((r for r in reversed(runs) if host in r.plan.hosts), runs[-1])
        if run.plan.action not in CANCELLABLE:
            self.notify(f"{run.plan.action} cannot be cancelled: the host's commit-confirm "
                        "and rollback must run to their end", severity="warning")  # type: ignore[attr-defined]
            return
        run.cancel.set()
        self._log(f"── cancel requested: {run.plan.summary} (each host stops after its "  # type: ignore[attr-defined]
                  "current step)")
