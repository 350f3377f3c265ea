"""``scopecraft top``: the engine's sessions at a glance, grouped by what they need, live.

Three layers, so that what is shown can be tested without a terminal:

- pure functions and values: `group_rows()` sorts sessions into the four groups,
  `table_frame()` and `follow_frame()` draw a frame for a width and a height, `KeyParser`
  turns the bytes a terminal sends into key names, and `TopView` decides what a key does
  (an `Action` for the loop to carry out);
- `SessionWatch` reads the store: the sessions and the last message of each, incrementally;
- the command and its loop: a terminal in cbreak mode, a ``rich.live.Live`` screen, a
  thread-backed key reader and the engine calls.

Only the standard library and typer are imported at module level (``scopecraft --help`` stays
fast); rich and the engine are imported by the functions that use them.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import select
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from ._common import CliState, console, emit_json, run_with_engine, state_of

if TYPE_CHECKING:
    import anyio.abc
    from anyio.streams.memory import MemoryObjectSendStream
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from .._models import Session
    from ..engine import Engine
    from ._fit import Column

__all__ = [
    "DONE_LIMIT",
    "GROUPS",
    "Action",
    "KeyParser",
    "SessionWatch",
    "TopGroup",
    "TopRow",
    "TopView",
    "follow_frame",
    "group_of",
    "group_rows",
    "table_frame",
    "top",
]

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("needs input", ("awaiting_approval", "paused")),
    ("working", ("starting", "running")),
    ("queued", ("queued",)),
    ("done", ("completed", "failed", "cancelled")),
)
"""The groups, in the order they are shown, with the statuses (`SessionStatus` values) each
holds."""

DONE_LIMIT = 10
"""At most this many ended sessions are shown (the most recent)."""

KEYS_HELP = "↑↓/jk select  a attach  f follow  c continue  x cancel  q quit"
_HELD = ("queued", "awaiting_approval", "paused")
_HOLD_EVENTS = ("session_waiting", "approval_requested", "session_paused")
_MARK = "▶ "
"""Before the selected row (and two spaces before every other row)."""


def group_of(status: str) -> str:
    """The group a session of this status is shown in."""
    return next((name for name, statuses in GROUPS if status in statuses), "done")


# -- grouping ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopRow:
    """One session as `top` shows it.

    Attributes:
        session: The session.
        message: Its last message on one line (``""`` when there is none).
        style: The message's rich style (the error of a failed session is red, a reason to
            wait dimmed).
    """

    session: Session
    message: str = ""
    style: str = ""


@dataclass(frozen=True, slots=True)
class TopGroup:
    """One group of rows under its heading.

    Attributes:
        name: ``needs input``, ``working``, ``queued`` or ``done``.
        rows: The rows shown.
        total: How many sessions the group holds (more than ``rows`` when some are left out).
    """

    name: str
    rows: tuple[TopRow, ...]
    total: int


def group_rows(rows: Iterable[TopRow], *, done_limit: int = DONE_LIMIT) -> list[TopGroup]:
    """Sort rows into the four groups, in `GROUPS` order.

    Sessions that have not ended stay oldest first (the order of `session list`); ended ones
    come most recent first (by their end), at most ``done_limit`` of them.

    Args:
        rows: The sessions with their messages, in any order.
        done_limit: The most ended sessions shown.
    """
    by_group: dict[str, list[TopRow]] = {name: [] for name, _ in GROUPS}
    for row in rows:
        by_group[group_of(row.session.status.value)].append(row)
    for name, members in by_group.items():
        if name == "done":
            members.sort(key=lambda r: r.session.ended_at or r.session.updated_at, reverse=True)
        else:
            members.sort(key=lambda r: r.session.created_at)
    groups = []
    for name, members in by_group.items():
        shown = members[: max(0, done_limit)] if name == "done" else members
        groups.append(TopGroup(name, tuple(shown), len(members)))
    return groups


def shown_ids(groups: Sequence[TopGroup]) -> list[str]:
    """The ids of the rows, in the order they are shown (what up and down move through)."""
    return [row.session.id for group in groups for row in group.rows]


def row_for(session: Session, message: str = "", hold: str = "", hold_last: bool = False) -> TopRow:
    """The row of a session: its last agent message, or what it waits for when it is held and
    that came last, or the error of a failed session.

    Args:
        session: The session.
        message: Its last agent message (one line).
        hold: The reason of its last ``session_waiting``, ``approval_requested`` or
            ``session_paused`` event.
        hold_last: The hold came after the last message.
    """
    status = session.status.value
    if status == "failed" and session.error:
        return TopRow(session, session.error, "red")
    if status in _HELD and hold and (hold_last or not message):
        return TopRow(session, hold, "bright_black")
    return TopRow(session, message)


# -- frames ------------------------------------------------------------------------------------


def _columns() -> list[tuple[str, Column]]:
    from ._fit import Column

    # Highest `drop` goes first when the terminal is narrow; the id and the status never go,
    # and the message is shortened before anything is left out.
    return [
        ("id", Column("ID")),
        ("task", Column("TASK", drop=4)),
        ("agent", Column("AGENT", drop=6)),
        ("executor", Column("EXECUTOR", drop=7)),
        ("status", Column("STATUS")),
        ("cost", Column("COST", justify="right", drop=5)),
        ("age", Column("AGE", justify="right", drop=3)),
        ("message", Column("LAST MESSAGE", shrink=True, floor=30, drop=2)),
    ]


def _cells(row: TopRow) -> dict[str, tuple[str, str]]:
    from ._fit import one_line
    from ._render import STATUS_STYLE, age, money

    s = row.session
    status = s.status.value
    return {
        "id": (s.id, "bold"),
        "task": (s.task_id, ""),
        "agent": (s.agent, ""),
        "executor": (s.executor, ""),
        "status": (status, STATUS_STYLE.get(status, "")),
        "cost": (money(s.cost_usd), ""),
        "age": (age(s.created_at), ""),
        "message": (one_line(row.message) or "-", row.style),
    }


def _lines_of_table(groups: Sequence[TopGroup], width: int | None) -> tuple[Text, list[Text]]:
    """The column heading and one line per row (in `shown_ids()` order), fitted to ``width``
    less the selection mark."""
    from rich.cells import cell_len
    from rich.text import Text

    from ._fit import GAP, fit_columns, shorten

    columns = _columns()
    typed = [column for _, column in columns]
    rows = [_cells(row) for group in groups for row in group.rows]
    natural = [
        max([cell_len(column.header), *(cell_len(cells[key][0]) for cells in rows)])
        for (key, _), column in zip(columns, typed, strict=True)
    ]
    room = None if width is None else max(1, width - len(_MARK))
    layout = fit_columns(typed, natural, room)

    def line(values: Sequence[tuple[str, str]]) -> Text:
        text = Text()
        for n, (index, size) in enumerate(zip(layout.shown, layout.widths, strict=True)):
            value, style = values[index]
            cut = shorten(value, size, keep_end=typed[index].keep_end)
            pad = " " * (size - cell_len(cut))
            if n:
                text.append(" " * GAP)
            if typed[index].justify == "right":
                text.append(pad)
                text.append(cut, style)
            else:
                text.append(cut, style)
                # The last column needs no padding.
                if n < len(layout.shown) - 1:
                    text.append(pad)
        return text

    heading = line([(c.header, "bold") for c in typed])
    keys = [key for key, _ in columns]
    body = [line([cells[k] for k in keys]) for cells in rows]
    return heading, body


def _heading(group: TopGroup) -> Text:
    from rich.text import Text

    styles = {"needs input": "bold magenta", "working": "bold cyan", "queued": "bold yellow"}
    text = Text(group.name.upper(), style=styles.get(group.name, "bold green"))
    count = f" ({group.total})"
    if len(group.rows) < group.total:
        count = f" ({group.total}, latest {len(group.rows)})"
    text.append(count, style="bold")
    return text


def table_frame(
    groups: Sequence[TopGroup],
    *,
    width: int | None,
    height: int | None = None,
    selected: str | None = None,
    title: str = "scopecraft top",
    footer: Sequence[Text | str] = (KEYS_HELP,),
) -> Text:
    """The sessions, grouped under their headings, as one block of lines.

    Every row takes one line: the id whole, the last message shortened with an ellipsis, the
    least useful columns left out when the width is short (see `scopecraft.cli._fit`).

    Args:
        groups: From `group_rows()`.
        width: The terminal's width; ``None``: no limit.
        height: The terminal's height: ended sessions are left out first, then the lines
            around the selected row are kept; ``None``: no limit.
        selected: The id of the row marked with ``▶``.
        title: The first line.
        footer: Lines at the bottom (the keys, a notice, a prompt).
    """
    from rich.text import Text

    counts = "  ".join(f"{g.total} {g.name}" for g in groups)
    top_line = Text(title, style="bold")
    top_line.append(f"  {counts}", style="bright_black")
    fixed = 2 + len(groups) + len(footer)
    if height is not None:
        others = sum(len(g.rows) for g in groups if g.name != "done")
        keep = max(0, height - fixed - others)
        groups = [
            TopGroup(g.name, g.rows[:keep], g.total) if g.name == "done" else g for g in groups
        ]
    heading, rows = _lines_of_table(groups, width)
    body: list[Text] = []
    at = -1
    index = 0
    for group in groups:
        body.append(_heading(group))
        for row in group.rows:
            mark = _MARK if row.session.id == selected else " " * len(_MARK)
            if row.session.id == selected:
                at = len(body)
            line = Text(mark, style="bold")
            line.append_text(rows[index])
            if row.session.id == selected:
                line.stylize("reverse", len(_MARK))
            body.append(line)
            index += 1
    if height is not None:
        room = max(1, height - 2 - len(footer))
        if len(body) > room:
            start = min(max(0, at - room // 2), len(body) - room)
            body = body[start : start + room]
    lines = [top_line, Text(" " * len(_MARK)) + heading, *body]
    for extra in footer:
        lines.append(extra if isinstance(extra, Text) else Text(extra, style="bright_black"))
    if width is not None:
        for line in lines:
            line.truncate(width, overflow="ellipsis")
    return Text("\n").join(lines)


def follow_frame(
    session: Session | None,
    session_id: str,
    lines: Sequence[Text],
    *,
    width: int | None,
    height: int | None,
) -> Text:
    """A session's story (as `session logs` tells it) under a title line: the last lines
    that fit ``height``, each cut to ``width``.

    Args:
        session: The session as last read (``None`` before it is).
        session_id: Its id.
        lines: The story's lines so far, one line each.
        width: The terminal's width; ``None``: no limit.
        height: The terminal's height; ``None``: every line.
    """
    from rich.text import Text

    title = Text(f"{session_id}", style="bold")
    if session is not None:
        from ._render import status_text

        title.append(f"  {session.task_id}  ")
        title.append_text(status_text(session.status.value))
    title.append("   Esc/q: back to the list", style="bright_black")
    shown = list(lines)
    if height is not None:
        shown = shown[-max(1, height - 1) :] if shown else []
    if not shown:
        shown = [Text("(nothing yet)", style="bright_black")]
    out = [title, *(line.copy() for line in shown)]
    if width is not None:
        for line in out:
            line.truncate(width, overflow="ellipsis")
    return Text("\n").join(out)


# -- keys --------------------------------------------------------------------------------------

_CSI_KEYS = {"A": "up", "B": "down", "C": "right", "D": "left", "H": "home", "F": "end"}


class KeyParser:
    """Turns what a terminal in cbreak mode sends into key names.

    Printable characters come as themselves (UTF-8 decoded across reads); ``up``, ``down``,
    ``left``, ``right``, ``home``, ``end``, ``enter``, ``esc``, ``backspace`` and ``tab`` by
    name. Other escape sequences and control characters are dropped. An escape at the end of a
    read is the Esc key (a terminal sends a sequence in one write).
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> list[str]:
        """The keys in ``data``."""
        text = self._decoder.decode(data)
        keys: list[str] = []
        i = 0
        while i < len(text):
            char = text[i]
            i += 1
            if char == "\x1b":
                if i >= len(text) or text[i] not in "[O":
                    keys.append("esc")
                    continue
                # CSI (ESC [) or SS3 (ESC O): parameters, then one final letter or `~`.
                j = i + 1
                while j < len(text) and (text[j].isdigit() or text[j] == ";"):
                    j += 1
                if j < len(text):
                    name = _CSI_KEYS.get(text[j])
                    if name:
                        keys.append(name)
                    j += 1
                i = j
            elif char in "\r\n":
                keys.append("enter")
            elif char in "\x7f\x08":
                keys.append("backspace")
            elif char == "\t":
                keys.append("tab")
            elif char.isprintable():
                keys.append(char)
        return keys


