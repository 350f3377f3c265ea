"""Where each attempt's runtime lives and what it is called, and stopping one.

An attempt's runtime (a container, a tmux session, a process) is named after the session and
the attempt, so a later engine finds it again by name; its spool folder is
``<home>/runs/<session>/<attempt>``, the agent's own state ``<home>/sessions/<session>/
agent-state``. `Runtimes` rebuilds a handle from a session's record, labels a runtime as
the store's, fills resource limits from the mode's, and stops a runtime.
"""

from __future__ import annotations

import socket
from pathlib import Path

from .._models import Session, SessionMode
from ..executors._protocol import Resources, RuntimeHandle
from ._context import Context
from ._journal import Journal

__all__ = ["Runtimes", "runtime_name"]


def runtime_name(session_id: str, attempt: int) -> str:
    """The deterministic runtime name of an attempt (container, tmux session, run folder)."""
    return f"scopecraft-{session_id}-{attempt}"


class Runtimes:
    """Names, folders, handles, labels and limits of attempts' runtimes.

    Args:
        ctx: The engine's context.
        journal: Where a stop wakes the session's waiters.
    """

    def __init__(self, ctx: Context, journal: Journal) -> None:
        self._ctx = ctx
        self._journal = journal

    def run_dir(self, session_id: str, attempt: int) -> Path:
        """The attempt's spool folder on the host."""
        return self._ctx.home / "runs" / session_id / str(attempt)

    def state_dir(self, session_id: str) -> Path:
        """The session's agent-state folder on the host (kept across attempts)."""
        return self._ctx.home / "sessions" / session_id / "agent-state"

    def handle_for(self, session: Session) -> RuntimeHandle | None:
        """The current attempt's runtime handle, from the session's record (``None`` before
        a runtime was recorded)."""
        if session.runtime_id is None:
            return None
        return self.handle(session.id, session.attempt, session.runtime_id)

    def handle(self, session_id: str, attempt: int, runtime_id: str = "") -> RuntimeHandle:
        """The handle of an attempt's runtime (``runtime_id`` empty: found by name)."""
        return RuntimeHandle(
            session_id=session_id,
            attempt=attempt,
            runtime_name=runtime_name(session_id, attempt),
            runtime_id=runtime_id,
            run_dir=self.run_dir(session_id, attempt),
        )

    def labels_for(self, session: Session, attempt: int) -> dict[str, str]:
        """Ownership labels of a session's runtime (never secrets)."""
        return {
            "scopecraft.session": session.id,
            "scopecraft.attempt": str(attempt),
            "scopecraft.task": session.task_id,
            "scopecraft.mode": session.mode.value,
            "scopecraft.host": socket.gethostname(),
            "scopecraft.store": self._ctx.storage.store_id,
        }

    @staticmethod
    def resources_for(session: Session) -> Resources:
        """The session's resource limits (its own, filled from its mode's at creation)."""
        return Resources(cpus=session.cpus, memory_mb=session.memory_mb, pids=session.pids)

    def mode_resources(self, mode: SessionMode, explicit: Resources | None) -> Resources:
        """``explicit`` limits, each one not given taken from the mode's configured ones."""
        limits = self._ctx.config.resources.get(mode)
        own = explicit or Resources()
        return Resources(
            cpus=own.cpus if own.cpus is not None else (limits.cpus if limits else None),
            memory_mb=own.memory_mb
            if own.memory_mb is not None
            else (limits.memory_mb if limits else None),
            pids=own.pids if own.pids is not None else (limits.pids if limits else None),
        )

    async def stop(self, session: Session) -> None:
        """Stop the session's current runtime, if it has one (a grace period, then a kill);
        its supervisor records the end and removes it."""
        handle = self.handle_for(session)
        if handle is None:
            return
        executor = self._ctx.plugins.executor(session.executor)
        self._ctx.stopping.add(session.id)
        await executor.stop(handle, grace=self._ctx.config.stop_grace)
        self._journal.wake(session.id)
