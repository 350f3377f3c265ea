"""``scopecraft session ...``: start, list, show, logs, diff, events, wait, continue, cancel,
attach."""

from __future__ import annotations

import contextlib
import enum
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._streams import closing, session_story
from ._common import (
    CliState,
    ExitCode,
    console,
    emit_json,
    emit_json_line,
    fail,
    new_typer,
    run_with_engine,
    state_of,
    stderr_is_terminal,
)

if TYPE_CHECKING:
    from .._models import LogEntry, Session
    from ..engine import Engine
    from ._diff import SessionDiff

__all__ = ["session_app"]

session_app = new_typer("Start, watch, steer and stop sessions.")

_TERMINAL_EVENTS = ("session_completed", "session_failed", "session_cancelled")
# Events after which a session will not start on its own soon: stop waiting and say so.
_HELD_EVENTS = ("session_waiting", "approval_requested", "session_paused")


class ModeChoice(enum.StrEnum):
    """Session modes (the values of `scopecraft.SessionMode`)."""

    autonomous = "autonomous"
    dispatch = "dispatch"
    interactive = "interactive"
    planning = "planning"
    orchestration = "orchestration"


class PermissionsChoice(enum.StrEnum):
    """Permission levels (the values of `scopecraft.Permissions`)."""

    read_only = "read-only"
    edit = "edit"
    full = "full"


class PriorityChoice(enum.StrEnum):
    """Priorities (the values of `scopecraft.Priority`; ``normal`` means ``medium``)."""

    highest = "highest"
    high = "high"
    medium = "medium"
    normal = "normal"
    low = "low"


# -- shared steps ------------------------------------------------------------------------------


@contextlib.contextmanager
def _progress(state: CliState, message: str) -> Iterator[None]:
    """A spinner on standard error while waiting, for people at a terminal only."""
    if state.json or not stderr_is_terminal():
        yield
        return
    with console(stderr=True).status(message):
        yield


async def _wait_for_start(
    engine: Engine, session_id: str, *, after: int | None, patience: float
) -> tuple[Session, tuple[str, str] | None]:
    """Wait until the session's next attempt has started, the scheduler says why it waits,
    it ends, or ``patience`` seconds pass; return the session and the waiting reason."""
    import anyio

    waiting: tuple[str, str] | None = None
    with anyio.move_on_after(patience):
        stream = engine.events(session_id=session_id, after=after, follow=True)
        async with closing(stream) as events:
            async for event in events:
                if event.type in _HELD_EVENTS:
                    reason = str(getattr(event, "reason", "")) or event.type
                    waiting = (reason, str(getattr(event, "detail", "")))
                    break
                if event.type == "session_started" or event.type in _TERMINAL_EVENTS:
                    break
    return await engine.get_session(session_id), waiting


def _workdirs(engine: Engine, session: Session) -> list[str]:
    """The session's worktree as the host and as its agent see it (``/workspace``)."""
    if not session.worktree_path:
        return []
    found = [session.worktree_path, os.path.realpath(session.worktree_path)]
    from .._errors import ScopecraftError

    with contextlib.suppress(ScopecraftError):
        executor = engine.executor(session.executor)
        found.append(executor.agent_workdir(Path(session.worktree_path)))
    return found


async def _print_story(
    engine: Engine,
    session_id: str,
    *,
    follow: bool,
    limit: int | None = None,
    timestamps: bool = False,
    events_after: int = 0,
    logs_after: int = 0,
) -> None:
    """Print the session's story (its events and informative log lines, see
    `StoryRenderer`); ``limit`` keeps the last lines of what is there."""
    from ._render import StoryRenderer

    out = console()
    session = await engine.get_session(session_id)
    renderer = StoryRenderer(
        workdirs=_workdirs(engine, session), timestamps=timestamps, width=out.width
    )
    first = True
    stream = session_story(
        engine, session_id, follow=follow, events_after=events_after, logs_after=logs_after
    )
    async with closing(stream) as batches:
        async for batch in batches:
            lines = [line for item in batch if (line := renderer.render(item)) is not None]
            if first and limit is not None:
                lines = lines[len(lines) - limit :] if limit else []
            first = False
            for line in lines:
                out.print(line)