@dataclass(frozen=True, slots=True)
class Action:
    """What the loop should do after a key.

    Attributes:
        kind: ``quit``, ``attach``, ``follow``, ``unfollow``, ``continue`` or ``cancel``.
        session_id: The session it is for.
        text: The feedback of ``continue``.
    """

    kind: Literal["quit", "attach", "follow", "unfollow", "continue", "cancel"]
    session_id: str = ""
    text: str = ""


@dataclass(slots=True)
class TopView:
    """What the screen shows and what a key does there, without any input or output.

    Attributes:
        selected: The id of the selected row.
        mode: ``table`` (the list), ``follow`` (a session's log), ``feedback`` (typing the
            feedback of ``c``) or ``confirm`` (the y/n of ``x``).
        target: The session that ``follow``, ``feedback`` or ``confirm`` is about.
        typed: The feedback typed so far.
        notice: A one-line message under the list (what the last action did).
    """

    selected: str | None = None
    mode: Literal["table", "follow", "feedback", "confirm"] = "table"
    target: str = ""
    typed: str = ""
    notice: str = ""
    _index: int = field(default=0, repr=False)

    def sync(self, order: Sequence[str]) -> None:
        """Keep the selection on the same session when the rows change (on the row at the same
        place when it left the list)."""
        if self.selected in order:
            self._index = order.index(self.selected)
        elif order:
            self._index = min(self._index, len(order) - 1)
            self.selected = order[self._index]
        else:
            self._index, self.selected = 0, None

    def handle(self, key: str, order: Sequence[str]) -> Action | None:
        """Apply a key (from `KeyParser`) to the view; return what the loop must do, if anything.

        Args:
            key: The key's name.
            order: The ids of the rows shown, in order.
        """
        self.sync(order)
        if self.mode == "follow":
            if key in ("q", "esc"):
                self.mode = "table"
                return Action("unfollow", self.target)
            return None
        if self.mode == "feedback":
            return self._feedback(key)
        if self.mode == "confirm":
            self.mode = "table"
            if key in ("y", "Y"):
                return Action("cancel", self.target)
            self.notice = f"{self.target} not cancelled"
            return None
        return self._table(key, order)

    def _table(self, key: str, order: Sequence[str]) -> Action | None:
        if key == "q":
            return Action("quit")
        if key in ("up", "k", "down", "j") and order:
            step = -1 if key in ("up", "k") else 1
            self._index = max(0, min(len(order) - 1, self._index + step))
            self.selected = order[self._index]
            return None
        if key not in ("a", "f", "c", "x"):
            return None
        if self.selected is None:
            self.notice = "no session to act on"
            return None
        self.target, self.notice = self.selected, ""
        if key == "a":
            return Action("attach", self.target)
        if key == "f":
            self.mode = "follow"
            return Action("follow", self.target)
        if key == "c":
            self.mode, self.typed = "feedback", ""
        else:
            self.mode = "confirm"
        return None

    def _feedback(self, key: str) -> Action | None:
        if key == "esc":
            self.mode = "table"
            self.notice = f"no feedback sent to {self.target}"
        elif key == "enter":
            self.mode = "table"
            text = self.typed.strip()
            if text:
                return Action("continue", self.target, text)
            self.notice = "empty feedback: nothing sent"
        elif key == "backspace":
            self.typed = self.typed[:-1]
        elif len(key) == 1:
            self.typed += key
        return None

    def footer(self) -> list[Text]:
        """The lines under the list: the keys, then the prompt or the notice."""
        from rich.text import Text

        keys = Text(KEYS_HELP, style="bright_black")
        if self.mode == "feedback":
            prompt = Text(f"feedback for {self.target}: ", style="bold magenta")
            prompt.append(self.typed)
            prompt.append("▏", style="blink")
            prompt.append("  Enter: send  Esc: cancel", style="bright_black")
            return [keys, prompt]
        if self.mode == "confirm":
            return [keys, Text(f"cancel {self.target}? y/n", style="bold red")]
        return [keys, Text(self.notice)]


