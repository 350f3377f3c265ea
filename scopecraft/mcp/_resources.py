"""MCP resources: every session's record and its log, listed, read and subscribed to.

Two resources per session:

- ``scopecraft://sessions/<id>``: the session as JSON (the fields of `Session`,
  as ``session_get`` returns them);
- ``scopecraft://sessions/<id>/log``: the last `LOG_LINES` lines of the agent's output as
  plain text, redacted as the engine stored them (``session_logs`` pages through all of it).

A client that subscribes to either URI of a session that has not ended gets
``notifications/resources/updated`` for it when the session's log grows (log URI) or new events
arrive for it (both URIs). Each subscribed session is watched by one task that polls the
engine's store every ``poll_interval`` seconds and stops when the session ends or the last of
its URIs is unsubscribed; subscribe again to a session continued after it ended.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NoReturn

import anyio
import mcp.types as types
from mcp.shared.exceptions import MCPError

from .._errors import InvalidName, ScopecraftError, SessionNotFound
from .._names import validate_session_id
from .._streams import closing

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from .._models import Session
    from ..engine import Engine

__all__ = [
    "LOG_LINES",
    "LOG_URI_TEMPLATE",
    "PAGE_SIZE",
    "SESSION_URI_TEMPLATE",
    "ResourceRef",
    "ResourceSubscriptions",
    "list_resources",
    "parse_uri",
    "read_resource",
    "resource_templates",
]

log = logging.getLogger("scopecraft.mcp")

SESSION_URI_TEMPLATE = "scopecraft://sessions/{session_id}"
"""The URI template (RFC 6570) of a session's JSON record."""

LOG_URI_TEMPLATE = "scopecraft://sessions/{session_id}/log"
"""The URI template (RFC 6570) of a session's log."""

LOG_LINES = 200
"""How many of a log's last lines a read of its resource returns."""

PAGE_SIZE = 100
"""Sessions per ``resources/list`` page (two resources each)."""

_URI = re.compile(r"scopecraft://sessions/(?P<session_id>[^/?#]*)(?P<log>/log)?")
_MAX_URI = 256  # far longer than any valid URI; longer ones are refused before parsing
_LOG_HINT = "page through the whole log with the session_logs tool"

Notify = Callable[[str], Awaitable[None]]
"""Sends ``notifications/resources/updated`` for one URI to the subscribed client."""


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A parsed, validated resource URI.

    Attributes:
        session_id: The session, a valid session id.
        kind: ``session`` (the JSON record) or ``log``.
    """

    session_id: str
    kind: Literal["session", "log"]

    @property
    def uri(self) -> str:
        """The resource's URI, written the one way the server writes it."""
        return session_uri(self.session_id) if self.kind == "session" else log_uri(self.session_id)


def session_uri(session_id: str) -> str:
    """The URI of a session's JSON record."""
    return SESSION_URI_TEMPLATE.format(session_id=session_id)


def log_uri(session_id: str) -> str:
    """The URI of a session's log."""
    return LOG_URI_TEMPLATE.format(session_id=session_id)


def _shown(uri: str) -> str:
    return repr(uri if len(uri) <= 80 else uri[:80] + "...")


def parse_uri(uri: str) -> ResourceRef:
    """Parse a resource URI, refusing anything but a session's or a log's URI.

    Raises:
        MCPError: ``INVALID_PARAMS`` when the URI is not one of the two forms or the session
            id is not a valid id (``..``, upper case, separators, control characters).
    """
    match = _URI.fullmatch(uri) if len(uri) <= _MAX_URI else None
    if match is None:
        raise MCPError(
            types.INVALID_PARAMS,
            f"unknown resource {_shown(uri)}: the resources are "
            f"{SESSION_URI_TEMPLATE} and {LOG_URI_TEMPLATE}; resources/list lists them",
            {"uri": uri[:_MAX_URI]},
        )
    try:
        session_id = validate_session_id(match["session_id"])
    except InvalidName as exc:
        raise MCPError(
            types.INVALID_PARAMS, f"invalid resource {_shown(uri)}: {exc}", {"uri": uri}
        ) from exc
    return ResourceRef(session_id, "log" if match["log"] else "session")


