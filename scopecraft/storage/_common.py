"""Rules every built-in store shares, so that SQLite and memory give the same answers.

The fold itself lives in `scopecraft._projection`; this module only assigns ``seq``
values, maps the fold's refusals to the storage errors the protocol promises, and checks the
values a caller hands over (log lines, cursors, limits) before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from scopecraft._errors import DuplicateSession, InvalidTransition
from scopecraft._models import Session
from scopecraft._projection import apply
from scopecraft.events import ENGINE_STREAM, Event, SessionQueued

from ._protocol import LogLine

__all__ = [
    "EPOCH",
    "LOG_STREAMS",
    "MICROSECOND",
    "check_lease_args",
    "check_limit",
    "check_log_line",
    "cursor_matches",
    "dump_cursor",
    "fold_events",
    "from_micros",
    "load_cursor",
    "log_timestamp",
    "stream_error",
    "to_micros",
]

LOG_STREAMS: Final = frozenset({"stdout", "stderr", "system"})

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)


def to_micros(ts: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime (exact, unlike floats).

    Raises:
        TypeError: ``ts`` is naive.
    """
    return (ts - EPOCH) // MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC datetime ``micros`` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=micros)


def fold_events(
    session_id: str,
    session: Session | None,
    events: Sequence[Event],
    last_seq: int,
) -> tuple[Session | None, list[Event]]:
    """Give each event its ``session_id`` and next ``seq``, and fold it into the session.

    Args:
        session_id: The session the events are appended to (or the engine stream).
        session: Its current projection, ``None`` when it does not exist yet.
        events: The events as the caller gave them.
        last_seq: The highest ``seq`` stored for the session so far (0 for none).

    Returns:
        The session after the events (unchanged for the engine stream) and the events as
        they are to be stored.

    Raises:
        DuplicateSession: a ``session_queued`` for a session that exists (or is created
            earlier in the same batch).
        InvalidTransition: an event other than ``session_queued`` for an unknown session, or
            a ``session_queued`` on the engine stream.
    """
    stored: list[Event] = []
    seq = last_seq
    engine_wide = session_id == ENGINE_STREAM
    for event in events:
        seq += 1
        bound = event.model_copy(update={"session_id": session_id, "seq": seq})
        if isinstance(bound, SessionQueued):
            if engine_wide:
                raise InvalidTransition(
                    "session_queued cannot be appended to the engine stream; use a session id"
                )
            if session is not None:
                raise DuplicateSession(
                    f"session {session_id!r} already exists; choose another session id"
                )
        if not engine_wide:
            session = apply(session, bound)
        stored.append(bound)
    return session, stored


def log_timestamp(ts: datetime) -> datetime:
    """Return ``ts`` in UTC.

    Raises:
        ValueError: ``ts`` is naive (has no timezone).
    """
    if ts.tzinfo is UTC:
        return ts
    if ts.utcoffset() is None:
        raise ValueError(f"log line timestamps must be timezone-aware, got {ts!r}")
    return ts.astimezone(UTC)


def check_log_line(line: LogLine) -> datetime:
    """Check a log line before it is stored and return its timestamp in UTC.

    Raises:
        ValueError: an unknown stream or a naive timestamp.
    """
    if line.stream not in LOG_STREAMS:
        raise stream_error(line.stream)
    return log_timestamp(line.ts)


def stream_error(stream: object) -> ValueError:
    """The error for a log line whose stream is not one of `LOG_STREAMS`."""
    return ValueError(f"log stream must be one of {sorted(LOG_STREAMS)}, got {stream!r}")


def dump_cursor(cursor: dict[str, Any]) -> str:
    """Serialise an output cursor as canonical JSON.

    Raises:
        TypeError: the cursor is not a JSON object or holds values JSON cannot represent.
    """
    if not isinstance(cursor, dict):
        raise TypeError(f"a cursor must be a dict (a JSON object), got {type(cursor).__name__}")
    return json.dumps(cursor, sort_keys=True, separators=(",", ":"), allow_nan=False)


def load_cursor(stored: str) -> dict[str, Any]:
    """Read a cursor stored by `dump_cursor()` (a fresh dict on every call)."""
    value: dict[str, Any] = json.loads(stored)
    return value


def cursor_matches(stored: str | None, expected: dict[str, Any] | None) -> bool:
    """Whether the stored cursor (canonical JSON or ``None``) equals ``expected``."""
    if stored is None or expected is None:
        return stored is None and expected is None
    value: Any = json.loads(stored)
    return bool(value == expected)


def check_limit(limit: int | None) -> int:
    """Return ``limit`` as SQLite takes it (``-1`` for no limit).

    Raises:
        ValueError: ``limit`` is negative.
    """
    if limit is None:
        return -1
    if limit < 0:
        raise ValueError(f"limit must be zero or more, got {limit}")
    return limit


def check_lease_args(name: str, holder: str, ttl: float) -> None:
    """Check the arguments of ``acquire_lease``.

    Raises:
        ValueError: an empty name or holder, or a ``ttl`` that is not a positive, finite
            number of seconds.
    """
    if not name or not holder:
        raise ValueError("a lease needs a non-empty name and holder")
    if not 0 < ttl < float("inf"):
        raise ValueError(f"a lease's ttl must be a positive number of seconds, got {ttl}")