# -- reading the store -------------------------------------------------------------------------


@dataclass(slots=True)
class _Seen:
    seq: int = 0
    message: str = ""
    message_seq: int = 0
    hold: str = ""
    hold_seq: int = 0


class SessionWatch:
    """Reads the sessions and the last message of each from an open engine, doing little work
    when little changed.

    The sessions that have not ended are listed on every poll; the ended ones only when their
    count changed or one left the list of the others. A session's events are read from where
    the last poll stopped, and only when its ``last_seq`` moved.

    Args:
        engine: An open engine.
        done_limit: The most ended sessions shown.
    """

    def __init__(self, engine: Engine, *, done_limit: int = DONE_LIMIT) -> None:
        self.engine = engine
        self.done_limit = done_limit
        self.sessions: dict[str, Session] = {}
        self._done: list[Session] | None = None
        self._done_count = -1
        self._open_ids: set[str] = set()
        self._seen: dict[str, _Seen] = {}

    async def poll(self) -> list[TopGroup]:
        """Read what changed and return the groups to show."""
        from .._models import TERMINAL_STATUSES

        storage = self.engine.storage
        open_sessions = await self.engine.list_sessions()
        ids = {s.id for s in open_sessions}
        ended = list(TERMINAL_STATUSES)
        count = await storage.count_sessions(statuses=ended)
        if self._done is None or count != self._done_count or self._open_ids - ids:
            self._done = await storage.list_sessions(statuses=ended)
            self._done_count = count
        self._open_ids = ids
        done = sorted(
            (s for s in self._done if s.id not in ids),
            key=lambda s: s.ended_at or s.updated_at,
            reverse=True,
        )[: self.done_limit]
        shown = [*open_sessions, *done]
        self.sessions = {s.id: s for s in shown}
        rows = [await self._row(s) for s in shown]
        self._seen = {s.id: self._seen[s.id] for s in shown}  # forget sessions no longer shown
        return group_rows(rows, done_limit=self.done_limit)

    async def _row(self, session: Session) -> TopRow:
        from .._errors import ScopecraftError
        from .._streams import closing
        from ._fit import one_line
        from ._render import event_detail

        seen = self._seen.setdefault(session.id, _Seen())
        if session.last_seq > seen.seq:
            stream = self.engine.events(session_id=session.id, after=seen.seq)
            with contextlib.suppress(ScopecraftError):
                async with closing(stream) as events:
                    async for event in events:
                        seen.seq = event.seq
                        if event.type == "agent_message":
                            text = one_line(str(getattr(event, "text", "")))
                            if text:
                                seen.message, seen.message_seq = text, event.seq
                        elif event.type in _HOLD_EVENTS:
                            word = event.type.removeprefix("session_").replace("_", " ")
                            seen.hold = f"{word}: {one_line(event_detail(event))}"
                            seen.hold_seq = event.seq
        return row_for(session, seen.message, seen.hold, seen.hold_seq > seen.message_seq)


