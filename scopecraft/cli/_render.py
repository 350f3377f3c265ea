"""Rich renderings for people: tables of sessions and tasks, log and event lines.

Imported only by commands that print for people (never for ``--json``), so rich loads only
when it is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from .._events import Event
from .._models import LogEntry, Session, Task

__all__ = [
    "STATUS_STYLE",
    "age",
    "event_detail",
    "event_line",
    "log_line",
    "money",
    "session_detail",
    "sessions_table",
    "status_text",
    "tasks_table",
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


def sessions_table(sessions: Sequence[Session]) -> Table:
    """One row per session: id, task, mode, status, where it runs, branch, cost, age."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("ID", no_wrap=True)
    table.add_column("TASK", overflow="fold")
    table.add_column("MODE", no_wrap=True)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("PRIORITY", no_wrap=True)
    table.add_column("RUNS ON", overflow="fold")
    table.add_column("BRANCH", overflow="fold")
    table.add_column("COST", justify="right", no_wrap=True)
    table.add_column("AGE", justify="right", no_wrap=True)
    for s in sessions:
        table.add_row(
            s.id,
            s.task_id,
            s.mode.value,
            status_text(s.status.value),
            s.priority.value,
            f"{s.executor}/{s.agent}",
            s.branch or "-",
            money(s.cost_usd),
            age(s.created_at),
        )
    return table


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


def tasks_table(tasks: Iterable[Task]) -> Table:
    """One row per task: id, title, type, status, area, priority, parent."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("ID", no_wrap=True)
    table.add_column("TITLE", overflow="fold")
    table.add_column("TYPE")
    table.add_column("STATUS")
    table.add_column("AREA")
    table.add_column("PRIORITY")
    table.add_column("PARENT", overflow="fold")
    for task in tasks:
        table.add_row(
            task.id,
            task.title,
            task.type,
            task.status,
            task.area,
            task.priority.value,
            task.parent_id or "-",
        )
    return table
