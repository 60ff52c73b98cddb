"""The Notify tab: compose one message for e-mail and chat channels at once.

Fields: To, Subject, the body, then Cc, the channels ("Via", default every configured one) and
the template. The subject and body are filled from the template with the incident context
(live read-back of every host + the audit records) when the pane opens, refreshed after each
action and each time the tab is shown unless the responder edited them (a draft is never
overwritten), and on demand (ctrl+l, or picking a template).

What is not configured is checked when the tab opens (and at start-up, where a missing
keyring is explained with its two ways out); a missing secret can be stored from here in a
masked field (ctrl+g). ctrl+o previews exactly what each channel would send; ctrl+s sends in a
thread worker and every channel's result goes to the log panel; when a channel failed, its
server reply is shown and a retry of the failed channels only is offered.

Threads never touch widgets: workers post messages, handled on the UI thread.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, TextArea

from irtui.core import secret_backend, secrets
from irtui.core.actions import Responder
from irtui.core.errors import IrtuiError
from irtui.core.notify.dispatch import Outgoing, Preview, configured_channels
from irtui.core.notify.result import ChannelResult, Delivery
from irtui.core.notify.templates import DEFAULT_NAME, pick_template
from irtui.tui.compose_screens import PreviewScreen, RetryScreen, SecretPrompt
from irtui.tui.log_panel import ERROR_MARK

DEFAULT_SUBJECT = "[irtui] containment update"


def _names(text: str) -> list[str]:
    """Channel names: comma- or space-separated."""
    return [n for n in text.replace(",", " ").split() if n]


def _addresses(text: str) -> list[str]:
    """E-mail addresses, comma-separated (a display name may hold spaces)."""
    return [a.strip() for a in text.split(",") if a.strip()]


def result_line(r: ChannelResult) -> str:
    """A log line for one channel's result: ``✓ …`` when sent, else an error line (which the
    app also shows as a toast, so the server's reply is never cut off)."""
    return f"✓ {r.line}" if r.ok else f"{ERROR_MARK}{r.line}"


