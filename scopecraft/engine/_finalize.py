"""Finalizing an attempt whose runtime ended: its outcome, the task file, the commit of its
changes, the record archived, a retry or a continue, and the runtime removed (`Finalizer`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

import anyio

from .._errors import ScopecraftError
from .._models import Session, SessionMode, SessionStatus, utcnow
from ..agents._protocol import AgentOutcome, OutputParser
from ..events import (
    AgentMessage,
    ArtifactStored,
    ChangesRecorded,
    ErrorOccurred,
    Event,
    FeedbackGiven,
    SessionCompleted,
    SessionContinued,
    SessionFailed,
    SessionRetryScheduled,
    SessionStarting,
    ToolDenied,
)
from ..executors._protocol import Executor, RuntimeHandle, RuntimeState, RuntimeStatus
from ._context import Context
from ._journal import Journal
from ._tasks import Tasks

__all__ = ["Finalizer"]

log = logging.getLogger("scopecraft.engine")

_HALTED = (SessionStatus.PAUSED, SessionStatus.AWAITING_APPROVAL)
_PLAN_AGAIN = "Your plan could not be used:"


class Finalizer:
    """Ends an attempt whose runtime has ended.

    Args:
        ctx: The engine's context.
        journal: Where the end is recorded.
        tasks: The task whose file records the end.
        archive: Archives an ending session's record (with the events about to be stored).
        ended: What follows a session's end (the cleanup policy).
        state_dir: A session's agent-state folder on the host.
    """

    def __init__(
        self,
        ctx: Context,
        *,
        journal: Journal,
        tasks: Tasks,
        archive: Callable[[str, Sequence[Event]], Awaitable[None]],
        ended: Callable[[str], Awaitable[None]],
        state_dir: Callable[[str], Path],
    ) -> None:
        self._ctx = ctx
        self._journal = journal
        self._tasks = tasks
        self._archive = archive
        self._ended = ended
        self._state_dir = state_dir

    async def _state_events(self, session_id: str, parser: OutputParser) -> list[Event]:
        """What the agent's state folder tells that its output did not (`state_events()`);
        a parser that fails there costs the attempt nothing but those events."""
        folder = self._state_dir(session_id)
        try:
            return list(await anyio.to_thread.run_sync(parser.state_events, folder))
        except Exception:  # the agent's files are not the engine's to fail on
            log.exception("reading the agent state of session %s failed", session_id)
            return []

    async def finalize(
        self,
        session_id: str,
        executor: Executor,
        handle: RuntimeHandle,
        parser: OutputParser,
        state: RuntimeState,
    ) -> None:
        found = await self._state_events(session_id, parser)
        pending_events, outcome = parser.finish(state.exit_code)
        session = await self._ctx.storage.get_session(session_id)
        events: list[Event] = [*found, *pending_events]
        terminal: Event | None = None
        note: str
        if session.attempt != handle.attempt:
            note = f"attempt {handle.attempt} ended; attempt {session.attempt} follows"
        elif session.is_terminal or session.status in _HALTED:
            note = session.status.value + (f": {session.error}" if session.error else "")
        elif state.status is RuntimeStatus.MISSING:
            reason = (
                f"the runtime vanished before its exit was recorded ({state.detail or 'no detail'})"
            )
            terminal = SessionFailed(
                session_id=session_id, attempt=handle.attempt, reason=reason, retryable=True
            )
            note = f"failed: {reason}"
        else:
            denials = session.denials + sum(isinstance(e, ToolDenied) for e in events)
            terminal, note = _outcome_event(
                session_id,
                handle.attempt,
                state.exit_code,
                outcome,
                state.detail,
                interrupted=state.interrupted,
                denials=denials,
                fail_denied=self._ctx.config.on_tool_denied == "fail",
            )
            if session.mode is SessionMode.PLANNING and isinstance(terminal, SessionCompleted):
                terminal, note, follow_up = await self._check_plan(session, terminal, events)
                if follow_up is not None:
                    events.append(terminal)
                    terminal = follow_up
        task = await self._tasks.get_or_none(session.task_id)
        if task is not None and session.worktree_path:
            # A completed session marks its task done, on its branch (the commit below keeps
            # it), unless its status is no longer the open one set at the start: the agent
            # may have chosen `blocked` or `reviewing`. A plan does not finish a task.
            planning = session.mode is SessionMode.PLANNING
            done = isinstance(terminal, SessionCompleted) and not planning
            events.extend(
                await self._tasks.touch(
                    session,
                    task,
                    Path(session.worktree_path),
                    status="done" if done else None,
                    note=note,
                )
            )
        if session.worktree_path:
            try:
                summary = await self._ctx.worktrees.record_changes(
                    Path(session.worktree_path),
                    message=self._ctx.config.commit_message.format(
                        session_id=session_id, task_id=session.task_id, attempt=handle.attempt
                    ),
                )
                events.append(
                    ChangesRecorded(
                        session_id=session_id,
                        head=summary.head,
                        committed=summary.committed,
                        files=list(summary.files),
                        insertions=summary.insertions,
                        deletions=summary.deletions,
                    )
                )
            except ScopecraftError as exc:
                events.append(
                    ErrorOccurred(session_id=session_id, where="record_changes", message=str(exc))
                )
                gone = not await anyio.Path(session.worktree_path).is_dir()
                if gone and isinstance(terminal, SessionCompleted):
                    terminal = SessionFailed(
                        session_id=session_id,
                        attempt=handle.attempt,
                        exit_code=terminal.exit_code,
                        reason=f"the worktree {session.worktree_path} was deleted while the "
                        "session ran, so none of its work could be recorded",
                    )
        if terminal is not None:
            events.append(terminal)
            if isinstance(terminal, SessionFailed):
                events.extend(self._retry(session, terminal))
        ends = terminal is not None and not isinstance(
            events[-1], SessionContinued | SessionRetryScheduled
        )
        if ends and not session.is_terminal:
            # Archived before the end is stored: whoever sees the session ended sees its record.
            await self._archive(session_id, events)
        await self._journal.append(session_id, events)
        if session.is_terminal and session.attempt == handle.attempt:
            await self._archive(session_id, ())  # cancelled while it ran: now complete
        if ends or session.is_terminal:
            await self._ended(session_id)
            # Its output is all collected: the secrets file has served (a later continue
            # writes it again from the process that launches it).
            await self._journal.forget_session_secrets(session_id)
        if isinstance(terminal, SessionCompleted | SessionFailed):
            await self._continue_if_feedback(session_id, handle.attempt)
        if events and isinstance(events[-1], SessionRetryScheduled):
            self._ctx.wake_scheduler()
        try:
            with anyio.CancelScope(shield=True):  # an exited runtime is never left behind
                await executor.remove(handle)
        except ScopecraftError as exc:
            await self._journal.append(
                session_id, [ErrorOccurred(session_id=session_id, where="remove", message=str(exc))]
            )

    async def _check_plan(
        self, session: Session, completed: SessionCompleted, pending: list[Event]
    ) -> tuple[Event, str, Event | None]:
        """Validate a planning attempt's plan: store it, or ask again, or fail.

        Returns:
            The event that ends the attempt, a note for the task log, and an event that
            follows it (a continue asking for a valid plan) or ``None``.
        """
        from .._plan import PlanInvalid, extract_plan

        stored = await self._ctx.storage.read_events(session.id)
        events = [item.event for item in stored] + pending
        last_start = max(
            (i for i, e in enumerate(events) if isinstance(e, SessionStarting)), default=-1
        )
        texts = [e.text for e in events[last_start + 1 :] if isinstance(e, AgentMessage)]
        if completed.result:
            texts.append(completed.result)
        try:
            plan = extract_plan(texts)
        except PlanInvalid as exc:
            asked = sum(
                1
                for e in events
                if isinstance(e, SessionContinued) and e.feedback.startswith(_PLAN_AGAIN)
            )
            if asked >= self._ctx.config.plan_retries:
                reason = f"no valid plan after {asked + 1} answers: {exc}"
                failed = SessionFailed(
                    session_id=session.id,
                    attempt=completed.attempt,
                    exit_code=completed.exit_code,
                    reason=reason,
                )
                return failed, f"failed: {reason}", None
            again = SessionContinued(
                session_id=session.id,
                attempt=completed.attempt + 1,
                feedback=f"{_PLAN_AGAIN} {exc}. Answer again with only the JSON object of the plan "
                '(`{"subtasks": [{"title": ..., "sequence": 1, "instruction": ...}]}`).',
            )
            self._ctx.wake_scheduler()
            return completed, "answered without a valid plan; asked again", again
        pending.append(
            ArtifactStored(session_id=session.id, kind="plan", data=plan.model_dump(mode="json"))
        )
        return completed, f"completed with a plan of {len(plan.subtasks)} subtasks", None

    def _retry(self, session: Session, failure: SessionFailed) -> list[Event]:
        """A retry event when the policy retries this failure (stored with the failure)."""
        delay = self._ctx.policy.retry_delay(
            session, reason=failure.reason, retryable=failure.retryable
        )
        if delay is None:
            return []
        log.info("session %s: retrying in %.1f s (%s)", session.id, delay, failure.reason)
        return [
            SessionRetryScheduled(
                session_id=session.id,
                attempt=failure.attempt + 1,
                not_before=utcnow() + timedelta(seconds=delay),
                reason=f"retrying after: {failure.reason}",
            )
        ]

    async def _continue_if_feedback(self, session_id: str, attempt: int) -> None:
        """Feedback given while an attempt ran (and could not be delivered) starts the next."""
        if not (await self._ctx.storage.get_session(session_id)).is_terminal:
            return  # a retry is queued; it takes the pending feedback with it
        stored = await self._ctx.storage.read_events(session_id)
        events = [item.event for item in stored]
        last_start = max(
            (i for i, e in enumerate(events) if isinstance(e, SessionStarting)), default=-1
        )
        pending = [
            e.text
            for e in events[last_start + 1 :]
            if isinstance(e, FeedbackGiven) and not e.delivered
        ]
        if pending:
            await self._journal.append(
                session_id,
                [
                    SessionContinued(
                        session_id=session_id, attempt=attempt + 1, feedback="\n\n".join(pending)
                    )
                ],
            )
            self._ctx.wake_scheduler()


def _outcome_event(
    session_id: str,
    attempt: int,
    exit_code: int | None,
    outcome: AgentOutcome,
    detail: str = "",
    *,
    interrupted: bool = False,
    denials: int = 0,
    fail_denied: bool = False,
) -> tuple[Event, str]:
    # The agent's own report wins, but a non-zero exit code is never a success.
    success = (outcome.success and exit_code in (0, None)) if outcome.reported else exit_code == 0
    denied = f"{denials} tool use{'s' if denials != 1 else ''} denied by its permissions"
    if success and denials and fail_denied:
        reason = f"the agent ended, but {denied}"
        return (
            SessionFailed(
                session_id=session_id, attempt=attempt, exit_code=exit_code, reason=reason
            ),
            f"failed: {reason}",
        )
    if success:
        return (
            SessionCompleted(
                session_id=session_id,
                attempt=attempt,
                exit_code=exit_code,
                result=outcome.result,
                denials=denials,
            ),
            f"completed, but {denied}" if denials else "completed",
        )
    reason = outcome.error or (
        f"the agent exited with code {exit_code}"
        if exit_code is not None
        else "the agent ended without an exit code"
    )
    if detail:
        reason = f"{reason} ({detail})"
    return (
        SessionFailed(
            session_id=session_id,
            attempt=attempt,
            exit_code=exit_code,
            reason=reason,
            # Ended from outside before the agent reported its end: the infrastructure's
            # failure (a daemon restart), so the retry rules may run it again.
            retryable=outcome.retryable or (interrupted and not outcome.reported),
        ),
        f"failed: {reason}",
    )
