"""Snapshot tests of the TUI from Textual's own SVG export (``App.export_screenshot``), kept
small and readable: the committed snapshot is the screen's text, one line per row, then one
style fingerprint per row (colours, weights and backgrounds of every run of cells, hashed).

On a mismatch the assertion shows a diff of the text and the rows whose styles changed, and
writes the actual SVG and snapshot beside the test's tmp dir to look at. Set
``IRTUI_SNAPSHOT_UPDATE=1`` to (re)write the snapshots after a deliberate change.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import os
import re
from pathlib import Path

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"
UPDATE_ENV = "IRTUI_SNAPSHOT_UPDATE"
CELL_WIDTH = 12.2
"""Width of one cell in Rich's SVG export (``char_width`` 0.61 × font size 20)."""
LINE_HEIGHT = 24.4

_STYLE = re.compile(r"\.(terminal-\d+-r\d+) \{ ([^}]*) \}")
_TEXT = re.compile(r'<text class="(terminal-\d+-r\d+)" x="([\d.]+)" y="[\d.]+" '
                   r'textLength="([\d.]+)" clip-path="url\(#terminal-\d+-line-(\d+)\)">'
                   r"(.*?)</text>")
_RECT = re.compile(r'<rect fill="(#[0-9a-fA-F]{6})" x="([\d.]+)" y="([\d.]+)" '
                   r'width="([\d.]+)" height="[\d.]+" shape-rendering="crispEdges"/>')


MASKS = ((re.compile(r"INC-\d{4}-"), "INC-YYYY-"),
         (re.compile(r"\b\d{4}-\d\d-\d\d"), "YYYY-MM-DD"),
         (re.compile(r"\b\d\d:\d\d:\d\d\b"), "hh:mm:ss"))
"""What changes from run to run without being the screen's design: incident ids carry the
year, records carry the time. Replaced by same-width placeholders."""


def svg_to_snapshot(svg: str, width: int, height: int) -> str:
    """The screen in ``svg`` as text rows (``height`` of ``width`` cells, with
    :data:`MASKS` applied) plus one style fingerprint (8 hex digits) per row."""
    styles = dict(_STYLE.findall(svg))
    rows = [[" "] * width for _ in range(height)]
    marks: list[list[str]] = [[] for _ in range(height)]
    for cls, x, length, line, content in _TEXT.findall(svg):
        row, col = int(line), round(float(x) / CELL_WIDTH)
        if row >= height:
            continue
        text = html.unescape(content).replace("\u00a0", " ")
        cells = round(float(length) / CELL_WIDTH)
        for offset, char in enumerate(text[:cells]):
            if col + offset < width:
                rows[row][col + offset] = char
        marks[row].append(f"t{col}+{cells}:{styles.get(cls, '')}")
    for fill, x, y, w in _RECT.findall(svg):
        row = round((float(y) - 1.5) / LINE_HEIGHT)
        if 0 <= row < height:
            marks[row].append(f"b{round(float(x) / CELL_WIDTH)}+"
                              f"{round(float(w) / CELL_WIDTH)}:{fill.lower()}")
    text = ["".join(r).rstrip() for r in rows]
    for pattern, placeholder in MASKS:
        text = [pattern.sub(placeholder, line) for line in text]
    prints = [hashlib.sha256("|".join(sorted(m)).encode()).hexdigest()[:8] for m in marks]
    return "\n".join([*text, "-- styles --", *prints]) + "\n"


def compare(name: str, svg: str, size: tuple[int, int], out_dir: Path) -> None:
    """Compare ``svg`` with the committed snapshot ``name`` (or write it when updating).

    Raises:
        AssertionError: with the text diff and the rows whose styles differ.
    """
    width, height = size
    actual = svg_to_snapshot(svg, width, height)
    path = SNAPSHOT_DIR / f"{name}.txt"
    if os.environ.get(UPDATE_ENV) or not path.exists():
        if not os.environ.get(UPDATE_ENV) and os.environ.get("CI"):
            raise AssertionError(f"snapshot {path} is missing (run with {UPDATE_ENV}=1)")
        SNAPSHOT_DIR.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    if actual == expected:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.svg").write_text(svg, encoding="utf-8")
    (out_dir / f"{name}.txt").write_text(actual, encoding="utf-8")
    want, got = expected.split("-- styles --\n"), actual.split("-- styles --\n")
    diff = "\n".join(difflib.unified_diff(want[0].splitlines(), got[0].splitlines(),
                                          "committed", "now", lineterm="", n=1))
    styled = [str(i) for i, (a, b) in enumerate(zip(want[1].split(), got[1].split(),
                                                     strict=False)) if a != b]
    raise AssertionError(f"snapshot {name} differs (actual SVG and text in {out_dir}; "
                         f"{UPDATE_ENV}=1 rewrites it)\n{diff or '(same text)'}\n"
                         f"rows with other styles: {', '.join(styled) or 'none'}")