async def _follow_logs(
    engine: Engine,
    state: CliState,
    session_id: str,
    *,
    limit: int | None = None,
    timestamps: bool = False,
    raw: bool = False,
    events_after: int = 0,
    logs_after: int = 0,
) -> Session:
    """Print the session's story (or with ``raw`` or ``--json``, its log lines) as it goes,
    until it ends; return it then. ``events_after`` and ``logs_after`` skip what came
    before (an earlier attempt) in the story."""
    if not (state.json or raw):
        await _print_story(
            engine,
            session_id,
            follow=True,
            limit=limit,
            timestamps=timestamps,
            events_after=events_after,
            logs_after=logs_after,
        )
        return await engine.get_session(session_id)
    out = None if state.json else console()
    if out is not None:
        from ._render import log_line
    stream = engine.session_logs(session_id, follow=True, limit=limit)
    async with closing(stream) as entries:
        async for entry in entries:
            if out is None:
                emit_json_line(entry)
            else:
                out.print(log_line(entry, timestamps=timestamps), markup=False)
    return await engine.get_session(session_id)


def _print_outcome(state: CliState, session: Session) -> None:
    if state.json:
        return
    from ._render import money, status_text

    out = console()
    line = status_text(session.status.value)
    line.append(f" {session.id}", style="bold")
    line.append(f"  attempt {session.attempt}  cost {money(session.cost_usd)}")
    if session.exit_code is not None:
        line.append(f"  exit code {session.exit_code}")
    out.print(line)
    if session.error:
        out.print(f"  {session.error}", style="red", markup=False)


def _outcome_code(session: Session) -> ExitCode:
    status = session.status.value
    return ExitCode.FAILED if status in ("failed", "cancelled") else ExitCode.OK


def _attachable(engine: Engine, session: Session) -> bool:
    """Whether a person can attach a terminal to the session (an interactive or dispatch
    session on an executor with a terminal, such as tmux)."""
    if session.mode.value not in ("interactive", "dispatch"):
        return False
    from .._errors import ScopecraftError

    try:
        return engine.executor(session.executor).capabilities.can_attach
    except ScopecraftError:
        return False


def _report_start(
    state: CliState,
    session: Session,
    waiting: tuple[str, str] | None,
    waited: float | None,
    *,
    following: bool = False,
    attachable: bool = False,
) -> None:
    """Say where the session is after ``start`` or ``continue`` returned, with a hint of
    what to run next (none when the command goes on to follow the session)."""
    if state.json:
        return
    out = console()
    sid = session.id
    status = session.status.value
    if status == "running":
        out.print(
            f"started {sid} (attempt {session.attempt}) in {session.worktree_path}",
            markup=False,
        )
        if attachable and not following:
            out.print(f"  attach to it: scopecraft session attach {sid}", style="bright_black")
        elif not following:
            out.print(f"  follow it: scopecraft session logs {sid} --follow", style="bright_black")
    elif status == "starting":
        after = f" after {waited:g} s" if waited is not None else ""
        out.print(
            f"{sid} is still starting{after}; `scopecraft session show {sid}` tells when it runs",
            markup=False,
        )
    elif status in ("queued", "awaiting_approval", "paused") and waiting is not None:
        reason, detail = waiting
        word = status.replace("_", " ")
        out.print(f"{sid} is {word}: {reason}" + (f" ({detail})" if detail else ""), markup=False)
    elif status == "queued" and waited is not None:
        out.print(
            f"{sid} is still queued after {waited:g} s: no scheduler took it; "
            "`scopecraft serve` keeps one running",
            markup=False,
        )
    elif status == "queued":
        out.print(f"{sid} is queued; a running scheduler (`scopecraft serve`) starts it")
    else:
        _print_outcome(state, session)


# -- commands ----------------------------------------------------------------------------------


