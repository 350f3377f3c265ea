"""Running one attempt of a session: launch, collect output, finalize.

`AttemptRunner` is the engine's internal worker. It holds no state of its own that is
not in the store: a runner started in another process after a crash picks up from the stored
output cursor and the session's projection.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from .._errors import CursorMoved, ScopecraftError
from .._models import Session, SessionMode, SessionStatus, Task, default_permissions, utcnow
from .._secrets import read_session_secrets, write_session_secrets
from ..agents._protocol import AgentAdapter, AgentOutcome, AgentRequest, OutputParser
from ..events import (
    AgentMessage,
    AgentSessionIdentified,
    ArtifactStored,
    ChangesRecorded,
    CostReported,
    ErrorOccurred,
    Event,
    FeedbackGiven,
    LogLineWritten,
    SessionCompleted,
    SessionContinued,
    SessionFailed,
    SessionQueued,
    SessionResumed,
    SessionRetryScheduled,
    SessionStarted,
    SessionStarting,
    TaskStatusChanged,
    ToolDenied,
    WorktreePrepared,
    WorktreeSetupRan,
)
from ..executors._protocol import (
    Executor,
    LaunchSpec,
    RuntimeHandle,
    RuntimeState,
    RuntimeStatus,
)
from ..storage._protocol import LogLine
from ..worktrees._protocol import SetupResult
from ._context import Context
from ._journal import Journal
from ._requests import Requests
from ._runtimes import Runtimes, runtime_name
from ._tasks import Tasks, task_file_in_tree

__all__ = ["AttemptRunner"]

log = logging.getLogger("scopecraft.engine")

# Environment a local agent keeps from the engine's; everything else must be forwarded.
_BASE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "SHELL", "TMPDIR", "TZ")
_FLUSH_LINES = 2000
_HALTED = (SessionStatus.PAUSED, SessionStatus.AWAITING_APPROVAL)
_RESUME_PROMPT = "Continue the task where you stopped."
_PLAN_AGAIN = "Your plan could not be used:"


class AttemptRunner:
    """Launches, supervises and finalizes the attempts of sessions.

    Args:
        ctx: The engine's context.
        journal: Where everything about an attempt is recorded.
        runtimes: Runtime names, folders, handles and labels.
        tasks: The tasks (and their files in worktrees).
        requests: The requests this engine queued (a first launch needs no read of them).
        archive: Archives an ending session's record (with the events about to be stored).
        ended: What follows a session's end (the cleanup policy).
    """

    def __init__(
        self,
        ctx: Context,
        *,
        journal: Journal,
        runtimes: Runtimes,
        tasks: Tasks,
        requests: Requests,
        archive: Callable[[str, Sequence[Event]], Awaitable[None]],
        ended: Callable[[str], Awaitable[None]],
    ) -> None:
        self._ctx = ctx
        self._journal = journal
        self._runtimes = runtimes
        self._tasks = tasks
        self._requests = requests
        self._archive = archive
        self._ended = ended
        self._prepared: set[tuple[str, str]] = set()

    # -- launch ------------------------------------------------------------------------------

    async def launch(self, session_id: str, session: Session | None = None) -> None:
        """Start the session's current attempt, then supervise it until it ends.

        Re-checks the session's status first: only a ``queued`` session is launched, or a
        ``starting`` one being recovered after a crash (its runtime is adopted by name).

        Args:
            session_id: The session.
            session: Its projection as the caller just stored it (the scheduler's intent),
                which saves reading it again; ``None`` reads it.
        """
        if session is None:
            session = await self._ctx.storage.get_session(session_id)
        if session.status not in (SessionStatus.QUEUED, SessionStatus.STARTING):
            return
        # Output is collected (and its cursor stored) only once a runtime has started: a
        # session that never started has no cursor to compare against.
        fresh = session.started_at is None
        attempt = session.attempt
        name = runtime_name(session.id, attempt)
        if session.status is SessionStatus.QUEUED:
            starting = SessionStarting(session_id=session.id, attempt=attempt, runtime_name=name)
            session = await self._journal.append_folded(session, [starting])
        pending: list[Event] = []
        try:
            handle, parser, session = await self._start_runtime(session, attempt, name, pending)
        except _Cancelled:
            log.info(
                "session %s was cancelled while it started; its runtime is removed", session.id
            )
            if pending:
                await self._journal.append(session.id, pending)
            return
        except Exception as exc:  # any failure to start ends the attempt, recorded
            reason = (
                str(exc) if isinstance(exc, ScopecraftError) else f"{type(exc).__name__}: {exc}"
            )
            log.warning("session %s failed to start: %s", session.id, reason)
            current = await self._ctx.storage.get_session(session.id)
            if not current.is_terminal:
                await self._journal.append(
                    session.id,
                    [
                        *pending,
                        SessionFailed(
                            session_id=session.id,
                            attempt=attempt,
                            reason=f"could not start: {reason}",
                        ),
                    ],
                )
            elif pending:
                await self._journal.append(session.id, pending)
            return
        await self.supervise(session.id, handle, parser, session=session, no_cursor=fresh)

    async def _start_runtime(
        self, session: Session, attempt: int, name: str, pending: list[Event]
    ) -> tuple[RuntimeHandle, OutputParser, Session]:
        """Prepare the worktree, build the prompt and start the runtime.

        Events about the preparation are added to ``pending``; they are stored with
        ``session_started`` (one transaction), or by the caller when the start fails.
        """
        executor = self._ctx.plugins.executor(session.executor)
        agent = self._ctx.plugins.agent(session.agent)
        secrets = [
            os.environ[n] for n in (*agent.secret_env, *self._ctx.forward_env) if os.environ.get(n)
        ]
        state_dir = self._runtimes.state_dir(session.id)
        run_dir = self._runtimes.run_dir(session.id, attempt)
        task, overview = await self._tasks.task_and_parent(session.task_id)
        binding = await self._tasks.binding_for(session, task)
        render, resume_id = await self._prompt_for(session, task, agent, overview)
        key = (str(binding.path), binding.branch)
        prompt_path = run_dir / "prompt.md" if executor.capabilities.terminal else None
        known = key in self._prepared

        def materials() -> tuple[bool, str, set[str]]:
            # One trip to a worker thread for the blocking bits: is the worktree this process
            # prepared still there (subtasks of one parent share one; a cheap check then
            # replaces the locked prepare), the prompt (its template is a file), the
            # attempt's private folders, the prompt file, and the session's secrets file
            # (whoever collects the output redacts what this attempt's agent was given).
            reuse = known and (binding.path / ".git").exists()
            prompt = render()
            _make_private_dirs((state_dir, run_dir))
            if prompt_path is not None:
                _write_private(prompt_path, prompt)
            if secrets:
                found = write_session_secrets(state_dir.parent, secrets)
            else:
                found = read_session_secrets(state_dir.parent)
            return reuse, prompt, found

        reuse, prompt, found = await anyio.to_thread.run_sync(materials)
        self._journal.use_session_secrets(session.id, found)
        from ..worktrees import WorktreeSetupFailed

        if not reuse:
            try:
                prepared = await self._ctx.worktrees.prepare(binding)
            except WorktreeSetupFailed as exc:
                # The setup's own output says why; record it, then fail the attempt with it.
                pending.append(_setup_event(session.id, exc.result))
                raise
            self._prepared.add(key)
            if prepared.created or prepared.repaired or attempt == 1:
                pending.append(
                    WorktreePrepared(
                        session_id=session.id,
                        branch=binding.branch,
                        worktree_path=str(binding.path),
                        created=prepared.created,
                        base=prepared.base,
                        repaired=prepared.repaired,
                    )
                )
            if prepared.setup is not None:
                pending.append(_setup_event(session.id, prepared.setup))
        elif attempt == 1:
            pending.append(
                WorktreePrepared(
                    session_id=session.id,
                    branch=binding.branch,
                    worktree_path=str(binding.path),
                    created=False,
                )
            )
        prompt_file = str(prompt_path) if prompt_path is not None else None
        request = AgentRequest(
            mode=session.mode,
            prompt=prompt,
            workdir=executor.agent_workdir(binding.path),
            model=session.model,
            dangerous=session.dangerous,
            permissions=session.permissions or default_permissions(session.mode, session.dangerous),
            resume_id=resume_id,
            terminal=executor.capabilities.terminal,
            in_container=executor.capabilities.isolated,
            prompt_file=prompt_file,
            state_dir=executor.agent_state_dir(state_dir),
            hooks_file=str(run_dir / "hooks.jsonl") if executor.capabilities.terminal else None,
        )
        command = agent.command(request)
        env = self._agent_env(session, agent, executor, dict(command.env))
        # The agent's own folder made ready (a first-run state, the user's provider
        # configuration), on the engine's side of any container.
        await anyio.to_thread.run_sync(agent.prepare_home, state_dir, request, dict(env))
        resources = self._runtimes.resources_for(session)
        spec = LaunchSpec(
            session_id=session.id,
            attempt=attempt,
            runtime_name=name,
            mode=session.mode,
            task_id=session.task_id,
            argv=command.argv,
            stdin=command.stdin,
            env=env,
            workdir=binding.path,
            state_dir=state_dir,
            run_dir=run_dir,
            labels=self._runtimes.labels_for(session, attempt),
            image=session.image or self._ctx.config.default_image,
            resources=resources,
            read_only_workdir=session.mode is SessionMode.PLANNING,
        )
        with anyio.CancelScope(shield=True):
            # Once started, the runtime must be either recorded or stopped, even if the
            # engine is closing: a runtime nobody knows of would run on unseen.
            handle = await executor.start(spec)
            if (await self._ctx.storage.get_session(session.id)).is_terminal:
                # Cancelled while it was starting: stop what was just started, and store
                # no start after the cancel.
                await executor.stop(handle, grace=self._ctx.config.stop_grace)
                await executor.remove(handle)
                raise _Cancelled()
            events = [
                *pending,
                SessionStarted(
                    session_id=session.id, attempt=attempt, runtime_id=handle.runtime_id
                ),
            ]
            pending.clear()
            session = await self._journal.append_folded(session, events)
            if session.is_terminal:
                # Cancelled while it was starting: stop what was just started.
                await executor.stop(handle, grace=self._ctx.config.stop_grace)
                await executor.remove(handle)
                raise _Cancelled()
        if attempt == 1:
            await self._touch_task(
                session, task, binding.path, status="in_progress", note="started"
            )
        return handle, await self._parser(session.id, agent), session

    async def _parser(self, session_id: str, agent: AgentAdapter) -> OutputParser:
        """A fresh parser for the session's current attempt; one that can continue from what
        was stored before (``resume_from``: running totals, the agent's session id) is given
        the session's events of the kinds it needs."""
        parser = agent.parser(session_id)
        if parser.resumes:
            stored = await self._ctx.storage.read_events(session_id)
            parser.resume_from(
                [
                    s.event
                    for s in stored
                    if isinstance(s.event, AgentSessionIdentified | CostReported)
                ]
            )
        return parser

    async def _prompt_for(
        self, session: Session, task: Task, agent: AgentAdapter, overview: Task | None
    ) -> tuple[Callable[[], str], str | None]:
        """How to build the attempt's prompt: the task's (first attempt) or the feedback (a
        continue), and the agent session to resume.

        Returns a function that builds the text (it may read a template file: call it in a
        worker thread) and the resume id.
        """
        request = self._requests.first_request(session)
        if request is not None:
            events: list[Event] = [request]  # nothing else was stored before this start
        else:
            events = [item.event for item in await self._ctx.storage.read_events(session.id)]
        queued = next((e for e in events if isinstance(e, SessionQueued)), None)
        last_start = max(
            (i for i, e in enumerate(events) if isinstance(e, SessionStarting)), default=-1
        )
        # SessionStarting of this attempt was just written; look before it.
        previous = events[:last_start] if last_start >= 0 else events
        restart = next(
            (
                e
                for e in reversed(previous)
                if isinstance(e, SessionContinued | SessionResumed | SessionRetryScheduled)
            ),
            None,
        )
        earlier_start = max(
            (i for i, e in enumerate(previous) if isinstance(e, SessionStarting)), default=-1
        )
        pending = [
            e.text
            for e in previous[earlier_start + 1 :]
            if isinstance(e, FeedbackGiven) and not _delivered(e)
        ]
        info = await self._ctx.worktrees.repo_info()
        from ..agents._prompts import build_prompt

        def base() -> str:
            return build_prompt(
                task,
                mode=session.mode,
                overview=overview,
                repo_root=info.root,
                extra=queued.prompt if queued else None,
            )

        if restart is not None and session.attempt > 1:
            text = restart.feedback if isinstance(restart, SessionContinued) else _RESUME_PROMPT
            if agent.can_resume and session.agent_session_id:
                joined = "\n\n".join([text, *pending])
                return (lambda: joined), session.agent_session_id

            def again() -> str:
                prompt = base()
                if isinstance(restart, SessionContinued):
                    prompt = "\n\n".join([prompt, "Feedback on the previous attempt:", text])
                return "\n\n".join([prompt, *pending])

            return again, None

        def first() -> str:
            prompt = base()
            return "\n\n".join([prompt, *pending]) if pending else prompt

        return first, None

    def _agent_env(
        self,
        session: Session,
        agent: AgentAdapter,
        executor: Executor,
        extra: dict[str, str],
    ) -> dict[str, str]:
        env: dict[str, str] = {}
        if not executor.capabilities.isolated:
            env.update({k: os.environ[k] for k in _BASE_ENV if k in os.environ})
        for name in (*agent.secret_env, *agent.forward_env, *self._ctx.forward_env):
            if name in os.environ:
                env[name] = os.environ[name]
        env.update(extra)
        env["TASK_ID"] = session.task_id
        env["WORK_MODE"] = session.mode.value
        env["SCOPECRAFT_SESSION_ID"] = session.id
        return env

    # -- supervise ---------------------------------------------------------------------------

    async def supervise(
        self,
        session_id: str,
        handle: RuntimeHandle,
        parser: OutputParser | None = None,
        *,
        session: Session | None = None,
        no_cursor: bool = False,
    ) -> None:
        """Collect the runtime's output by cursor until it ends, then finalize the attempt.

        ``session`` saves reading the projection when the caller has it; ``no_cursor`` says
        no output cursor can be stored yet (a first attempt this process just launched).
        A defect met on the way (an error that is not a `ScopecraftError`) fails this
        session with its reason instead of reaching the scheduler: one session's failure
        never stops the others.
        """
        try:
            await self._supervise(session_id, handle, parser, session, no_cursor)
        except ScopecraftError:
            raise
        except Exception as exc:  # one session's defect must never stop the scheduler
            log.exception("supervising session %s failed", session_id)
            await self._fail_after_defect(session_id, handle, exc)

    async def _fail_after_defect(
        self, session_id: str, handle: RuntimeHandle, exc: Exception
    ) -> None:
        reason = f"scopecraft could not supervise this attempt: {type(exc).__name__}: {exc}"
        try:
            current = await self._ctx.storage.get_session(session_id)
            if not current.is_terminal and current.attempt == handle.attempt:
                failed = SessionFailed(session_id=session_id, attempt=handle.attempt, reason=reason)
                await self._journal.append(session_id, [failed])
                await self._ended(session_id)
        except Exception:  # the store itself is failing: say so, and let others go on
            log.exception("cannot record the failure of session %s", session_id)
            return
        with anyio.CancelScope(shield=True):
            try:
                await self._ctx.plugins.executor(current.executor).remove(handle)
            except Exception as remove_exc:  # kept for reconcile's sweep; logged
                log.warning("cannot remove the runtime of %s: %s", session_id, remove_exc)

    async def _supervise(
        self,
        session_id: str,
        handle: RuntimeHandle,
        parser: OutputParser | None,
        session: Session | None,
        no_cursor: bool,
    ) -> None:
        if session is None:
            session = await self._ctx.storage.get_session(session_id)
        await self._journal.load_session_secrets(session_id)  # once; the launcher may be another
        executor = self._ctx.plugins.executor(session.executor)
        if parser is None:
            parser = await self._parser(session_id, self._ctx.plugins.agent(session.agent))
        stored = None if no_cursor else await self._ctx.storage.get_cursor(session_id)
        # A cursor of an earlier attempt is still what compare-and-set must see.
        cursor = stored
        interval = self._ctx.config.poll_interval
        state = RuntimeState(RuntimeStatus.UNKNOWN)
        wake = self._journal.wake_event(session_id)
        while True:
            state = await executor.state(handle)
            final = state.status in (RuntimeStatus.EXITED, RuntimeStatus.MISSING)
            try:
                cursor = await self._collect(session_id, executor, handle, parser, cursor, final)
            except CursorMoved:
                log.info("another engine collects session %s; stepping back", session_id)
                return
            if final:
                break
            if state.status is RuntimeStatus.UNKNOWN:
                log.warning("runtime of %s did not answer: %s", session_id, state.detail)
            with anyio.move_on_after(interval):
                await wake.wait()
            wake = self._journal.wake_event(session_id, reset=True)
        await self._finalize(session_id, executor, handle, parser, state)

    async def _collect(
        self,
        session_id: str,
        executor: Executor,
        handle: RuntimeHandle,
        parser: OutputParser,
        cursor: dict[str, Any] | None,
        final: bool,
    ) -> dict[str, Any] | None:
        while True:
            position = cursor if cursor and cursor.get("attempt") == handle.attempt else None
            chunk = await executor.read_output(handle, position, final=final)
            if not chunk.lines:
                return cursor
            new_cursor = dict(chunk.cursor)
            new_cursor["attempt"] = handle.attempt
            for start in range(0, len(chunk.lines), _FLUSH_LINES):
                part = chunk.lines[start : start + _FLUSH_LINES]
                logs: list[LogLine] = []
                events: list[Event] = []
                now = utcnow()
                for stream, text in part:
                    logs.append(LogLine(stream=stream, text=text, ts=now))
                    events.extend(parser.feed(text, stream))
                last = start + _FLUSH_LINES >= len(chunk.lines)
                await self._journal.append(
                    session_id,
                    events,
                    logs,
                    cursor=new_cursor if last else None,
                    expect_cursor=cursor,
                    check_cursor=last,
                )
            cursor = new_cursor

    async def _finalize(
        self,
        session_id: str,
        executor: Executor,
        handle: RuntimeHandle,
        parser: OutputParser,
        state: RuntimeState,
    ) -> None:
        pending_events, outcome = parser.finish(state.exit_code)
        session = await self._ctx.storage.get_session(session_id)
        events: list[Event] = list(pending_events)
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
            await self._touch_task(
                session,
                task,
                Path(session.worktree_path),
                status="done" if done else None,
                note=note,
                events=events,
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
            if isinstance(e, FeedbackGiven) and not _delivered(e)
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

    async def _touch_task(
        self,
        session: Session,
        task: Task,
        worktree: Path,
        *,
        status: str | None,
        note: str,
        events: list[Event] | None = None,
    ) -> None:
        """Write status and a log line into the task's file in the worktree (never the main one)."""
        info = await self._ctx.worktrees.repo_info()
        text = f"Session {session.id} ({session.mode.value}, {session.agent}) {note}"
        from ..tasks import update_task_file

        def update() -> tuple[Path | None, str]:
            found = task_file_in_tree(task.path, info.root, worktree)
            if found is None:
                return None, ""
            only_from = ("todo", "in_progress") if status == "done" else None
            return found, update_task_file(found, status=status, log=text, only_from=only_from)

        try:
            path, now = await anyio.to_thread.run_sync(update)
        except (OSError, ScopecraftError) as exc:
            log.warning("cannot update the task file of %s in %s: %s", task.id, worktree, exc)
            return
        if path is None:
            return
        new: list[Event] = []
        if status is not None and now == status:
            new.append(
                TaskStatusChanged(
                    session_id=session.id, task_id=task.id, status=status, path=str(path)
                )
            )
        new.append(LogLineWritten(session_id=session.id, task_id=task.id, text=text))
        if events is not None:
            events.extend(new)
        else:
            await self._journal.append(session.id, new)


class _Cancelled(Exception):
    """The session was cancelled while its runtime was starting."""

    def __str__(self) -> str:
        return "cancelled while starting"


def _delivered(event: FeedbackGiven) -> bool:
    return event.delivered


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


def _setup_event(session_id: str, result: SetupResult) -> WorktreeSetupRan:
    return WorktreeSetupRan(
        session_id=session_id,
        copied=list(result.copied),
        skipped=list(result.skipped),
        command=list(result.command) if result.command else None,
        exit_code=result.exit_code,
        output=result.output[-20_000:],
    )


def _make_private_dirs(paths: Sequence[Path]) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
