"""Reading a tmux pane's piped output: terminal escapes removed, complete lines by byte cursor.

tmux's ``pipe-pane`` copies every byte the agent writes to its terminal into ``pane.log`` in the
attempt's run folder. The bytes are kept as they are; cleaning happens when they are read, so a
cursor is always a byte offset into the raw file and a line is never read twice.

Full-screen programs (Claude Code's interactive UI among them) often draw the gaps between words
with cursor moves instead of spaces (``ESC[9G`` to column 9, ``ESC[1C`` one column on): a line
keeps those gaps as spaces, so it reads as it did on the screen.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._models import LogStream
from .._terminal_hooks import HOOKS_FILE, failure_line, follow_transcript, read_hook_signals

__all__ = ["PANE_LOG", "clean_terminal_line", "read_pane_output"]

PANE_LOG = "pane.log"
"""The raw output of the agent's pane, in the run folder."""

_READ_LIMIT = 4 * 1024 * 1024
# Where a row of the screen ends: a newline, or a move to another row without one (cursor down
# ``ESC[<n>B``, next line ``ESC[<n>E``, index ``ESC D``, next line ``ESC E``, a cursor position
# ``ESC[<row>;<col>H`` or ``f``, a row position ``ESC[<row>d``): full-screen UIs draw without
# newlines, Claude Code's row after row with ``CR ESC[1B``, Codex's each changed run of cells
# after a cursor position, so each run is a line of its own.
_ROW_BREAK = re.compile(rb"\n|\x1b\[[0-9]{0,4}[BEd]|\x1b\[[0-9]{0,4}(?:;[0-9]{0,4})?[Hf]|\x1b[DE]")

_MAX_COLUMN = 10_000
"""No cursor move goes past this column: tmux never makes a window wider, and it bounds the
spaces a hostile ``ESC[999999C`` can add to a line."""

_TOKENS = re.compile(
    r"""
    (?=[\x00-\x1f\x7f-\x9f]) (?:  # every token starts with a control character: a fast scan
    (?:\x1b\[|\x9b) (?P<count>[0-9]*) (?P<final>[CaG`])  # a move right (CUF, HPR, CHA, HPA)
  | (?P<cr>\r) | (?P<tab>\t) | (?P<backspaces>\x08+)
  | (?: (?!(?:\x1b\[|\x9b)[0-9]*[CaG`]) (?:             # a run of what is dropped:
        (?:\x1b\]|\x9d) [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c)?    # OSC ... BEL or ST
      | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f]) .*? (?:\x1b\\|\x9c|$)   # DCS, SOS, PM, APC ... ST
      | (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                       # other CSI: colours, erasures
      | \x1b [ -/]* [0-~]                                         # other escapes: charsets
      | \x1b                                                      # a lone ESC
      | [\x00-\x07\x0a-\x0c\x0e-\x1f\x7f-\x9f]                    # other control characters
    ) )+ )
    """,
    re.VERBOSE | re.DOTALL,
)
"""A line's tokens: a match names what it is by its ``lastgroup`` (``None``: dropped); the text
between two matches is written as it is."""
_FORWARD = frozenset("Ca")  # CUF, HPR: move right by n columns; CHA, HPA move to column n
_TAB = 8


def clean_terminal_line(raw: str) -> str:
    """Return what a line of terminal output says, without escapes or control characters.

    All the line's text is kept, in order. A cursor move to the right becomes spaces before
    the next character written: ``ESC[<n>C`` (and its twin HPR, ``ESC[<n>a``) moves ``n``
    columns on, ``ESC[<n>G`` (and HPA) to column ``n`` when that is further on; no move goes
    past column 10000, and a move after the last character adds nothing. Moves to the left or
    to another row, erasures (``ESC[<n>X`` and ``ESC[K`` leave the cursor where it is, so the
    next character is written where they began), colours, titles, hyperlinks and mode switches
    are removed. A carriage return starts the line over, as on a screen (a spinner's last
    frame is kept); a backspace removes the character or space before it; tabs are kept and
    reach the next multiple of 8 columns; other control characters are dropped. Columns are
    counted as a terminal does: a wide character takes two, a combining mark none.

    Args:
        raw: One line of the pane's output, without its newline.

    Returns:
        The line's text.
    """
    tokens = list(_TOKENS.finditer(raw))
    first = _last_frame(raw, tokens)
    if first < 0:
        return ""
    # Columns matter only up to the last move or tab; the text after it is not measured.
    last_move = max(
        (i for i in range(first, len(tokens)) if tokens[i].lastgroup in ("final", "tab")),
        default=-1,
    )
    pieces: list[str] = []  # the text kept; a piece a backspace reaches is split into characters
    tabs: list[int] = []  # the columns each kept tab takes, for a backspace over it
    width = 0  # the columns ``pieces`` take (while measured)
    pending = 0  # the columns the cursor has moved past the end of ``pieces``

    def write(text: str, measure: bool) -> None:
        nonlocal width, pending
        if pending:
            pieces.append(" " * pending)
            width += pending
            pending = 0
        pieces.append(text)
        if measure:
            width += len(text) if text.isascii() else sum(map(_char_width, text))

    position = tokens[first - 1].end() if first else 0
    for index in range(first, len(tokens)):
        match = tokens[index]
        if match.start() > position:
            write(raw[position : match.start()], index <= last_move)
        position = match.end()
        kind = match.lastgroup
        if kind == "final":
            count = _count(match.group("count"))
            target = width + pending + count if match.group("final") in _FORWARD else count - 1
            pending = max(0, min(target, _MAX_COLUMN - 1) - width)
        elif kind == "tab":
            tab = _TAB - (width + pending) % _TAB
            write("\t", False)
            width += tab
            tabs.append(tab)
        elif kind == "backspaces":
            erase = match.end() - match.start()
            if pending:
                erase, pending = max(0, erase - pending), max(0, pending - erase)
            while erase and pieces:
                last = pieces.pop()
                if len(last) > 1:
                    pieces.extend(last)  # each character is split off once: linear
                    last = pieces.pop()
                erase -= 1
                width -= tabs.pop() if last == "\t" else _char_width(last)
        elif kind == "cr":
            position = len(raw)  # it follows the last character written: nothing more is drawn
            break
    if position < len(raw):
        write(raw[position:], False)
    return "".join(pieces)


