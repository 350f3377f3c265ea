"""Launching an attempt: its worktree ready, its prompt, the agent's command, environment and
home, and the runtime started and recorded (`Launcher`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from .._models import Permissions, Session, SessionMode, Task, default_permissions
from .._secrets import read_session_secrets, write_session_secrets
from ..agents._protocol import AgentAdapter, AgentRequest, OutputParser
from ..events import (
    AgentSessionIdentified,
    CostReported,
    Event,
    FeedbackGiven,
    SessionContinued,
    SessionQueued,
    SessionResumed,
    SessionRetryScheduled,
    SessionStarted,
    SessionStarting,
    ToolDenied,
    WorktreePrepared,
    WorktreeSetupRan,
)
from ..executors._protocol import Executor, LaunchSpec, RuntimeHandle
from ..worktrees._protocol import SetupResult
from ._context import Context
from ._journal import Journal
from ._requests import Requests
from ._runtimes import Runtimes
from ._tasks import Tasks

__all__ = ["Cancelled", "Launcher"]

log = logging.getLogger("scopecraft.engine")

# Environment a local agent keeps from the engine's; everything else must be forwarded.
_BASE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "SHELL", "TMPDIR", "TZ")
_RESUME_PROMPT = "Continue the task where you stopped."


class Cancelled(Exception):
    """The session was cancelled while its runtime was starting."""

    def __str__(self) -> str:
        return "cancelled while starting"


class Launcher:
    """Starts the runtime of an attempt.

    Args:
        ctx: The engine's context.
        journal: Where the start is recorded.
        runtimes: Runtime names, folders, labels and limits.
        tasks: The task, its parent and its binding.
        requests: The requests this engine queued (a first launch needs no read of them).
    """

    def __init__(
        self,
        ctx: Context,
        *,
        journal: Journal,
        runtimes: Runtimes,
        tasks: Tasks,
        requests: Requests,
    ) -> None:
        self._ctx = ctx
        self._journal = journal
        self._runtimes = runtimes
        self._tasks = tasks
        self._requests = requests
        self._prepared: set[tuple[str, str]] = set()

    async def start(
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
            read_only_workdir=(
                session.mode is SessionMode.PLANNING or request.permissions is Permissions.READ_ONLY
            ),
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
                raise Cancelled()
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
                raise Cancelled()
        if attempt == 1:
            touched = await self._tasks.touch(
                session, task, binding.path, status="in_progress", note="started"
            )
            if touched:
                await self._journal.append(session.id, touched)
        return handle, await self.parser(session.id, agent), session

    async def parser(self, session_id: str, agent: AgentAdapter) -> OutputParser:
        """A fresh parser for the session's current attempt; one that can continue from what
        was stored before (``resume_from``: running totals, the agent's session id, refusals,
        what this attempt reported before an engine took it over) is given the session's
        events of the kinds it needs."""
        parser = agent.parser(session_id)
        if parser.resumes:
            stored = await self._ctx.storage.read_events(session_id)
            parser.resume_from(
                [
                    s.event
                    for s in stored
                    if isinstance(
                        s.event,
                        AgentSessionIdentified | CostReported | ToolDenied | SessionStarting,
                    )
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
            if isinstance(e, FeedbackGiven) and not e.delivered
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
