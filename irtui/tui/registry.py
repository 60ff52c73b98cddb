"""The one registry of the TUI's actions: every key, what it does, where it works, whether it
changes a host. The app's and the widgets' ``BINDINGS``, the footer's order, the help screen,
the command palette and the README's "Keys" section are all generated from it.

Each entry's ``id`` is the Textual binding id, so ``[keys]`` in the config remaps it
(``App.set_keymap``). ``changes_hosts`` entries disappear in read-only mode, the way k9s's
``--readonly`` removes its mutating commands.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding
from textual.keys import format_key

APP, HOSTS, BLOCKS, LOG, NOTIFY, DIALOG = "app", "hosts", "blocks", "log", "notify", "dialog"
"""Scopes: where a binding lives (the app, a widget); ``notify`` and ``dialog`` are listed
for the help and the README only (the compose pane and the dialogs own those keys)."""


@dataclass(frozen=True)
class ActionSpec:
    """One action of the TUI.

    Attributes:
        id: the stable binding id (``block``, ``blocks.mark``) remappable from ``[keys]``.
        keys: default keys, Textual names, comma-separated (``question_mark,f1``).
        action: the Textual action it runs (``block``, ``tab('hosts')``).
        label: the footer's word for it.
        description: one line for the help screen, the palette and the README.
        scope: :data:`APP`, :data:`HOSTS`, :data:`BLOCKS`, :data:`LOG`, :data:`NOTIFY` or
            :data:`DIALOG`.
        changes_hosts: it changes a host (or starts something that does): absent in
            read-only mode.
        dangerous: it goes through a confirmation showing the plan.
        needs: what it acts on: ``host`` (the marked hosts, else the one under the cursor),
            ``entry`` (the marked blocklist entries, else the selected one), or ``""``.
        tabs: the tabs where it applies (empty: everywhere).
        footer: footer rank: 0 not shown, 1 always kept (Help, Quit); a narrow footer drops
            the highest ranks first.
        palette: offered in the command palette.
        priority: a priority binding (works even while a text field has focus).
        hook: not wired in this build (the lead wires it): listed, never bound.
    """

    id: str
    keys: str
    action: str
    label: str
    description: str
    scope: str = APP
    changes_hosts: bool = False
    dangerous: bool = False
    needs: str = ""
    tabs: tuple[str, ...] = ()
    footer: int = 0
    palette: bool = True
    priority: bool = False
    hook: bool = False


_BLOCKS_TAB = "blocks"


def _tabs() -> tuple[ActionSpec, ...]:
    """``1``/``2``/``3`` switch tabs; ``alt+1``… too, even from a text field."""
    tabs = (("hosts", "Hosts"), ("blocks", "Blocklist"), ("notify", "Notify"))
    plain = tuple(ActionSpec(f"tab.{tab}", str(n), f"tab('{tab}')", label, f"{label} tab")
                  for n, (tab, label) in enumerate(tabs, 1))
    return plain + tuple(
        ActionSpec(f"goto.{tab}", f"alt+{n}", f"tab('{tab}')", label,
                   f"{label} tab, even from a text field", priority=True, palette=False)
        for n, (tab, label) in enumerate(tabs, 1))


def _navigation(scope: str, noun: str) -> tuple[ActionSpec, ...]:
    """The cursor keys shared by the blocklist and the log (``blocks.down``, ``log.up``…)."""
    keys = (("down", "j,down", "cursor_down", "Down", f"next {noun}"),
            ("up", "k,up", "cursor_up", "Up", f"previous {noun}"),
            ("page_down", "pagedown", "cursor_page(1)", "Page down", "a screen down"),
            ("page_up", "pageup", "cursor_page(-1)", "Page up", "a screen up"),
            ("first", "home,g", "cursor_first", "First", f"first {noun}"))
    return tuple(ActionSpec(f"{scope}.{name}", k, action, label, text, scope=scope,
                            palette=False) for name, k, action, label, text in keys)


ACTIONS: tuple[ActionSpec, ...] = (
    # ---- containment -------------------------------------------------------------------
    ActionSpec("block", "b", "block", "Block",
               "block address(es) on hosts (prompt: IOCs, TTL, hosts / @group / all); on "
               "the Blocklist the selected entry is prefilled", changes_hosts=True,
               dangerous=True, needs="host|entry", footer=2),
    ActionSpec("unblock", "u", "unblock", "Unblock",
               "unblock: on the Blocklist the marked (or selected) entries on every host "
               "holding them; elsewhere a prompt", changes_hosts=True, dangerous=True,
               needs="entry", footer=3),
    ActionSpec("isolate", "i", "isolate", "Isolate",
               "isolate the marked (or selected) hosts, commit-confirmed: type the host "
               "name to confirm", changes_hosts=True, dangerous=True, needs="host", footer=4),
    ActionSpec("release", "r", "release", "Release",
               "release the marked (or selected) hosts from isolation (y confirms: it "
               "restores traffic, it cannot cut anyone off)", changes_hosts=True,
               dangerous=True, needs="host", footer=5),
    ActionSpec("unblock_shown", "U", "unblock_shown", "Unblock shown",
               "unblock every entry the Blocklist shows (after the filter) on its hosts",
               changes_hosts=True, dangerous=True, tabs=(_BLOCKS_TAB,), footer=8),
    ActionSpec("complete", "p", "complete", "Complete",
               "complete a partial block (⚠): block the entry on the rest of its group, "
               "with the time left on its copies", changes_hosts=True, dangerous=True,
               needs="entry", tabs=(_BLOCKS_TAB,), footer=9),
    ActionSpec("retry", "a", "retry", "Retry failed",
               "retry the last action on the hosts where it failed (a new plan, confirmed "
               "again)", changes_hosts=True, dangerous=True, footer=10),
    ActionSpec("cancel", "x", "cancel_action", "Cancel run",
               "cancel the running block/unblock on the selected host (the hosts stop after "
               "their current step; an isolation is never cancelled: its rollback must run)",
               changes_hosts=False, footer=11),
    ActionSpec("reapply", "R", "reapply", "Re-apply",
               "re-apply what drifted (≠) on the marked (or selected) hosts: lost blocks, a "
               "removed isolation; one plan at a time, each confirmed",
               changes_hosts=True, dangerous=True, needs="host"),
    ActionSpec("collect", "c", "collect", "Collect",
               "collect forensic triage data from the marked (or selected) hosts",
               changes_hosts=True, needs="host"),
    ActionSpec("collect_contain", "C", "collect_contain", "Collect+contain",
               "collect the volatile triage data, then isolate the marked (or selected) "
               "hosts, commit-confirmed: type the host name to confirm",
               changes_hosts=True, dangerous=True, needs="host"),
    # ---- views -------------------------------------------------------------------------
    *_tabs(),
    ActionSpec("filter", "slash", "filter", "Filter",
               "filter the Blocklist as you type (Enter back to the table, Esc clears)"),
    ActionSpec("log", "l", "focus_log", "Log",
               "go to the log (Enter: a line in full; h: one host; s: streams; Esc back)"),
    ActionSpec("refresh", "ctrl+r", "refresh", "Refresh",
               "read live state from every host now (also polled every ui.refresh_seconds)"),
    # ---- the incident record -------------------------------------------------------------
    ActionSpec("incident", "o", "incident", "Incident",
               "switch to another incident, or open a new one"),
    ActionSpec("timeline", "t", "timeline", "Timeline",
               "the incident's timeline (h: filter by host, a: by action)"),
    ActionSpec("report", "w", "report", "Report",
               "write the incident's report (Markdown + HTML) into the audit directory"),
    # ---- notify ------------------------------------------------------------------------
    ActionSpec("send", "ctrl+s", "send", "Send",
               "Notify tab: send to every channel in Via (each result in the log; a failed "
               "channel offers a retry)"),
    ActionSpec("fill_summary", "ctrl+l", "fill_summary", "Refill",
               "Notify tab: refill subject and body from the template (the draft is replaced)"),
    # ---- always ------------------------------------------------------------------------
    ActionSpec("help", "question_mark,f1", "help", "Help",
               "this help: every key, every symbol, the input syntax", footer=1),
    ActionSpec("quit", "q", "quit", "Quit", "quit irtui (the hosts keep what was applied)",
               footer=1),
    # ---- the host table ------------------------------------------------------------------
    ActionSpec("hosts.down", "j", "cursor_down", "Down", "next host", scope=HOSTS,
               palette=False),
    ActionSpec("hosts.up", "k", "cursor_up", "Up", "previous host", scope=HOSTS,
               palette=False),
    ActionSpec("hosts.mark", "space", "toggle_mark", "Mark",
               "mark/unmark the host, then move down (actions then apply to every marked "
               "host)",
               scope=HOSTS, palette=False, footer=7),
    ActionSpec("hosts.unmark", "escape", "clear_marks", "Unmark", "clear the marks",
               scope=HOSTS, palette=False),
    # ---- the blocklist table -------------------------------------------------------------
    *_navigation(BLOCKS, "entry"),
    ActionSpec("blocks.last", "end,G", "cursor_last", "Last", "last entry", scope=BLOCKS,
               palette=False),
    ActionSpec("blocks.mark", "space", "toggle_mark", "Mark",
               "mark/unmark the entry, then move down (u then unblocks every marked entry)",
               scope=BLOCKS,
               palette=False, footer=7),
    # ---- the log -----------------------------------------------------------------------
    *_navigation(LOG, "line"),
    ActionSpec("log.follow", "end,G", "follow", "Follow",
               "last line, and follow new lines again", scope=LOG, palette=False),
    ActionSpec("log.detail", "enter", "detail", "Detail", "the line under the cursor in full",
               scope=LOG, palette=False, footer=6),
    ActionSpec("log.host", "h", "cycle_host", "Host",
               "show one host's lines only (again: the next host; then all)", scope=LOG,
               palette=False, footer=7),
    ActionSpec("log.streams", "s", "cycle_streams", "Streams",
               "show stdout+stderr / stderr and errors only / stdout only", scope=LOG,
               palette=False, footer=8),
    ActionSpec("log.leave", "escape", "leave", "Back", "back to the table", scope=LOG,
               palette=False),
    # ---- the Notify tab (its compose pane owns these bindings) ---------------------------
    ActionSpec("notify.preview", "ctrl+o", "preview", "Preview",
               "preview the message as each channel will get it", scope=NOTIFY,
               palette=False),
    ActionSpec("notify.secret", "ctrl+g", "store_secret", "Store secret",
               "store a missing secret in the keyring (typed masked)", scope=NOTIFY,
               palette=False),
    ActionSpec("notify.leave", "escape", "leave", "Leave", "leave the fields (1/2/3 work "
               "again; alt+1/2/3 work from inside)", scope=NOTIFY, palette=False),
    # ---- dialogs (help text only) --------------------------------------------------------
    ActionSpec("dialog.confirm", "y", "", "", "confirm a plan (release, block, unblock)",
               scope=DIALOG, palette=False),
    ActionSpec("dialog.cancel", "n,escape", "", "", "cancel a plan or close a dialog",
               scope=DIALOG, palette=False),
    ActionSpec("dialog.typed", "enter", "", "",
               "confirm an isolation or a large prefix once its name is typed",
               scope=DIALOG, palette=False),
    ActionSpec("dialog.commands", "c", "", "",
               "in a plan: show the exact commands (again: back to the summary)",
               scope=DIALOG, palette=False),
    ActionSpec("dialog.scroll", "pageup,pagedown", "", "",
               "scroll a plan or this help (also ↑ ↓ home end), wherever the focus is",
               scope=DIALOG, palette=False),
    ActionSpec("dialog.tab", "tab", "", "", "next field or button", scope=DIALOG,
               palette=False),
    ActionSpec("dialog.drop", "ctrl+t", "", "",
               "in the block prompt: drop the tokens marked as not addresses",
               scope=DIALOG, palette=False),
)

BY_ID = {spec.id: spec for spec in ACTIONS}


def key_display(keys: str) -> str:
    """``question_mark,f1`` → ``?/F1``; ``ctrl+r`` stays ``ctrl+r``; ``slash`` → ``/``."""
    shown = []
    for key in keys.split(","):
        *modifiers, name = key.strip().split("+")
        name = format_key(name)
        if len(name) > 1 and name[0] == "f" and name[1:].isdigit():
            name = name.upper()
        shown.append("+".join([*modifiers, name]))
    return "/".join(shown)


def specs(scope: str = APP, *, read_only: bool = False,
          wired: bool = True) -> list[ActionSpec]:
    """The entries of ``scope``; without ``changes_hosts`` ones when ``read_only``; without
    hooks when ``wired``."""
    return [s for s in ACTIONS if s.scope == scope and not (read_only and s.changes_hosts)
            and not (wired and s.hook)]


def bindings(scope: str) -> list[Binding]:
    """Textual bindings for ``scope`` (every wired entry; read-only mode hides the
    mutating ones at run time through ``check_action``)."""
    return [Binding(s.keys, s.action, s.label, show=s.footer > 0, id=s.id,
                    priority=s.priority) for s in specs(scope)]


def footer_rank(action: str, tab: str = "") -> int:
    """The footer rank of a binding's ``action`` on ``tab`` (see
    :attr:`ActionSpec.footer`): an action made for the tab shown ranks high, a host action
    on the Blocklist low; unknown actions (Textual's own) after every registered one."""
    for spec in ACTIONS:
        if spec.action == action and spec.footer:
            if spec.tabs and tab in spec.tabs:
                return 2
            return spec.footer + (20 if spec.needs == "host" and tab == _BLOCKS_TAB else 0)
    return 99


def current_keys(spec: ActionSpec, keymap: dict[str, str]) -> str:
    """The keys of ``spec`` as shown to the user, after the ``[keys]`` remap."""
    return key_display(keymap.get(spec.id, spec.keys))


SECTIONS: tuple[tuple[str, str], ...] = (
    (APP, "Everywhere"), (HOSTS, "Host table"), (BLOCKS, "Blocklist table"),
    (LOG, "Log (l)"), (NOTIFY, "Notify tab"), (DIALOG, "Dialogs"))


def help_rows(*, read_only: bool = False, keymap: dict[str, str] | None = None,
              palette_key: str = "ctrl+p") -> list[tuple[str, str]]:
    """``(keys, description)`` rows, one section header row (``("", "Title")``) before each
    scope, for the help screen. Hooks not wired yet are left out."""
    keymap = keymap or {}
    rows: list[tuple[str, str]] = []
    for scope, title in SECTIONS:
        rows.append(("", title))
        rows += [(current_keys(s, keymap), s.description)
                 for s in specs(scope, read_only=read_only)]
        if scope == APP:
            rows.append((key_display(palette_key),
                         "command palette: every action, host, group and incident"))
    return rows


def keys_markdown(entries: Iterable[ActionSpec] = ACTIONS) -> str:
    """The README's "Keys" table (every scope, defaults, ``*`` for actions that change a
    host and are absent with ``--read-only``)."""
    lines = ["| where | key | action | id |", "| --- | --- | --- | --- |"]
    titles = dict(SECTIONS)
    for spec in entries:
        if spec.hook:
            continue
        mark = " \\*" if spec.changes_hosts else ""
        keys = key_display(spec.keys).replace("|", "\\|")
        ident = f"`{spec.id}`" if spec.scope != DIALOG else ""
        where = "Blocklist tab" if spec.tabs else titles[spec.scope]
        lines.append(f"| {where} | `{keys}` | {spec.description}{mark} | {ident} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m irtui.tui.registry: the README's Keys table
    print(keys_markdown())