def _last_frame(raw: str, tokens: list[re.Match[str]]) -> int:
    """The index of the first token of the line's last frame: the one after the last carriage
    return that some written character follows (0 when none does; -1 when nothing is written).

    What comes before it is drawn over, so it is never interpreted: this also keeps a
    hostile ``\\r ESC[9999C x``, repeated a million times, linear.
    """
    end = len(raw)  # where the text after the current token ends
    written = False
    for index in range(len(tokens) - 1, -1, -1):
        match = tokens[index]
        written = written or match.end() < end
        if written and match.lastgroup == "cr":
            return index + 1
        written = written or match.lastgroup == "tab"
        end = match.start()
    return 0 if written or end > 0 else -1


def _count(digits: str) -> int:
    """The count of a cursor move: 1 when it has none or 0, never more than a move can go."""
    if len(digits) > len(str(_MAX_COLUMN)):
        return _MAX_COLUMN  # huge (and beyond int()'s digit limit): as far as a move goes
    return max(int(digits or 1), 1)


@lru_cache(maxsize=4096)
def _char_width(ch: str) -> int:
    """Columns a character takes on a terminal: 2 when wide, 0 when it combines."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


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
            lines.extend(("stdout", line) for line in _rows(chunk))
            new_cursor["pane"] = offset
    signals, hooks_offset = read_hook_signals(run_dir / HOOKS_FILE, int(new_cursor.get("hooks", 0)))
    if signals:
        for signal in signals:
            lines.append(("system", signal.describe()))
            report = signal.report_line()  # for the agent's parser: cost, refusals, API errors
            if report is not None:
                lines.append(("system", report))
            if signal.event == "SessionStart":
                _follow(new_cursor, run_dir, signal.fields, signal.agent_session_id or "")
        new_cursor["hooks"] = hooks_offset
    transcript = new_cursor.get("transcript")
    if isinstance(transcript, str) and transcript:
        at = int(new_cursor.get("transcript_at", 0))
        failures, new_cursor["transcript_at"] = follow_transcript(Path(transcript), at)
        agent_session = str(new_cursor.get("transcript_session", ""))
        for kind, message in failures:
            # Codex runs no hook when an API error ends its turn: its transcript says so.
            lines.append(("system", f"agent transcript: an API error ended the turn ({kind})"))
            lines.append(("system", failure_line(agent_session, kind, message)))
    return lines, new_cursor


def _follow(cursor: dict[str, Any], run_dir: Path, fields: dict[str, str], session: str) -> None:
    """Follow the transcript a ``SessionStart`` hook named, from where this run's part
    begins, when it lies in the session's own folder (``<home>/sessions/<id>/``, beside the
    run folder ``<home>/runs/<id>/<attempt>``); anything else is not read."""
    path = fields.get("transcript_path", "")
    if not path:
        return
    try:
        own = (run_dir.parents[2] / "sessions" / run_dir.parent.name).resolve()
        found = Path(path).resolve()
        size = int(fields.get("transcript_size", "0"))
    except (OSError, ValueError, IndexError, RuntimeError):
        return
    if not found.is_relative_to(own) or size < 0:
        return
    cursor["transcript"] = str(found)
    cursor["transcript_at"] = size
    cursor["transcript_session"] = session


def _rows(chunk: bytes) -> list[str]:
    """The cleaned lines of ``chunk``: one per row break; a row left blank by a cursor move
    (a full-screen UI's padding) is no line, a blank line ended by a newline is one."""
    rows: list[str] = []
    start = 0
    for found in _ROW_BREAK.finditer(chunk):
        line = clean_terminal_line(chunk[start : found.start()].decode("utf-8", "replace"))
        if line or found.group() == b"\n":
            rows.append(line)
        start = found.end()
    if start < len(chunk):
        rows.append(clean_terminal_line(chunk[start:].decode("utf-8", "replace")))
    return rows


def _complete(data: bytes, final: bool) -> bytes:
    if final and len(data) < _READ_LIMIT:
        return data  # the agent has ended: a last unterminated line counts too
    end = -1
    for found in _ROW_BREAK.finditer(data):
        end = found.end()
    if end < 0:
        if len(data) < _READ_LIMIT:
            return b""  # wait for the rest of the line
        end = len(data)  # one huge line: cut it rather than stall
    return data[:end]