class ComposePane(Vertical):
    """Compose and send a notification (see the module docstring).

    Args:
        responder: the session's action API (sending, previews, templates, readiness).
    """

    HINT = "ctrl+s send · ctrl+o preview · ctrl+l refill · ctrl+g store secret · esc leave"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Leave the form", show=False, id="notify.leave"),
        Binding("ctrl+o", "preview", "Preview", show=False, id="notify.preview"),
        Binding("ctrl+g", "store_secret", "Store secret", show=False, id="notify.secret"),
    ]

    class LogLines(Message):
        """Lines for the app's log panel (error lines start with ``ERROR_MARK``)."""

        def __init__(self, lines: list[str]) -> None:
            super().__init__()
            self.lines = lines

    class _Filled(Message):
        def __init__(self, subject: str, body: str, force: bool) -> None:
            super().__init__()
            self.subject, self.body, self.force = subject, body, force

    class _Checked(Message):
        def __init__(self, status: secret_backend.KeyringStatus,
                     problems: list[ChannelResult], startup: bool) -> None:
            super().__init__()
            self.status, self.problems, self.startup = status, problems, startup

    class _Sent(Message):
        def __init__(self, out: Outgoing, results: list[ChannelResult]) -> None:
            super().__init__()
            self.out, self.results = out, results

    class _Previewed(Message):
        def __init__(self, previews: list[Preview]) -> None:
            super().__init__()
            self.previews = previews

    def __init__(self, responder: Responder, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.responder = responder
        config = responder.config
        self.template = pick_template(config.notify.templates,
                                      config.notify.default_template).name
        self._filled: tuple[str, str] = (DEFAULT_SUBJECT, "")
        """(subject, body) irtui last put there: a form that differs holds a draft."""
        self._problems: list[ChannelResult] = []
        self._reported: set[str] = set()
        self._sending = False

    def compose(self) -> ComposeResult:
        config = self.responder.config
        with Horizontal(classes="notify-row"):
            yield Label("To:", classes="notify-label")
            yield Input(", ".join(config.email.to), id="notify-to", compact=True,
                        select_on_focus=False, placeholder="e-mail addresses, comma-separated")
        with Horizontal(classes="notify-row"):
            yield Label("Subject:", classes="notify-label")
            yield Input(DEFAULT_SUBJECT, id="notify-subject", compact=True,
                        select_on_focus=False)
        yield TextArea(id="notify-body", soft_wrap=True)
        with Horizontal(classes="notify-row"):
            yield Label("Cc:", classes="notify-label")
            yield Input(", ".join(config.email.cc), id="notify-cc", compact=True,
                        select_on_focus=False, placeholder="e-mail Cc")
            yield Label(" Via:", classes="notify-short")
            yield Input(", ".join(configured_channels(config)), id="notify-channels",
                        compact=True, select_on_focus=False,
                        placeholder="email, chat channel names")
            names = [DEFAULT_NAME, *(t.name for t in config.notify.templates
                                     if t.name != DEFAULT_NAME)]
            yield Select([(n, n) for n in names], value=self.template, allow_blank=False,
                         compact=True, id="notify-template")
        yield Label("checking what is configured…", id="notify-status", markup=False)
        yield Label(self.HINT, id="notify-hint", classes="hint", markup=False)

    def on_mount(self) -> None:
        self.fill_from_template(force=False)  # typed before the fill arrives: kept
        self.check(startup=True)

    def on_show(self) -> None:
        self.check()

    def _log(self, *lines: str) -> None:
        self.post_message(self.LogLines(list(lines)))

    def _status(self, text: str) -> None:
        self.query_one("#notify-status", Label).update(text)

    # ---- filling from the template ----------------------------------------------------------

    def fill_from_template(self, force: bool = True) -> None:
        """Fill subject and body from the chosen template in a worker (it reads every host's
        live state). ``force=False`` keeps a draft: only fields still holding what irtui last
        put there are replaced."""
        self._fill_worker(self.template, force)

    def refill(self) -> None:
        """After an action: refill unless the responder has edited the message."""
        self.fill_from_template(force=False)

    @work(thread=True, group="notify-fill", exit_on_error=False, description="fill template")
    def _fill_worker(self, template: str, force: bool) -> None:
        try:
            subject, body = self.responder.render_template(template)
        except IrtuiError as exc:
            self._log(f"{ERROR_MARK}{exc.line}")
            return
        except Exception as exc:  # never let a surprise kill the TUI
            self._log(f"{ERROR_MARK}internal error while filling the template: {exc!r}")
            return
        self.post_message(self._Filled(subject, body, force))

    @on(_Filled)
    def _apply_fill(self, message: _Filled) -> None:
        subject = self.query_one("#notify-subject", Input)
        body = self.query_one("#notify-body", TextArea)
        if not message.force and (subject.value, body.text) != self._filled:
            return  # a draft: never overwritten by an automatic refill
        subject.value = message.subject
        body.text = message.body
        self._filled = (subject.value, body.text)

    @on(Select.Changed, "#notify-template")
    def _template_picked(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self.template:
            self.template = event.value
            self.fill_from_template(force=True)

    # ---- what is not configured ------------------------------------------------------------

    def _channels(self) -> list[str]:
        return _names(self.query_one("#notify-channels", Input).value)

    @work(thread=True, group="notify-check", exit_on_error=False, description="check notify")
    def _check_worker(self, channels: list[str], startup: bool) -> None:
        status = secret_backend.status()
        try:
            problems = self.responder.notify_problems(channels)
        except IrtuiError as exc:
            problems = [ChannelResult("notify", "-", Delivery.NOT_CONFIGURED, exc.problem,
                                      exc.fix)]
        except Exception as exc:  # never let a surprise kill the TUI
            problems = [ChannelResult("notify", "-", Delivery.NOT_CONFIGURED,
                                      f"internal error: {exc!r}", "")]
        self.post_message(self._Checked(status, problems, startup))

    def check(self, startup: bool = False) -> None:
        """Check (in a worker) what is not configured; shown in the status line and, when it
        changed, in the log with the exact fix."""
        self._check_worker(self._channels(), startup)

    @on(_Checked)
    def _show_check(self, message: _Checked) -> None:
        status = message.status
        config = self.responder.config
        needs_secrets = bool(config.email.username or config.notify.channels)
        if not (message.startup and needs_secrets):
            pass  # a config that needs no secret is not told about the keyring
        elif status.state is secret_backend.KeyringState.NO_BACKEND:
            first, *rest = secret_backend.HEADLESS_HELP
            if config.secrets.dbus_address:  # a named bus: say which, not the generic help
                first, rest = f"{status.problem} — {status.fix}", []
            self._log(f"{ERROR_MARK}{first}", *rest)
        elif status.state is secret_backend.KeyringState.NEEDS_PASSPHRASE:
            self._ask_passphrase()
        self._problems = message.problems
        new = [p for p in message.problems if p.line not in self._reported]
        for p in new:
            self._reported.add(p.line)
        if new:
            self._log(*[f"note: notify: {self._tui_fix(p)}" for p in new])
        if not message.problems:
            self._status("✓ every channel is configured")
            return
        missing = [p.channel for p in message.problems]
        store = " · ctrl+g stores the missing secret" if any(
            p.secret for p in message.problems) else ""
        self._status(f"not configured: {', '.join(missing)} (fix in the log){store}")

    @staticmethod
    def _tui_fix(p: ChannelResult) -> str:
        if p.secret:
            return (f"{p.channel}: {p.detail} — press ctrl+g in the Notify tab to store it "
                    f"(masked), or run: irtui secrets set {p.secret}")
        return p.line

    # ---- secrets ------------------------------------------------------------------------------

    def action_store_secret(self) -> None:
        """ctrl+g: ask for the first missing secret in a masked field and store it."""
        name = next((p.secret for p in self._problems if p.secret), "")
        if not name:
            self.notify("no missing secret to store", severity="information")
            return

        def chosen(value: str | None) -> None:
            if value:
                self._store_worker(name, value)

        self.app.push_screen(SecretPrompt(f"Store secret {name!r} in the keyring (service "
                                          f"{secrets.SERVICE})", "Enter: store · Esc: "
                                          "cancel · the value is never shown or logged"),
                             chosen)

    @work(thread=True, group="notify-secret", exit_on_error=False, description="store secret")
    def _store_worker(self, name: str, value: str) -> None:
        try:
            secrets.set_secret(name, value)
        except IrtuiError as exc:
            self._log(f"{ERROR_MARK}{exc.line}")
        else:
            self._log(f"✓ stored secret {name!r} in the keyring")
        self.post_message(self._Recheck())

    class _Recheck(Message):
        pass

    @on(_Recheck)
    def _recheck(self) -> None:
        self.check()

    def _ask_passphrase(self) -> None:
        def chosen(value: str | None) -> None:
            if value:
                self._unlock_worker(value)
            else:
                self._log(f"{ERROR_MARK}the encrypted keyring file stays locked — "
                          "notifications that need a secret will not be sent")

        self.app.push_screen(SecretPrompt("Passphrase of the irtui keyring file",
                                          "asked once per session · Enter: unlock · "
                                          "Esc: skip"), chosen)

    @work(thread=True, group="notify-secret", exit_on_error=False, description="unlock")
    def _unlock_worker(self, passphrase: str) -> None:
        try:
            secret_backend.unlock_file(passphrase)
        except IrtuiError as exc:
            self._log(f"{ERROR_MARK}{exc.line}")
        else:
            self._log("✓ keyring file unlocked for this session")
        self.post_message(self._Recheck())

    # ---- preview and send ---------------------------------------------------------------------

    def outgoing(self) -> Outgoing:
        """The message in the form."""
        return Outgoing(self.query_one("#notify-subject", Input).value,
                        self.query_one("#notify-body", TextArea).text,
                        tuple(_addresses(self.query_one("#notify-to", Input).value)),
                        tuple(_addresses(self.query_one("#notify-cc", Input).value)))

    def action_preview(self) -> None:
        """ctrl+o: show what each channel would send."""
        self._preview_worker(self.outgoing(), self._channels())

    @work(thread=True, group="notify-preview", exit_on_error=False, description="preview")
    def _preview_worker(self, out: Outgoing, channels: list[str]) -> None:
        try:
            self.post_message(self._Previewed(self.responder.notify_preview(out, channels)))
        except IrtuiError as exc:
            self._log(f"{ERROR_MARK}{exc.line}")

    @on(_Previewed)
    def _show_preview(self, message: _Previewed) -> None:
        self.app.push_screen(PreviewScreen(message.previews))

    def request_send(self, channels: list[str] | None = None) -> None:
        """Send the form's message to ``channels`` (default: the Via field) in a worker."""
        if self._sending:
            self.notify("a message is already being sent", severity="warning")
            return
        if channels is None and self._filling():
            self._status("reading the hosts back for the message… ctrl+s again once filled")
            self.notify("the message is being refilled from the hosts: check it, then ctrl+s",
                        severity="warning", markup=False)
            return
        names = channels if channels is not None else self._channels()
        out = self.outgoing()
        self._sending = True
        self._status(f"sending to {', '.join(names) or 'every configured channel'}…")
        self._log(f"── sending '{out.subject}' to {', '.join(names) or 'every channel'}")
        self._send_worker(out, names)

    def _filling(self) -> bool:
        """An automatic fill is under way and will replace the untouched message: sending
        now would send the state it is about to replace."""
        form = (self.query_one("#notify-subject", Input).value,
                self.query_one("#notify-body", TextArea).text)
        return form == self._filled and any(
            w.group == "notify-fill" and not w.is_finished for w in self.workers)

    @work(thread=True, group="notify", exit_on_error=False, description="send notification")
    def _send_worker(self, out: Outgoing, channels: list[str]) -> None:
        try:
            results = self.responder.notify(out, channels)
        except IrtuiError as exc:
            results = [ChannelResult("notify", "-", Delivery.FAILED, exc.problem, exc.fix)]
        except Exception as exc:  # never let a surprise kill the TUI
            results = [ChannelResult("notify", "-", Delivery.FAILED,
                                     f"internal error while sending: {exc!r}", "")]
        self.post_message(self._Sent(out, results))

    @on(_Sent)
    def _sent(self, message: _Sent) -> None:
        self._sending = False
        results = message.results
        self._log(*[result_line(r) for r in results])
        sent = [r.channel for r in results if r.ok]
        self._status(f"last send: {len(sent)} of {len(results)} channel(s) took it"
                     + (f" ({', '.join(sent)})" if sent else ""))
        failed = [r for r in results if r.delivery is Delivery.FAILED and r.channel != "notify"]
        if any(r.delivery is Delivery.NOT_CONFIGURED for r in results):
            self.check()
        if failed:
            def decided(retry: bool | None) -> None:
                if retry:
                    self.request_send([r.channel for r in failed])

            self.app.push_screen(RetryScreen(failed), decided)

    # ---- focus --------------------------------------------------------------------------------

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#notify-body", TextArea).focus()

    def action_leave(self) -> None:
        """Esc: focus the tab bar (1/2/3, q and ? work again; Tab comes back in)."""
        tabs = self.screen.query("#tabs Tabs")
        if tabs:
            tabs.first().focus()
        else:
            self.screen.set_focus(None)