@session_app.command("start")
def start(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="The task to work on (`scopecraft tasks list`).")],
    mode: Annotated[
        ModeChoice, typer.Option("--mode", "-m", help="How the agent runs.")
    ] = ModeChoice.autonomous,
    worktree: Annotated[
        str | None,
        typer.Option(
            "--worktree", "-w", metavar="BRANCH", help="Work on this branch instead of the task's."
        ),
    ] = None,
    dangerous: Annotated[
        bool,
        typer.Option(
            "--dangerous",
            help="Skip the agent's permission prompts (container executors only); the same "
            "as --permissions full.",
        ),
    ] = False,
    permissions: Annotated[
        PermissionsChoice | None,
        typer.Option(
            "--permissions",
            help="What the agent may do without asking: read-only, edit (default; planning: "
            "read-only) or full.",
        ),
    ] = None,
    priority: Annotated[
        PriorityChoice | None,
        typer.Option("--priority", "-p", help="Default: the task's own priority."),
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option("--parent", metavar="TASK_ID", help="A parent task giving context."),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", "-a", help="Agent adapter: claude-code (default), codex, command, fake."
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            "-e",
            help="docker, tmux or local (default by mode: docker, or tmux for interactive "
            "and dispatch).",
        ),
    ] = None,
    image: Annotated[
        str | None, typer.Option("--image", help="Container image for container executors.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model passed to the agent.")] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Extra instructions after the task's prompt.")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Stream the session's logs until it ends; exit 1 unless it completed.",
        ),
    ] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw", help="With --follow, print the agent's raw output lines (stream-JSON)."
        ),
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return as soon as the session is queued.")
    ] = False,
    start_timeout: Annotated[
        float,
        typer.Option(
            "--start-timeout",
            metavar="SECONDS",
            min=0,
            help="How long to wait for the session to start before returning.",
        ),
    ] = 30.0,
) -> None:
    """Queue a session for a task and wait until it has started.

    A one-shot call opens an engine, which drives the queue while it is open: the command
    waits until the session's runtime has started (or the scheduler says why it waits, or
    --start-timeout passes), then exits; the runtime goes on detached and the next engine
    to open (any scopecraft command, or `scopecraft serve`) collects its output.
    """
    state = state_of(ctx)
    kwargs: dict[str, Any] = {
        "mode": mode.value,
        "priority": priority.value if priority is not None else None,
        "parent_id": parent,
        "branch": worktree,
        "dangerous": dangerous,
        "permissions": permissions.value if permissions is not None else None,
        "executor": executor,
        "model": model,
        "image": image,
        "prompt": prompt,
    }
    if agent is not None:
        kwargs["agent"] = agent

    async def go(engine: Engine) -> tuple[Session, tuple[str, str] | None, bool]:
        from ..engine import SessionRequest

        session = await engine.submit(SessionRequest.of(task_id, **kwargs))
        if not state.json:
            console().print(
                f"queued {session.id} for {session.task_id}: {session.mode.value} on "
                f"{session.executor} with {session.agent}, branch {session.branch}",
                markup=False,
            )
        waiting = None
        if not no_wait:
            with _progress(state, f"waiting for {session.id} to start"):
                session, waiting = await _wait_for_start(
                    engine, session.id, after=None, patience=start_timeout
                )
        attachable = _attachable(engine, session)
        if follow:
            _report_start(state, session, waiting, None, following=True)
            session = await _follow_logs(engine, state, session.id, raw=raw)
        return session, waiting, attachable

    session, waiting, attachable = run_with_engine(state, go)
    if state.json:
        (emit_json_line if follow else emit_json)(session)
    elif follow:
        _print_outcome(state, session)
    else:
        _report_start(
            state, session, waiting, None if no_wait else start_timeout, attachable=attachable
        )
    code = _outcome_code(session)
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


