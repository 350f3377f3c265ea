"""The engine's streams as commands read them: closing async iterators when a loop leaves
early, and a session's events and log lines read together, in order (``session logs``)."""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ._models import LogEntry
    from .engine import Engine
    from .events import Event

__all__ = ["closing", "session_story"]

T = TypeVar("T")


@asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Yield ``stream`` and close it on the way out (``contextlib.aclosing`` for iterators
    typed as ``AsyncIterator``), so a ``break`` or a cancel never leaves a generator open."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _merged(events: list[Event], logs: list[LogEntry]) -> list[LogEntry | Event]:
    """Events and log lines in the order they were collected, each stream's own order kept.

    A log line and the events read from the lines collected with it are stored together;
    the lines carry the time the batch was collected, the events a moment later, so a line
    goes first when the times are equal.
    """
    keyed_logs = ((entry.ts, 0, entry) for entry in logs)
    keyed_events = ((event.ts, 1, event) for event in events)
    return [item for _, _, item in heapq.merge(keyed_logs, keyed_events, key=lambda k: k[:2])]


async def session_story(
    engine: Engine,
    session_id: str,
    *,
    follow: bool = False,
    events_after: int = 0,
    logs_after: int = 0,
) -> AsyncIterator[list[LogEntry | Event]]:
    """Yield the session's events and log lines together, in order, in batches.

    The first batch is everything stored so far; with ``follow``, each later batch is what
    was stored since, until the session ends (its last lines and events included).

    Args:
        engine: An open engine (the one collecting the session's output, or any other).
        session_id: The session.
        follow: Keep reading until the session ends.
        events_after: Start after this event ``seq``.
        logs_after: Start after this log line ``seq``.

    Raises:
        SessionNotFound: no such session.
    """
    import anyio

    await engine.get_session(session_id)
    first = True
    while True:
        wake = engine._journal.wake_event(session_id, reset=True)
        # The status first: when it has ended, everything it stored is read below.
        ended = (await engine.get_session(session_id)).is_terminal
        async with closing(engine.events(session_id=session_id, after=events_after)) as items:
            events = [event async for event in items]
        logs = await engine.storage.read_logs(session_id, after=logs_after)
        if events:
            events_after = events[-1].seq
        if logs:
            logs_after = logs[-1].seq
        if first or events or logs:
            yield _merged(events, logs)
        first = False
        if not follow or ended:
            return
        with anyio.move_on_after(engine.config.poll_interval):
            await wake.wait()
