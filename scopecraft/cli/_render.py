"""Rich renderings for people: tables of sessions and tasks that fit the terminal, log and
event lines, and the story of a session (``session logs``) told from its events.

Imported only by commands that print for people (never for ``--json``), so rich loads only
when it is used.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._models import LogEntry, Session, Task
from ..events import Event
from ._fit import GAP, Column, fit_columns, one_line, shorten

__all__ = [
    "STATUS_STYLE",
    "StoryRenderer",
    "age",
    "event_detail",
    "event_line",
    "fitted_table",
    "is_stream_json",
    "log_line",
    "money",
    "print_table",
    "session_detail",
    "sessions_table",
    "status_text",
    "tasks_table",
    "tool_call",
    "when",
]

STATUS_STYLE = {
    "queued": "yellow",
    "starting": "cyan",
    "running": "cyan",
    "awaiting_approval": "magenta",
    "paused": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "bright_black",
}

_STREAM_STYLE = {"stdout": "", "stderr": "red", "system": "bright_black"}


def when(value: datetime | None) -> str:
    """A time in the local zone, to the second; ``-`` for none."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def age(value: datetime | None) -> str:
    """How long ago, compactly: ``42s``, ``5m``, ``3h``, ``2d``; ``-`` for none."""
    if value is None:
        return "-"
    seconds = max(0, int((datetime.now(UTC) - value).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def money(usd: float) -> str:
    """A USD amount with four decimals (agent costs are often below a cent)."""
    return f"${usd:,.4f}"


def status_text(status: str) -> Text:
    """A status word in its colour."""
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _cell(value: str | Text) -> tuple[str, str]:
    """A cell's text on one line, and its style."""
    if isinstance(value, Text):
        return one_line(value.plain), str(value.style or "")
    return one_line(value), ""


def fitted_table(
    columns: Sequence[Column], rows: Iterable[Sequence[str | Text]], *, width: int | None
) -> Table:
    """A table of one-line rows fitted to ``width`` (see `._fit`); ``None``: whole.

    Print it with `print_table()`, which widens the console when the table needs it
    (``--wide``, or ids wider than the terminal), so that rich never cuts an id.
    """
    cells = [[_cell(value) for value in row] for row in rows]
    natural = [
        max([cell_len(column.header), *(cell_len(row[i][0]) for row in cells)])
        for i, column in enumerate(columns)
    ]
    layout = fit_columns(columns, natural, width)
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for index, size in zip(layout.shown, layout.widths, strict=True):
        column = columns[index]
        table.add_column(
            column.header,
            width=size,
            no_wrap=True,
            overflow="ellipsis",
            justify="right" if column.justify == "right" else "left",
            style=column.style or None,
        )
    for row in cells:
        values = []
        for index, size in zip(layout.shown, layout.widths, strict=True):
            text, style = row[index]
            values.append(Text(shorten(text, size, keep_end=columns[index].keep_end), style))
        table.add_row(*values)
    return table


def print_table(out: Console, table: Table) -> None:
    """Print a table from `fitted_table()`, widening ``out`` when the table is wider."""
    total = sum(column.width or 0 for column in table.columns)
    total += GAP * max(0, len(table.columns) - 1)
    if total > out.width:
        out.width = total
    out.print(table)


_SESSION_COLUMNS = {
    "id": Column("ID"),
    "task": Column("TASK", drop=3),
    "mode": Column("MODE", drop=5),
    "status": Column("STATUS"),
    "priority": Column("PRIORITY", drop=7),
    "runs": Column("RUNS ON", drop=8),
    "branch": Column("BRANCH", shrink=True, floor=16, drop=9, keep_end=True),
    "cost": Column("COST", justify="right", drop=4),
    "age": Column("AGE", justify="right", drop=6),
    "error": Column("ERROR", shrink=True, floor=16, drop=10, style="red"),
    "worktree": Column("WORKTREE", shrink=True, floor=16, drop=11, keep_end=True),
}


def sessions_table(
    sessions: Sequence[Session], *, width: int | None = None, wide: bool = False
) -> Table:
    """One row per session: id, task, mode, status, priority, where it runs, branch, cost,
    age, and the error of those that failed.

    Args:
        sessions: The rows.
        width: The terminal's width: ids are kept whole, long columns shortened with an
            ellipsis and the least useful columns left out to fit; ``None``: no limit.
        wide: Show every column whole, the worktree too, whatever ``width`` says.
    """
    keys = [k for k in _SESSION_COLUMNS if k != "worktree" or wide]
    if not any(s.error for s in sessions):
        keys.remove("error")
    rows = []
    for s in sessions:
        values: dict[str, str | Text] = {
            "id": s.id,
            "task": s.task_id,
            "mode": s.mode.value,
            "status": status_text(s.status.value),
            "priority": s.priority.value,
            "runs": f"{s.executor}/{s.agent}",
            "branch": s.branch or "-",
            "cost": money(s.cost_usd),
            "age": age(s.created_at),
            "error": s.error or "",
            "worktree": s.worktree_path or "-",
        }
        rows.append([values[k] for k in keys])
    columns = [_SESSION_COLUMNS[k] for k in keys]
    return fitted_table(columns, rows, width=None if wide else width)


def session_detail(session: Session, *, waiting: tuple[str, str] | None = None) -> Table:
    """Every field of one session, one per line; a queued session's waiting reason too."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("id", session.id),
        ("task", session.task_id),
        ("parent task", session.parent_id or "-"),
        ("mode", session.mode.value),
        ("status", status_text(session.status.value)),
        ("priority", session.priority.value),
        ("executor", session.executor),
        ("agent", session.agent + (f" (model {session.model})" if session.model else "")),
        ("branch", session.branch or "-"),
        ("worktree", session.worktree_path or "-"),
        ("attempt", str(session.attempt)),
        ("agent session", session.agent_session_id or "-"),
        ("cost", money(session.cost_usd)),
        ("created by", session.created_by or "-"),
        ("created", when(session.created_at)),
        ("started", when(session.started_at)),
        ("ended", when(session.ended_at)),
    ]
    if session.image:
        rows.append(("image", session.image))
    if session.permissions is not None and not session.dangerous:
        rows.append(("permissions", Text(session.permissions.value)))
    if session.dangerous:
        rows.append(("permissions", Text("full: permission prompts skipped", style="red")))
    if session.exit_code is not None:
        rows.append(("exit code", str(session.exit_code)))
    if session.error:
        rows.append(("error", Text(session.error, style="red")))
    if waiting is not None:
        reason, detail = waiting
        rows.append(("waiting", f"{reason}: {detail}" if detail else reason))
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def log_line(entry: LogEntry, *, timestamps: bool = False, prefix: str = "") -> Text:
    """One log line; stderr in red, lines the engine added dimmed."""
    text = Text(prefix, style="bright_black")
    if timestamps:
        text.append(entry.ts.astimezone().strftime("%H:%M:%S "), style="bright_black")
    text.append(entry.text, style=_STREAM_STYLE.get(entry.stream, ""))
    return text


_DETAIL_FIELDS = ("text", "reason", "name", "feedback", "status", "message", "runtime_id")


def event_detail(event: Event) -> str:
    """A short human summary of an event's payload."""
    kind = event.type
    get = event.__dict__.get
    if kind == "cost_reported":
        return f"{money(float(get('usd') or 0.0))} (total {money(float(get('total_usd') or 0.0))})"
    if kind == "tool_used":
        summary = get("summary") or ""
        return f"{get('name')} {summary}".strip()
    if kind == "session_waiting":
        detail = get("detail") or ""
        return f"{get('reason')}: {detail}" if detail else str(get("reason"))
    if kind == "changes_recorded":
        files = get("files") or []
        head = str(get("head"))[:10]
        return f"{len(files)} file(s), +{get('insertions')} -{get('deletions')} at {head}"
    if kind == "worktree_prepared":
        return f"{get('branch')} at {get('worktree_path')}"
    if kind == "session_queued":
        return f"task {get('task_id')} on {get('executor')} with {get('agent')}"
    if kind == "error_occurred":
        return f"{get('where')}: {get('message')}"
    if kind in ("session_completed", "session_failed", "session_cancelled") and not get("reason"):
        code = get("exit_code")
        return f"exit code {code}" if code is not None else ""
    for field in _DETAIL_FIELDS:
        value = get(field)
        if value not in (None, "", []):
            return str(value)
    return ""


def event_line(event: Event, *, with_session: bool = False) -> Text:
    """One event as ``HH:MM:SS type detail`` (with the session id when several are mixed)."""
    text = Text(event.ts.astimezone().strftime("%H:%M:%S "), style="bright_black")
    if with_session:
        text.append(f"{event.session_id} ", style="bold")
    style = ""
    for status, colour in STATUS_STYLE.items():
        if event.type == f"session_{status}":
            style = colour
    text.append(event.type, style=style or "cyan")
    detail = event_detail(event)
    if detail:
        text.append(" " + detail)
    return text


def is_stream_json(entry: LogEntry) -> bool:
    """True for a line of the agent's JSON stream (Claude Code's stream-json, Codex's
    ``--json``): the lines its events are read from, which people read as events instead.

    A line on the ``system`` stream (the engine's own) never is; a line that starts like a
    JSON object but was cut short still is.
    """
    if entry.stream == "system":
        return False
    text = entry.text.strip()
    if not text.startswith("{"):
        return False
    if text.startswith('{"'):
        return True
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def tool_call(name: str, summary: str, *, workdirs: Sequence[str] = (), width: int = 100) -> str:
    """A tool use as people read it: ``Write hello.txt``, ``Bash npm test``.

    Args:
        name: The tool's name.
        summary: Its arguments as the agent adapter summarised them.
        workdirs: The worktree's paths (on the host, in a container): a path under one of
            them is shown relative to it.
        width: The most cells the result may take; longer arguments end with an ellipsis.
    """
    args = one_line(summary)
    for folder in sorted((w.rstrip("/") for w in workdirs if w.strip("/")), key=len)[::-1]:
        args = args.replace(folder + "/", "")
        if args == folder:
            args = "."
    if not args:
        return name
    room = max(12, width - cell_len(name) - 1)
    return f"{name} {shorten(args, room)}"


class StoryRenderer:
    """Renders a session's events and log lines as the story people read (``session logs``).

    Agent messages as they were written; tool uses (``▸ Write hello.txt``), tool denials,
    errors, costs, feedback and the outcome on one line each; the log lines that are not
    the agent's JSON stream (standard error, the engine's ``system`` lines, a terminal's
    rows, the output of agents without a JSON stream) as they are. Other events (queued,
    starting, bookkeeping) are left out: ``session events`` shows them.

    Args:
        workdirs: The session's worktree paths, so tool arguments under it are shortened.
        timestamps: Start each line with its time.
        width: The terminal's width, for tool arguments.
    """

    def __init__(
        self, *, workdirs: Sequence[str] = (), timestamps: bool = False, width: int = 100
    ) -> None:
        self.workdirs = tuple(workdirs)
        self.timestamps = timestamps
        self.width = width
        self._last_message = ""

    def render(self, item: LogEntry | Event) -> Text | None:
        """The line(s) for one log entry or event, or ``None`` when it tells people nothing."""
        if isinstance(item, LogEntry):
            if is_stream_json(item):
                return None
            return log_line(item, timestamps=self.timestamps)
        body = self._event(item)
        if body is None:
            return None
        if not self.timestamps:
            return body
        text = Text(item.ts.astimezone().strftime("%H:%M:%S "), style="bright_black")
        text.append_text(body)
        return text

    def _event(self, event: Event) -> Text | None:
        get = event.__dict__.get
        kind = event.type
        if kind == "agent_message":
            message = str(get("text") or "").strip("\n")
            if not message.strip():
                return None
            self._last_message = one_line(message)
            return Text(message)
        if kind == "tool_used":
            line = Text("▸ ", style="cyan")
            line.append(self._tool(event))
            return line
        if kind == "tool_denied":
            line = Text(f"✗ denied {self._tool(event)}", style="yellow")
            reason = one_line(str(get("reason") or ""))
            if reason:
                line.append(": " + shorten(reason, max(20, self.width - len(line.plain) - 2)))
            return line
        if kind == "cost_reported":
            if not float(get("usd") or 0.0):
                return None  # nothing new to pay (a failure's empty report)
            return Text(event_detail(event), style="bright_black")
        if kind == "error_occurred":
            return Text(f"! {get('where')}: {one_line(str(get('message') or ''))}", style="red")
        if kind == "feedback_given":
            pending = "" if get("delivered", True) else " (for the next attempt)"
            return Text(f"» {one_line(str(get('text') or ''))}{pending}", style="magenta")
        if kind == "session_started":
            return Text(f"attempt {get('attempt')} started", style="bright_black")
        if kind == "session_waiting":
            return Text(f"waiting: {event_detail(event)}", style="bright_black")
        if kind == "approval_requested":
            return Text(f"awaiting approval: {get('reason')}", style="magenta")
        if kind == "approval_denied":
            reason = get("reason") or "no reason given"
            return Text(f"approval denied: {reason}", style="red")
        if kind == "session_retry_scheduled":
            return Text(f"↻ attempt {get('attempt')} failed, retrying: {get('reason')}", "yellow")
        if kind == "session_paused":
            return Text(f"paused: {get('reason')}", style="yellow")
        if kind == "changes_recorded":
            files = get("files") or []
            if not files:
                return Text("no changes on the branch", style="bright_black")
            return Text(
                f"changes: {len(files)} file(s), +{get('insertions')} -{get('deletions')} "
                f"(`scopecraft session diff {event.session_id}`)",
                style="bright_black",
            )
        if kind == "session_completed":
            return self._completed(event)
        if kind in ("session_failed", "session_cancelled"):
            word = "✗ failed" if kind == "session_failed" else "cancelled"
            line = Text(word, style=STATUS_STYLE[kind.removeprefix("session_")])
            reason = one_line(str(get("reason") or ""))
            if reason:
                line.append(f": {reason}")
            if get("exit_code") is not None:
                line.append(f" (exit code {get('exit_code')})")
            return line
        return None

    def _tool(self, event: Event) -> str:
        get = event.__dict__.get
        return tool_call(
            str(get("name") or "?"),
            str(get("summary") or ""),
            workdirs=self.workdirs,
            width=self.width - 2,
        )

    def _completed(self, event: Event) -> Text:
        get = event.__dict__.get
        line = Text("✓ completed", style=STATUS_STYLE["completed"])
        result = one_line(str(get("result") or ""))
        if result and result != self._last_message:
            line.append(": " + shorten(result, max(20, self.width - 13)))
        denials = int(get("denials") or 0)
        if denials:
            line.append(f" ({denials} tool use(s) denied)", style="yellow")
        return line


_TASK_COLUMNS = {
    "id": Column("ID"),
    "title": Column("TITLE", shrink=True, floor=20, drop=1),
    "type": Column("TYPE", drop=6),
    "status": Column("STATUS", drop=2),
    "area": Column("AREA", drop=5),
    "priority": Column("PRIORITY", drop=4),
    "parent": Column("PARENT", drop=7),
    "file": Column("FILE", shrink=True, floor=16, drop=8, keep_end=True),
}


def tasks_table(
    tasks: Iterable[Task],
    *,
    width: int | None = None,
    wide: bool = False,
    relative_to: Path | None = None,
) -> Table:
    """One row per task: id, title, type, status, area, priority, parent.

    Args:
        tasks: The rows.
        width: The terminal's width: ids are kept whole, titles shortened with an ellipsis
            and the least useful columns left out to fit; ``None``: no limit.
        wide: Show every column whole, the task's file too, whatever ``width`` says.
        relative_to: Show files relative to this folder when they are in it.
    """
    keys = [k for k in _TASK_COLUMNS if k != "file" or wide]
    rows = []
    for task in tasks:
        path = str(task.path)
        if relative_to is not None:
            with contextlib.suppress(ValueError):
                path = str(Path(task.path).relative_to(relative_to))
        values = {
            "id": task.id,
            "title": task.title,
            "type": task.type,
            "status": task.status,
            "area": task.area,
            "priority": task.priority.value,
            "parent": task.parent_id or "-",
            "file": path,
        }
        rows.append([values[k] for k in keys])
    columns = [_TASK_COLUMNS[k] for k in keys]
    return fitted_table(columns, rows, width=None if wide else width)