@session_app.command("list")
def list_sessions(
    ctx: typer.Context,
    active: Annotated[
        bool, typer.Option("--active", help="Starting, running, awaiting approval, paused.")
    ] = False,
    queued: Annotated[bool, typer.Option("--queued", help="Queued sessions.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every session, ended ones too.")] = False,
    task: Annotated[
        str | None, typer.Option("--task", metavar="TASK_ID", help="Only this task's sessions.")
    ] = None,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Show every column whole (worktree and error too), however wide."
        ),
    ] = False,
) -> None:
    """List sessions, oldest first (default: every session that has not ended).

    The table fits the terminal: ids are never cut, long columns are shortened with an
    ellipsis and the least useful ones left out; --wide shows everything.
    """
    state = state_of(ctx)

    async def go(engine: Engine) -> list[Session]:
        await engine.refresh()
        return await engine.list_sessions(active=active, queued=queued, all=all_)

    sessions = run_with_engine(state, go)
    if task is not None:
        sessions = [s for s in sessions if s.task_id == task]
    if state.json:
        emit_json(sessions)
        return
    if not sessions:
        hint = "" if all_ else " (--all includes ended ones)"
        console().print(f"no sessions{hint}")
        return
    from ._render import print_table, sessions_table

    out = console()
    print_table(out, sessions_table(sessions, width=out.width, wide=wide))


@session_app.command("show")
def show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session id (`ses-...`).")],
) -> None:
    """Show one session: where it runs, its status, cost and outcome."""
    state = state_of(ctx)

    async def go(engine: Engine) -> tuple[Session, tuple[str, str] | None]:
        await engine.get_session(session_id)  # an unknown id fails before anything else
        await engine.refresh()
        session = await engine.get_session(session_id)
        waiting = None
        if session.status.value == "queued":
            status = await engine.queue_status()
            entry = next((e for e in status.queued if e.session.id == session.id), None)
            if entry is not None and entry.waiting_reason:
                waiting = (entry.waiting_reason, entry.waiting_detail)
        return session, waiting

    session, waiting = run_with_engine(state, go)
    if state.json:
        emit_json(session)
        return
    from ._render import session_detail

    console().print(session_detail(session, waiting=waiting))


@session_app.command("logs")
def logs(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session id.")],
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep printing new lines until the session ends; exit 1 unless it completed.",
        ),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=0, metavar="N", help="Start with only the last N lines."),
    ] = None,
    timestamps: Annotated[
        bool, typer.Option("--timestamps", "-t", help="Prefix each line with its time.")
    ] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw", help="Print the agent's raw output lines (stream-JSON) instead of the story."
        ),
    ] = False,
) -> None:
    """Print what the agent did: its messages, tool uses, costs and outcome, in order.

    Told from the session's events, with the output lines that are not the agent's JSON
    stream (standard error, the engine's own lines) in between. --raw prints the agent's
    own output lines (redacted) as they are; --json prints them as log entries.
    """
    state = state_of(ctx)

    async def go(engine: Engine) -> tuple[list[LogEntry], Session | None]:
        if follow:
            return [], await _follow_logs(
                engine, state, session_id, limit=limit, timestamps=timestamps, raw=raw
            )
        if not (state.json or raw):
            await _print_story(engine, session_id, follow=False, limit=limit, timestamps=timestamps)
            return [], None
        stream = engine.session_logs(session_id, limit=limit)
        async with closing(stream) as entries:
            return [entry async for entry in entries], None

    entries, ended = run_with_engine(state, go)
    if ended is not None:
        code = _outcome_code(ended)
        if code is not ExitCode.OK:
            raise typer.Exit(int(code))
        return
    if state.json:
        emit_json(entries)
        return
    from ._render import log_line

    out = console()
    for entry in entries:
        out.print(log_line(entry, timestamps=timestamps), markup=False)


def _diff_line(line: str, *, patch: bool = True) -> Any:
    """One line of a patch in the colours of ``git diff`` (a summary's line as it is)."""
    from rich.text import Text

    if not patch:
        return Text(line)
    if line.startswith(("diff --git", "index ", "--- ", "+++ ")):
        return Text(line, style="bold")
    if line.startswith("@@"):
        return Text(line, style="cyan")
    if line.startswith("+"):
        return Text(line, style="green")
    if line.startswith("-"):
        return Text(line, style="red")
    return Text(line)


