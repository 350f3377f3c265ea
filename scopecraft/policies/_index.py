"""``QueueIndex``: queued sessions kept in the order a policy offers them slots.

The scheduler keeps one index for as long as it holds the lease and updates it as sessions
enter and leave the queue, so a decision looks at the head of each lane instead of sorting the
whole queue: deciding at a depth of 10,000 costs about what it costs at a depth of 10.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator

from .._models import Priority, Session, SessionMode, SessionStatus

__all__ = ["QueueIndex", "group_of"]

_Key = tuple[float, str]


def group_of(session: Session) -> str:
    """The fairness group of a session: its team when it has one, else its area."""
    if session.team:
        return f"team:{session.team}"
    return f"area:{session.area or '-'}"


def _key(session: Session) -> _Key:
    return (session.created_at.timestamp(), session.id)


class QueueIndex:
    """Queued sessions by priority lane, then fairness group, then age.

    Args:
        sessions: Sessions to start with (those not ``queued`` are ignored).
    """

    def __init__(self, sessions: Iterable[Session] = ()) -> None:
        self._by_id: dict[str, Session] = {}
        self._lanes: dict[Priority, dict[str, list[_Key]]] = {p: {} for p in Priority}
        self._modes: dict[SessionMode, int] = {}
        for session in sessions:
            self.update(session)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._by_id

    def __iter__(self) -> Iterator[Session]:
        """Oldest first within each priority, highest priority first (strict order)."""
        for prio in Priority:
            groups = self._lanes[prio]
            for _, session_id in heapq.merge(*groups.values()):
                yield self._by_id[session_id]

    def get(self, session_id: str) -> Session | None:
        """The queued session with that id, if any."""
        return self._by_id.get(session_id)

    def modes(self) -> dict[SessionMode, int]:
        """How many sessions of each mode are queued."""
        return {mode: n for mode, n in self._modes.items() if n}

    def update(self, session: Session) -> None:
        """Add, replace or drop ``session`` according to its status."""
        self.remove(session.id)
        if session.status is not SessionStatus.QUEUED:
            return
        self._by_id[session.id] = session
        bisect.insort(
            self._lanes[session.priority].setdefault(group_of(session), []), _key(session)
        )
        self._modes[session.mode] = self._modes.get(session.mode, 0) + 1

    def remove(self, session_id: str) -> None:
        """Drop a session; nothing happens when it is not queued here."""
        session = self._by_id.pop(session_id, None)
        if session is None:
            return
        groups = self._lanes[session.priority]
        name = group_of(session)
        keys = groups[name]
        key = _key(session)
        index = bisect.bisect_left(keys, key)
        if index < len(keys) and keys[index] == key:
            del keys[index]
        if not keys:
            del groups[name]
        self._modes[session.mode] -= 1

    def lanes(self) -> dict[Priority, dict[str, list[_Key]]]:
        """The non-empty lanes: priority to group to ``(created, id)`` keys, oldest first."""
        return {prio: groups for prio, groups in self._lanes.items() if groups}