def _raise_for(exc: Exception, uri: str, doing: str) -> NoReturn:
    """Translate an engine error into the MCP error the client gets (no traceback)."""
    if isinstance(exc, SessionNotFound):
        raise MCPError(
            types.INVALID_PARAMS,
            f"unknown resource {_shown(uri)}: no session {exc.session_id!r} in this store; "
            "resources/list lists the sessions",
            {"uri": uri},
        ) from exc
    if isinstance(exc, ScopecraftError):
        raise MCPError(
            types.INTERNAL_ERROR, f"{doing} {_shown(uri)}: {type(exc).__name__}: {exc}"
        ) from exc
    log.exception("%s %s failed", doing, uri)
    raise MCPError(
        types.INTERNAL_ERROR, f"internal error {doing} {_shown(uri)}: {type(exc).__name__}"
    ) from exc


def resource_templates() -> list[types.ResourceTemplate]:
    """The resource templates: a session's JSON record and its log."""
    return [
        types.ResourceTemplate(
            name="session",
            title="Session",
            uri_template=SESSION_URI_TEMPLATE,
            description="A session as JSON: status, task, branch, worktree, cost, exit code "
            "and error (the fields session_get returns).",
            mime_type="application/json",
        ),
        types.ResourceTemplate(
            name="session-log",
            title="Session log",
            uri_template=LOG_URI_TEMPLATE,
            description=f"The last {LOG_LINES} lines of a session's agent output, redacted; "
            f"{_LOG_HINT}.",
            mime_type="text/plain",
        ),
    ]


def _session_resources(session: Session) -> list[types.Resource]:
    modified = types.Annotations(last_modified=session.updated_at.isoformat())
    label = f"{session.task_id} {session.mode.value} session"
    return [
        types.Resource(
            name=session.id,
            title=f"{label} ({session.status.value})",
            uri=session_uri(session.id),
            description=f"Session {session.id} of task {session.task_id} as JSON.",
            mime_type="application/json",
            annotations=modified,
        ),
        types.Resource(
            name=f"{session.id}/log",
            title=f"Log of the {label}",
            uri=log_uri(session.id),
            description=f"The last {LOG_LINES} lines of session {session.id}'s agent output, "
            "redacted.",
            mime_type="text/plain",
            annotations=modified,
        ),
    ]


async def list_resources(engine: Engine, cursor: str | None = None) -> types.ListResourcesResult:
    """One page of resources: each session's record and log, oldest session first.

    Args:
        engine: The open engine.
        cursor: The previous page's ``next_cursor``; ``None`` for the first page.

    Raises:
        MCPError: ``INVALID_PARAMS`` for a cursor this server did not hand out.
    """
    if cursor is None:
        start = 0
    elif cursor.isascii() and cursor.isdigit() and len(cursor) <= 12:
        start = int(cursor)
    else:
        raise MCPError(
            types.INVALID_PARAMS,
            f"invalid cursor {_shown(cursor)}: pass a next_cursor from resources/list",
        )
    try:
        sessions = await engine.list_sessions(all=True)
    except Exception as exc:
        _raise_for(exc, "scopecraft://sessions", "listing")
    page = sessions[start : start + PAGE_SIZE]
    end = start + len(page)
    return types.ListResourcesResult(
        resources=[r for session in page for r in _session_resources(session)],
        next_cursor=str(end) if end < len(sessions) else None,
    )


async def _log_text(engine: Engine, session_id: str) -> str:
    async with closing(engine.session_logs(session_id, limit=LOG_LINES)) as stream:
        entries = [entry async for entry in stream]
    lines = [entry.text for entry in entries]
    if entries and entries[0].seq > 1:
        lines.insert(0, f"[{entries[0].seq - 1} earlier lines not shown; {_LOG_HINT}]")
    return "".join(line + "\n" for line in lines)


async def read_resource(engine: Engine, uri: str) -> types.ReadResourceResult:
    """Read a session's record (JSON) or the last `LOG_LINES` lines of its log.

    Args:
        engine: The open engine.
        uri: ``scopecraft://sessions/<id>`` or ``scopecraft://sessions/<id>/log``.

    Raises:
        MCPError: ``INVALID_PARAMS`` for a URI that is not one of these or names no session;
            ``INTERNAL_ERROR`` when the store fails.
    """
    ref = parse_uri(uri)
    try:
        if ref.kind == "session":
            session = await engine.get_session(ref.session_id)
            text = json.dumps(session.model_dump(mode="json"), ensure_ascii=False)
            mime_type = "application/json"
        else:
            text = await _log_text(engine, ref.session_id)
            mime_type = "text/plain"
    except Exception as exc:
        _raise_for(exc, uri, "reading")
    return types.ReadResourceResult(
        contents=[types.TextResourceContents(uri=ref.uri, mime_type=mime_type, text=text)]
    )