@session_app.command("diff")
def diff(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session id.")],
    stat: Annotated[
        bool, typer.Option("--stat", help="Summarise: files changed and lines added, removed.")
    ] = False,
) -> None:
    """Show what the session changed: its branch from its base to its last commit.

    Read from the main repository's refs (git never runs in the agent's worktree): from the
    commit the branch was created from (else where it left the default branch) to the head
    recorded when the session ended (else the branch's tip). The patch goes to standard
    output as git prints it; a summary line and notes go to standard error.
    """
    state = state_of(ctx)
    out = console()

    async def go(engine: Engine) -> SessionDiff:
        from ._diff import session_diff

        return await session_diff(engine, session_id, stat=stat, stat_width=out.width)

    from ._diff import DiffUnavailable

    try:
        found = run_with_engine(state, go)
    except DiffUnavailable as exc:
        fail(str(exc), ExitCode.NOT_FOUND, json_mode=state.json)
    if state.json:
        emit_json(found.to_json())
        return
    err = console(stderr=True)
    span = f"{found.base[:10]}..{found.head[:10]}"
    if not found.files:
        out.print(f"no changes on {found.branch} ({span})", markup=False)
    else:
        err.print(
            f"{found.session_id} on {found.branch} ({span}): {len(found.files)} file(s), "
            f"+{found.insertions} -{found.deletions}",
            style="bright_black",
            markup=False,
        )
    if found.note:
        err.print(found.note, style="yellow", markup=False)
    text = found.stat if stat else found.patch
    if not text:
        return
    if not out.is_terminal:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    for line in text.splitlines():
        out.print(_diff_line(line, patch=not stat))


@session_app.command("events")
def events(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until it ends.")
    ] = False,
    after: Annotated[
        int | None, typer.Option("--after", metavar="SEQ", help="Only events after this seq.")
    ] = None,
) -> None:
    """Print the session's events (what happened, in order), readable or as JSON."""
    state = state_of(ctx)

    async def go(engine: Engine) -> None:
        out = None if state.json else console()
        collected: list[Any] = []
        if out is not None:
            from ._render import event_line
        stream = engine.events(session_id=session_id, after=after, follow=follow)
        async with closing(stream) as items:
            async for event in items:
                if out is not None:
                    out.print(event_line(event), markup=False)
                elif follow:
                    emit_json_line(event)
                else:
                    collected.append(event)
        if state.json and not follow:
            emit_json(collected)

    run_with_engine(state, go)


@session_app.command("wait")
def wait(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session id.")],
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", metavar="SECONDS", min=0, help="Give up after this long (exit 5)."
        ),
    ] = None,
) -> None:
    """Wait until the session ends; exit 0 if it completed, 1 if it failed or was cancelled."""
    state = state_of(ctx)

    async def go(engine: Engine) -> Session:
        with _progress(state, f"waiting for {session_id} to end"):
            return await engine.wait(session_id, timeout=timeout)

    session = run_with_engine(state, go)
    if state.json:
        emit_json(session)
    else:
        _print_outcome(state, session)
    code = _outcome_code(session)
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


@session_app.command("cancel")
def cancel(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session id.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Recorded with the cancellation.")
    ] = "cancelled from the command line",
) -> None:
    """Cancel a session: dequeue it, or stop its runtime (a grace period, then a kill)."""
    state = state_of(ctx)

    async def go(engine: Engine) -> tuple[bool, Session]:
        with _progress(state, f"stopping {session_id}"):
            cancelled = await engine.cancel_session(session_id, reason=reason)
        return cancelled, await engine.get_session(session_id)

    cancelled, session = run_with_engine(state, go)
    if state.json:
        emit_json({"cancelled": cancelled, "session": session})
    elif cancelled:
        console().print(f"cancelled {session.id}", markup=False)
    else:
        console().print(
            f"{session.id} had already ended ({session.status.value}); nothing to cancel",
            markup=False,
        )


