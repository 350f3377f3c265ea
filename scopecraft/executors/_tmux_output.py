"""Reading a tmux pane's piped output: terminal escapes removed, complete lines by byte cursor.

tmux's ``pipe-pane`` copies every byte the agent writes to its terminal into ``pane.log`` in the
attempt's run folder. The bytes are kept as they are; cleaning happens when they are read, so a
cursor is always a byte offset into the raw file and a line is never read twice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .._models import LogStream
from ._tmux_hooks import HOOKS_FILE, read_hook_signals

__all__ = ["PANE_LOG", "clean_terminal_line", "read_pane_output"]

PANE_LOG = "pane.log"
"""The raw output of the agent's pane, in the run folder."""

_READ_LIMIT = 4 * 1024 * 1024

_ESCAPES = re.compile(
    r"""
    (?:\x1b\]|\x9d) [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c)?    # OSC ... BEL or ST (titles, links)
  | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f]) .*? (?:\x1b\\|\x9c|$)   # DCS, SOS, PM, APC ... ST
  | (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                       # CSI: colours, cursor, modes
  | \x1b [ -/]* [0-~]                                         # other escapes: charsets, keypad
  | \x1b                                                      # a lone ESC
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def clean_terminal_line(raw: str) -> str:
    """Return what a line of terminal output says, without escapes or control characters.

    Escape sequences (colours, cursor moves, titles, hyperlinks, mode switches) are removed; a
    carriage return starts the line over, as on a screen (a spinner's last frame is kept);
    a backspace removes the character before it; other control characters are dropped and
    tabs kept.
    """
    text = _ESCAPES.sub("", raw)
    if "\r" in text:
        text = text.rstrip("\r")
        text = text.rsplit("\r", 1)[-1]
    if "\b" in text:
        kept: list[str] = []
        for ch in text:
            if ch == "\b":
                if kept:
                    kept.pop()
            else:
                kept.append(ch)
        text = "".join(kept)
    return _CONTROLS.sub("", text)


def read_pane_output(
    run_dir: Path, cursor: dict[str, Any] | None, final: bool
) -> tuple[list[tuple[LogStream, str]], dict[str, Any]]:
    """Read complete lines of the pane's log and the agent's hook signals past ``cursor``.

    Args:
        run_dir: The attempt's run folder.
        cursor: ``{"pane": offset, "hooks": offset}`` (other keys are kept as they are).
        final: The agent has ended: a last line without a newline counts too.

    Returns:
        ``(stream, text)`` pairs, the pane's lines on ``stdout`` and the hook signals on
        ``system``, and the new cursor.
    """
    new_cursor: dict[str, Any] = dict(cursor or {})
    lines: list[tuple[LogStream, str]] = []
    offset = int(new_cursor.get("pane", 0))
    try:
        with open(run_dir / PANE_LOG, "rb") as fh:
            fh.seek(offset)
            data = fh.read(_READ_LIMIT)
    except FileNotFoundError:
        data = b""
    if data:
        chunk = _complete(data, final)
        if chunk:
            offset += len(chunk)
            parts = chunk.decode("utf-8", errors="replace").split("\n")
            if parts[-1] == "":
                parts.pop()
            lines.extend(("stdout", clean_terminal_line(part)) for part in parts)
            new_cursor["pane"] = offset
    signals, hooks_offset = read_hook_signals(run_dir / HOOKS_FILE, int(new_cursor.get("hooks", 0)))
    if signals:
        lines.extend(("system", signal.describe()) for signal in signals)
        new_cursor["hooks"] = hooks_offset
    return lines, new_cursor


def _complete(data: bytes, final: bool) -> bytes:
    if final and len(data) < _READ_LIMIT:
        return data  # the agent has ended: a last unterminated line counts too
    end = data.rfind(b"\n")
    if end < 0:
        if len(data) < _READ_LIMIT:
            return b""  # wait for the rest of the line
        end = len(data) - 1  # one huge line: cut it rather than stall
    return data[: end + 1]