# -- the live loop -----------------------------------------------------------------------------


class _Terminal:
    """Standard input in cbreak mode (keys arrive one by one, unechoed; Ctrl-C still
    interrupts), put back as it was on `restore()`."""

    def __init__(self, fd: int) -> None:
        import termios

        self.fd = fd
        self._saved = termios.tcgetattr(fd)

    def cbreak(self) -> None:
        import tty

        tty.setcbreak(self.fd)

    def restore(self) -> None:
        import termios

        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)


@contextlib.contextmanager
def _cbreak(fd: int) -> Iterator[_Terminal]:
    terminal = _Terminal(fd)
    terminal.cbreak()
    try:
        yield terminal
    finally:
        terminal.restore()


def _read_ready(fd: int, timeout: float) -> bytes | None:
    """What is waiting on ``fd`` within ``timeout`` seconds (``b""`` at its end), else ``None``;
    never blocks longer, so the thread running it is never stuck."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return None
    return os.read(fd, 1024)


@dataclass
class _Loop:
    """The running screen: the engine, the view, the frames, and the actions of the keys."""

    engine: Engine
    out: Console
    live: Live
    terminal: _Terminal
    interval: float
    watch: SessionWatch
    view: TopView = field(default_factory=TopView)
    groups: list[TopGroup] = field(default_factory=list)
    story: deque[Text] = field(default_factory=lambda: deque(maxlen=5000))
    wake: MemoryObjectSendStream[str] | None = None
    follow_scope: anyio.CancelScope | None = None
    keys_paused: bool = False

    def draw(self) -> None:
        width, height = self.out.size
        if self.view.mode == "follow":
            session = self.watch.sessions.get(self.view.target)
            frame = follow_frame(
                session, self.view.target, list(self.story), width=width, height=height
            )
        else:
            frame = table_frame(
                self.groups,
                width=width,
                height=height,
                selected=self.view.selected,
                footer=self.view.footer(),
            )
        self.live.update(frame, refresh=True)

    def _keys_held(self) -> bool:
        """Keys go to an attached session now, not to this view."""
        return self.keys_paused

    def poke(self) -> None:
        """Ask for a redraw from another task."""
        import anyio

        if self.wake is not None:
            # A full stream already holds a redraw; a closed one has nobody left to draw.
            with contextlib.suppress(
                anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError
            ):
                self.wake.send_nowait("")

    async def run(self) -> None:
        """Refresh and answer keys until q; a cancel or feedback under way is let finish."""
        import anyio

        send, receive = anyio.create_memory_object_stream[str](256)
        self.wake = send
        async with anyio.create_task_group() as actions, anyio.create_task_group() as tg:
            tg.start_soon(self._read_keys, send.clone())
            next_poll = 0.0
            while True:
                if anyio.current_time() >= next_poll:
                    self.groups = await self.watch.poll()
                    self.view.sync(shown_ids(self.groups))
                    next_poll = anyio.current_time() + self.interval
                self.draw()
                key = None
                with anyio.move_on_after(max(0.0, next_poll - anyio.current_time())):
                    key = await receive.receive()
                if not key:
                    continue
                action = self.view.handle(key, shown_ids(self.groups))
                if action is None:
                    continue
                if action.kind == "quit":
                    tg.cancel_scope.cancel()
                    if self.view.notice.endswith("…"):
                        self.view.notice += " (quitting when done)"
                        self.draw()
                    return
                await self._act(action, tg, actions)

    async def _read_keys(self, send: MemoryObjectSendStream[str]) -> None:
        import anyio

        parser = KeyParser()
        async with send:
            while True:
                if self._keys_held():
                    await anyio.sleep(0.05)
                    continue
                data = await anyio.to_thread.run_sync(_read_ready, self.terminal.fd, 0.1)
                if data is None:
                    continue
                if not data:
                    return  # standard input ended: no more keys (Ctrl-C still quits)
                if self._keys_held():
                    continue  # typed for the attached session, read just before it started
                for key in parser.feed(data):
                    await send.send(key)

    async def _act(
        self, action: Action, tg: anyio.abc.TaskGroup, actions: anyio.abc.TaskGroup
    ) -> None:
        """Carry out an action: following in ``tg`` (stopped on quit), cancel and feedback in
        ``actions`` (let finish on quit), attaching right here."""
        import anyio

        sid = action.session_id
        if action.kind == "follow":
            self.story.clear()
            self.follow_scope = anyio.CancelScope()
            tg.start_soon(self._follow, sid, self.follow_scope)
        elif action.kind == "unfollow":
            if self.follow_scope is not None:
                self.follow_scope.cancel()
            self.follow_scope = None
        elif action.kind == "attach":
            await self._attach(sid)
        elif action.kind == "cancel":
            self.view.notice = f"stopping {sid}…"
            actions.start_soon(self._cancel, sid)
        elif action.kind == "continue":
            self.view.notice = f"sending feedback to {sid}…"
            actions.start_soon(self._continue, sid, action.text)

    async def _follow(self, session_id: str, scope: anyio.CancelScope) -> None:
        from rich.text import Text

        from .._errors import ScopecraftError
        from .._streams import closing, session_story
        from ._render import StoryRenderer
        from ._session import _workdirs

        with scope:
            try:
                session = await self.engine.get_session(session_id)
                width = self.out.size.width
                renderer = StoryRenderer(workdirs=_workdirs(self.engine, session), width=width)
                stream = session_story(self.engine, session_id, follow=True)
                async with closing(stream) as batches:
                    async for batch in batches:
                        for item in batch:
                            line = renderer.render(item)
                            if line is not None:
                                self.story.extend(line.split("\n"))
                        self.poke()
                self.story.append(Text("(the session has ended)", style="bright_black"))
            except ScopecraftError as exc:
                self.story.append(Text(f"error: {exc}", style="red"))
            self.poke()

    async def _attach(self, session_id: str) -> None:
        import anyio

        from .._errors import ScopecraftError
        from ._session import _attachable

        try:
            session = await self.engine.get_session(session_id)
            if not _attachable(self.engine, session):
                self.view.notice = (
                    f"cannot attach to {session_id} ({session.mode.value} on "
                    f"{session.executor}): only interactive and dispatch sessions on tmux have "
                    "a terminal; f follows its log"
                )
                return
            argv = await self.engine.attach_command(session_id)
        except ScopecraftError as exc:
            self.view.notice = f"cannot attach to {session_id}: {exc}"
            return
        # A tmux client started inside tmux refuses to nest unless $TMUX is unset; the
        # session's server is not this terminal's, so nesting is what attaching means here.
        env = {k: v for k, v in os.environ.items() if k != "TMUX"}
        self.keys_paused = True
        await anyio.sleep(0.15)  # the key reader's current read ends
        self.live.stop()
        self.terminal.restore()
        try:
            result = await anyio.run_process(
                argv, stdin=None, stdout=None, stderr=None, check=False, env=env
            )
            code = result.returncode
        except OSError as exc:
            code = None
            self.view.notice = f"cannot attach to {session_id}: {exc}"
        finally:
            self.terminal.cbreak()
            self.live.start(refresh=True)
            self.keys_paused = False
        if code is not None:
            self.view.notice = f"back from {session_id}" + (f" (exit {code})" if code else "")

    async def _cancel(self, session_id: str) -> None:
        from .._errors import ScopecraftError

        try:
            done = await self.engine.cancel_session(
                session_id, reason="cancelled from scopecraft top"
            )
            session = await self.engine.get_session(session_id)
            self.view.notice = (
                f"cancelled {session_id}"
                if done
                else f"{session_id} had already ended ({session.status.value}); nothing to cancel"
            )
        except ScopecraftError as exc:
            self.view.notice = f"cannot cancel {session_id}: {exc}"
        self.poke()

    async def _continue(self, session_id: str, feedback: str) -> None:
        from .._errors import ScopecraftError
        from .._streams import closing

        try:
            before = await self.engine.get_session(session_id)
            session = await self.engine.continue_session(session_id, feedback)
            notice = f"feedback recorded for {session_id}"
            stream = self.engine.events(session_id=session_id, after=before.last_seq)
            async with closing(stream) as events:
                async for event in events:
                    if event.type == "feedback_given":
                        notice = (
                            f"feedback delivered to the running agent of {session_id}"
                            if getattr(event, "delivered", False)
                            else f"feedback for {session_id} starts its next attempt when "
                            "this one ends"
                        )
                    if event.type == "session_continued":
                        notice = f"attempt {session.attempt} of {session_id} queued"
            self.view.notice = notice
        except ScopecraftError as exc:
            self.view.notice = f"cannot continue {session_id}: {exc}"
        self.poke()


def _stdin_fd() -> int | None:
    """Standard input's descriptor when it is a terminal keys can be read from."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if os.isatty(fd) else None