def _read_feedback(feedback: str | None, file: Path | None, *, json_mode: bool) -> str:
    """The feedback from the argument, standard input (``-``) or ``--file``, read bounded."""
    from ..engine._facade import MAX_FEEDBACK_CHARS

    if (feedback is None) == (file is None):
        fail(
            "give the feedback as an argument, `-` for standard input, or --file PATH "
            "(exactly one)",
            ExitCode.USAGE,
            json_mode=json_mode,
        )
    limit = MAX_FEEDBACK_CHARS * 4 + 1  # bytes: enough for the limit in any UTF-8
    if file is not None:
        try:
            with file.open("rb") as handle:
                data = handle.read(limit)
        except OSError as exc:
            fail(
                f"cannot read the feedback file {file}: {exc.strerror or exc}",
                ExitCode.USAGE,
                json_mode=json_mode,
            )
        return data.decode("utf-8", errors="replace")
    if feedback == "-":
        return sys.stdin.buffer.read(limit).decode("utf-8", errors="replace")
    assert feedback is not None
    return feedback


@session_app.command("continue")
def continue_(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session id.")],
    feedback: Annotated[
        str | None,
        typer.Argument(help="What the agent should do next; `-` reads it from standard input."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-F", metavar="PATH", help="Read the feedback from this file instead."
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Stream the logs of the next attempt until it ends."),
    ] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw", help="With --follow, print the agent's raw output lines (stream-JSON)."
        ),
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the feedback is recorded.")
    ] = False,
    start_timeout: Annotated[
        float,
        typer.Option(
            "--start-timeout",
            metavar="SECONDS",
            min=0,
            help="How long to wait for the next attempt to start.",
        ),
    ] = 30.0,
) -> None:
    """Give the agent feedback.

    A running agent that takes input live (tmux) gets it at once. Otherwise the feedback
    starts the next attempt (resuming the agent's own session): at once for an ended
    session, or when the current attempt ends.
    """
    state = state_of(ctx)
    feedback = _read_feedback(feedback, file, json_mode=state.json)

    async def go(engine: Engine) -> tuple[Session, tuple[str, str] | None, str]:
        before = await engine.get_session(session_id)
        # Where the log ends now: the story of --follow starts after it.
        logs_before = await engine.storage.read_logs(session_id) if follow else []
        session = await engine.continue_session(session_id, feedback)
        delivered = "next-attempt"
        async with closing(engine.events(session_id=session_id, after=before.last_seq)) as items:
            async for event in items:
                if event.type == "feedback_given":
                    delivered = "live" if getattr(event, "delivered", False) else "pending"
                if event.type == "session_continued":
                    delivered = "next-attempt"
        waiting = None
        if delivered == "next-attempt" and not no_wait:
            with _progress(state, f"waiting for attempt {session.attempt} to start"):
                session, waiting = await _wait_for_start(
                    engine, session_id, after=before.last_seq, patience=start_timeout
                )
        if follow:
            session = await _follow_logs(
                engine,
                state,
                session_id,
                raw=raw,
                events_after=before.last_seq,
                logs_after=logs_before[-1].seq if logs_before else 0,
            )
        return session, waiting, delivered

    session, waiting, delivered = run_with_engine(state, go)
    if state.json:
        (emit_json_line if follow else emit_json)(session)
    elif follow:
        _print_outcome(state, session)
    elif delivered == "live":
        console().print(f"feedback delivered to the running agent of {session.id}", markup=False)
    elif delivered == "pending":
        console().print(
            f"{session.id} is {session.status.value}; its agent cannot take input live, so "
            "the feedback starts the next attempt when this one ends",
            markup=False,
        )
    else:
        _report_start(state, session, waiting, None if no_wait else start_timeout)
    if follow:
        code = _outcome_code(session)
        if code is not ExitCode.OK:
            raise typer.Exit(int(code))


@session_app.command("attach")
def attach(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session id (a tmux session).")],
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the command instead of running it.")
    ] = False,
) -> None:
    """Attach this terminal to a session's tmux session (interactive and dispatch modes)."""
    state = state_of(ctx)

    async def go(engine: Engine) -> list[str]:
        return await engine.attach_command(session_id)

    argv = run_with_engine(state, go)
    if not argv:
        fail(f"the executor of {session_id} returned no attach command", ExitCode.REFUSED)
    if print_only or state.json:
        if state.json:
            emit_json({"argv": argv})
        else:
            import shlex

            typer.echo(shlex.join(argv))
        return
    os.execvp(argv[0], argv)  # noqa: S606 - argv comes from the executor, never a shell string
