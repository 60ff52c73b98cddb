"""The TUI side of the incident record: the current incident in the header, switching to
another or opening one, the timeline, the report key, the reason and the screenshot kept with
each confirmed action, declined plans, and the drill run from the palette.

Every read and write of the record runs in a thread worker (it is a file on disk). A mixin
of :class:`irtui.tui.app.IrtuiApp`; ``self`` is the app.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from irtui.core.errors import IrtuiError
from irtui.core.plan import Plan
from irtui.tui.header import StatusHeader
from irtui.tui.log_panel import ERROR_MARK
from irtui.tui.record_screens import IncidentChoice, IncidentScreen, TimelineScreen

if TYPE_CHECKING:
    from irtui.core.actions import Responder
    from irtui.core.config import Config
    from irtui.core.record import IncidentRecorder
    from irtui.core.record.timeline import Action

DrillRunner = Callable[[Callable[[str], None], Callable[[], str], bool], object]
"""``run(say, capture, auto)``: runs the drill on the practice lab (blocking; provided by
the launcher, since the TUI never imports the lab); ``say`` gets progress lines, ``capture``
returns an SVG of the screen."""
DRILL_PREFIX = "DRILL"
"""Drill incidents' titles start with it: screenshots are on by default for them."""


class RecordView:
    """Incident header, incident switch/open, timeline, report, reasons, screenshots."""

    config: Config
    responder: Responder
    drill: DrillRunner | None

    def _init_record(self) -> None:
        self._incident_title = ""
        self._reason = ""  # the reason last typed, until the incident changes
        self.drill_running = False

    def _recorder(self) -> IncidentRecorder | None:
        from irtui.core.record import IncidentRecorder

        audit = self.responder.audit
        return audit if isinstance(audit, IncidentRecorder) else None

    # ---- header ----------------------------------------------------------------------

    @work(thread=True, group="record", exit_on_error=False, description="read the incident")
    def refresh_incident(self) -> None:
        """Read the current incident and show it in the header."""
        recorder = self._recorder()
        text, title = "no incident (o opens one)", ""
        if recorder is not None:
            try:
                current = recorder.incident_id()
                incident = recorder.register.all().get(current or "")
                if incident is not None:
                    title = incident.title
                    text = f"{incident.id} ({incident.status.value}) · {incident.title}"
            except IrtuiError as exc:
                text = f"record unreadable: {exc.problem}"
        self._post("call", lambda: self._show_incident(text, title))  # type: ignore[attr-defined]

    def _show_incident(self, text: str, title: str) -> None:
        self._incident_title = title
        self.query_one(StatusHeader).incident = text  # type: ignore[attr-defined]

    # ---- reasons, screenshots, declined plans ------------------------------------------

    def _default_reason(self) -> str | None:
        """The confirmation's reason field: the reason last typed in this incident, else
        the incident's title; None when the session keeps no incident record."""
        if self._recorder() is None:
            return None
        return self._reason or self._incident_title

    def _screenshots_on(self) -> bool:
        return self._recorder() is not None and (
            self.config.ui.screenshots or self.drill_running
            or self._incident_title.startswith(DRILL_PREFIX))

    def _confirmed(self, plan: Plan, reason: str, screenshot: str | None) -> None:
        recorder = self._recorder()
        if recorder is None:
            return
        recorder.confirmation = "tui"
        if reason:
            recorder.give_reason(plan, reason)
            self._reason = reason

    @work(thread=True, group="record", exit_on_error=False, description="record declined")
    def _declined(self, plan: Plan) -> None:
        recorder = self._recorder()
        if recorder is not None:
            try:
                recorder.declined(plan)
            except IrtuiError as exc:
                self._post("line", f"{ERROR_MARK}{exc.line}")  # type: ignore[attr-defined]

    def _keep_screenshot(self, plan: Plan, svg: str) -> None:
        """(worker thread) Keep the confirmation's screenshot with the plan's record."""
        recorder = self._recorder()
        if recorder is None:
            return
        incident = recorder.incident_id()
        ours = [r for r in recorder.store.records(incident, kinds=["plan"])
                if r.get("session") == recorder.session and r.get("summary") == plan.summary]
        recorder.screenshot(svg, f"confirmed: {plan.summary}",
                            action_id=ours[-1].seq if ours else None)

    def _after_action(self) -> None:
        self.refresh_incident()
        self._refill_notify()  # type: ignore[attr-defined]

    # ---- incident switch / open ------------------------------------------------------

    def action_incident(self) -> None:
        """``o``: choose another incident or open a new one."""
        self._incidents_worker()

    @work(thread=True, group="record", exit_on_error=False, description="list incidents")
    def _incidents_worker(self) -> None:
        recorder = self._recorder()
        if recorder is None:
            self._post("line", f"{ERROR_MARK}this session keeps no incident record")  # type: ignore[attr-defined]
            return
        try:
            incidents = list(recorder.register.all().values())
            current = recorder.incident_id()
        except IrtuiError as exc:
            self._post("line", f"{ERROR_MARK}{exc.line}")  # type: ignore[attr-defined]
            return
        self._post("call", lambda: self.push_screen(  # type: ignore[attr-defined]
            IncidentScreen(incidents, current), self._incident_chosen))

    def _incident_chosen(self, choice: IncidentChoice | None) -> None:
        if choice is not None:
            self._switch_incident(choice)

    @work(thread=True, group="record", exit_on_error=False, description="switch incident")
    def _switch_incident(self, choice: IncidentChoice) -> None:
        recorder = self._recorder()
        if recorder is None:
            return
        try:
            if choice.incident_id:
                recorder.use(choice.incident_id)
                line = f"── recording in {choice.incident_id} from now on"
            else:
                opened = recorder.register.open(choice.title, choice.severity)
                recorder.use(opened.id)
                line = f"── opened {opened.id} ({choice.severity}): {opened.title}"
        except IrtuiError as exc:
            self._post("line", f"{ERROR_MARK}{exc.line}")  # type: ignore[attr-defined]
            return
        self._post("line", line)  # type: ignore[attr-defined]
        self._post("call", self._incident_changed)  # type: ignore[attr-defined]

    def _incident_changed(self) -> None:
        self._reason = ""  # a new incident: its title is the default reason again
        self._after_action()

    def switch_to(self, incident_id: str) -> None:
        """Record in ``incident_id`` from now on (the palette's incident commands)."""
        self._switch_incident(IncidentChoice(incident_id))

    # ---- timeline and report -----------------------------------------------------------

    def _timeline(self) -> list[Action]:
        from irtui.core.record.timeline import actions_of

        recorder = self._recorder()
        if recorder is None:
            return []
        incident = recorder.incident_id()
        return actions_of(recorder.store.records(incident)) if incident else []

    def action_timeline(self) -> None:
        """``t``: the current incident's timeline, filterable by host and action."""
        self.push_screen(TimelineScreen(self._timeline))  # type: ignore[attr-defined]

    def action_report(self) -> None:
        """``w``: write the current incident's report (Markdown + HTML)."""
        self._log("── writing the incident report…")  # type: ignore[attr-defined]
        self._report_worker()

    @work(thread=True, group="record", exit_on_error=False, description="write report")
    def _report_worker(self) -> None:
        recorder = self._recorder()
        incident = recorder.incident_id() if recorder else None
        if incident is None:
            self._post("line", f"{ERROR_MARK}no incident to report on yet — o opens one")  # type: ignore[attr-defined]
            return
        out = Path(self.config.resolved_audit_dir) / "reports"
        try:
            markdown, html = self.responder.write_report(incident, out)
        except IrtuiError as exc:
            self._post("line", f"{ERROR_MARK}{exc.line}")  # type: ignore[attr-defined]
            return
        self._post("line", f"✓ report of {incident}: {markdown} and {html}")  # type: ignore[attr-defined]
        self.notify(f"report written: {html}", markup=False)  # type: ignore[attr-defined]

    # ---- the drill ---------------------------------------------------------------------

    def run_drill(self, auto: bool) -> None:
        """Run the drill (palette) in a worker; its progress goes to the log, and the TUI
        follows the incident it opens."""
        if self.drill is None or self.drill_running:
            self.notify("the drill is not available here" if self.drill is None  # type: ignore[attr-defined]
                        else "the drill is already running", severity="warning")
            return
        self.drill_running = True
        self._drill_worker(auto)

    @work(thread=True, group="drill", exit_on_error=False, description="drill")
    def _drill_worker(self, auto: bool) -> None:
        recorder = self._recorder()
        seen = recorder.register.current_id() if recorder else None
        assert self.drill is not None

        def say(line: str) -> None:
            nonlocal seen
            self._post("line", f"drill: {line}")  # type: ignore[attr-defined]
            current = recorder.register.current_id() if recorder else None
            if recorder is not None and current and current != seen:
                seen = current  # the drill opened its incident: record in it too
                recorder.use(current)
                self._post("call", self._incident_changed)  # type: ignore[attr-defined]

        def capture() -> str:
            return self.call_from_thread(self.export_screenshot)  # type: ignore[attr-defined]

        try:
            self.drill(say, capture, auto)
        except IrtuiError as exc:
            self._post("line", f"{ERROR_MARK}drill: {exc.line}")  # type: ignore[attr-defined]
        except Exception as exc:
            self._post("line", f"{ERROR_MARK}drill: internal error: {exc!r}")  # type: ignore[attr-defined]
        finally:
            self._post("call", self._drill_done)  # type: ignore[attr-defined]

    def _drill_done(self) -> None:
        self.drill_running = False
        self.refresh_state()  # type: ignore[attr-defined]
        self._after_action()