@dataclass(slots=True)
class _Watch:
    """One watched session: the URIs subscribed to, where to send, and how to stop."""

    session_id: str
    notify: Notify
    uris: set[str] = field(default_factory=set)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class ResourceSubscriptions:
    """The resources a client subscribed to, each running session watched by one task.

    The server keeps one per run (a stdio server serves one client); when several clients
    share it, a session's notifications go to the one that subscribed to it last.

    Args:
        engine: The open engine whose store is polled.
        task_group: Where the watching tasks run; cancelling it stops them all.
        interval: Seconds between two polls of a session (default: the engine's
            ``poll_interval``).
    """

    def __init__(
        self, engine: Engine, task_group: TaskGroup, *, interval: float | None = None
    ) -> None:
        self._engine = engine
        self._task_group = task_group
        self._interval = engine.config.poll_interval if interval is None else interval
        self._watches: dict[str, _Watch] = {}

    @property
    def watched(self) -> frozenset[str]:
        """The ids of the sessions being watched now."""
        return frozenset(self._watches)

    async def subscribe(self, uri: str, notify: Notify) -> None:
        """Send ``notify(uri)`` whenever the resource ``uri`` may have changed.

        Subscribing to a session that has already ended succeeds and sends nothing (it
        does not change until it is continued); subscribing twice is the same as once.

        Raises:
            MCPError: as `read_resource()` does for a bad or unknown URI.
        """
        ref = parse_uri(uri)
        watch = self._watches.get(ref.session_id)
        if watch is None:
            try:
                session = await self._engine.get_session(ref.session_id)
                # Where the log ends now, read before answering: every line after it is news.
                lines = await self._engine.storage.read_logs(ref.session_id)
            except Exception as exc:
                _raise_for(exc, uri, "subscribing to")
            if session.is_terminal:
                return
            watch = self._watches.get(ref.session_id)  # another subscribe may have won the race
            if watch is None:
                watch = _Watch(ref.session_id, notify)
                self._watches[ref.session_id] = watch
                seen_line = lines[-1].seq if lines else 0
                self._task_group.start_soon(self._run, watch, session, seen_line)
        watch.notify = notify
        watch.uris.add(ref.uri)

    def unsubscribe(self, uri: str) -> None:
        """Stop sending notifications for ``uri``; its session's task ends with its last URI.

        Raises:
            MCPError: ``INVALID_PARAMS`` for a URI that is not a resource's URI.
        """
        ref = parse_uri(uri)
        watch = self._watches.get(ref.session_id)
        if watch is None:
            return
        watch.uris.discard(ref.uri)
        if not watch.uris:
            self._stop(watch)

    def _stop(self, watch: _Watch) -> None:
        watch.scope.cancel()
        if self._watches.get(watch.session_id) is watch:
            del self._watches[watch.session_id]

    async def _run(self, watch: _Watch, session: Session, seen_line: int) -> None:
        with watch.scope:
            try:
                await self._follow(watch, session, seen_line)
            except Exception:  # a watch must never end the server; the client can re-subscribe
                log.warning("stopped watching session %s", watch.session_id, exc_info=True)
        self._stop(watch)
        log.debug("no longer watching session %s", watch.session_id)

    async def _follow(self, watch: _Watch, session: Session, seen_line: int) -> None:
        engine, session_id = self._engine, watch.session_id
        seen_events = session.last_seq
        while not session.is_terminal:
            await anyio.sleep(self._interval)
            # The session first, then its log: lines collected before it ended are all read.
            session = await engine.get_session(session_id)
            lines = await engine.storage.read_logs(session_id, after=seen_line)
            changed: set[str] = set()
            if lines:
                seen_line = lines[-1].seq
                changed.add(log_uri(session_id))
            if session.last_seq != seen_events:
                seen_events = session.last_seq
                changed.update((session_uri(session_id), log_uri(session_id)))
            for uri in sorted(changed & watch.uris):
                await watch.notify(uri)