def _snapshot_json(groups: Sequence[TopGroup]) -> dict[str, list[dict[str, object]]]:
    return {
        group.name.replace(" ", "_"): [
            {"session": row.session.model_dump(mode="json"), "last_message": row.message}
            for row in group.rows
        ]
        for group in groups
    }


def top(
    ctx: typer.Context,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            help="Any folder of the git repository (the same as the global --repo).",
            show_default=False,
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Print one frame and exit (also when not a terminal).")
    ] = False,
    interval: Annotated[
        float,
        typer.Option("--interval", min=0.1, metavar="SECONDS", help="Seconds between refreshes."),
    ] = 1.0,
) -> None:
    """A live view of the sessions: needs input, working, queued, and the latest done.

    Keys: up/down or j/k select a session; a attaches to it (tmux sessions), f follows its
    log (Esc or q returns), c gives it feedback, x cancels it (y to confirm), q quits. The
    view opens an engine, which drives the queue while it is open, like every command.
    With --json, or when standard output is not a terminal, prints one frame and exits.
    """
    state = state_of(ctx)
    if repo is not None:
        state.repo = repo
    out = console()
    fd = _stdin_fd()
    if once or state.json or not out.is_terminal or fd is None:

        async def snapshot(engine: Engine) -> list[TopGroup]:
            await engine.refresh()
            return await SessionWatch(engine).poll()

        groups = run_with_engine(state, snapshot)
        if state.json:
            emit_json(_snapshot_json(groups))
            return
        frame = table_frame(groups, width=out.width, footer=())
        out.print(frame, soft_wrap=True)
        return
    _live(state, out, fd, interval)


def _live(state: CliState, out: Console, fd: int, interval: float) -> None:
    """Run the screen until q (or Ctrl-C); the terminal is put back either way."""
    from rich.live import Live

    with (
        _cbreak(fd) as terminal,
        Live(console=out, screen=True, auto_refresh=False, redirect_stderr=False) as live,
    ):

        async def go(engine: Engine) -> None:
            await engine.refresh()
            loop = _Loop(engine, out, live, terminal, interval, SessionWatch(engine))
            await loop.run()

        run_with_engine(state, go)
