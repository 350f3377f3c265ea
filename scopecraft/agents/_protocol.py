"""The ``AgentAdapter`` protocol: how to run one agent CLI and how to read what it prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

from .._models import LogStream, Permissions, SessionMode
from ..events import Event

__all__ = ["AgentAdapter", "AgentCommand", "AgentOutcome", "AgentRequest", "OutputParser"]


@attrs.frozen
class AgentRequest:
    """What the engine asks of an agent for one attempt.

    Attributes:
        mode: The session's mode.
        prompt: The whole prompt (the task's, or the feedback when resuming).
        workdir: The working directory as the agent sees it (``/workspace`` in a container).
        model: A model name to pass on, or ``None`` for the agent's default.
        dangerous: Skip the agent's permission prompts (only ever in a container by default);
            the same as ``permissions`` being ``full``.
        resume_id: The agent's own session id to resume, or ``None`` for a fresh start.
        terminal: True when the agent runs in a terminal (tmux) in its interactive form.
        in_container: True when the agent runs inside a container image.
        prompt_file: A file holding the prompt, for agents that run in a terminal and cannot
            read the prompt from standard input; ``None`` otherwise.
        state_dir: A folder kept for this session across attempts, where the agent keeps its
            own state (what ``--resume`` needs), as the agent sees it; ``None`` for the
            agent's default.
        hooks_file: A file the engine watches for the agent's lifecycle hooks (JSON lines),
            for agents that offer hooks; ``None`` when nobody watches.
        permissions: What the agent may do without asking: ``read-only`` (no changes),
            ``edit`` (change files in its worktree, use its session's tools), ``full`` (skip
            every prompt). Default: ``full`` when ``dangerous``, else ``edit``.
    """

    mode: SessionMode
    prompt: str
    workdir: str
    model: str | None = None
    dangerous: bool = False
    resume_id: str | None = None
    terminal: bool = False
    in_container: bool = False
    prompt_file: str | None = None
    state_dir: str | None = None
    hooks_file: str | None = None
    permissions: Permissions = attrs.field(
        converter=Permissions,
        default=attrs.Factory(
            lambda self: Permissions.FULL if self.dangerous else Permissions.EDIT,
            takes_self=True,
        ),
    )


@attrs.frozen
class AgentCommand:
    """How to start the agent: argv, what to write to its standard input, extra environment.

    Attributes:
        argv: The command as a list of arguments; never a shell string.
        stdin: Bytes to write to standard input and then close it, or ``None`` to leave it.
        env: Extra, non-secret environment variables (secrets are forwarded by the engine).
    """

    argv: tuple[str, ...]
    stdin: bytes | None = None
    env: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class AgentOutcome:
    """How the agent's run ended, as its own output tells.

    Attributes:
        success: True when the agent reported success (``is_error`` wins over ``subtype``).
        result: The agent's final result text, if it gave one.
        error: Why it failed, when it did.
        retryable: True when the failure is the infrastructure's (API overloaded, ...), not
            the agent's own.
        reported: True when the output held a final result at all.
    """

    success: bool
    result: str | None = None
    error: str | None = None
    retryable: bool = False
    reported: bool = False


class OutputParser(Protocol):
    """Turns an agent's output, a line at a time, into events. One parser per attempt."""

    def feed(self, line: str, stream: LogStream = "stdout") -> list[Event]:
        """Read one line (without its newline) and return the events it completes.

        Never raises on bad input: lines that are not the agent's structured output are
        simply not events (they are still kept as log lines by the engine).
        """
        ...

    def finish(self, exit_code: int | None) -> tuple[list[Event], AgentOutcome]:
        """Close the stream: return events still pending and the run's outcome."""
        ...

    # -- optional: a parser that subclasses OutputParser inherits these defaults -----------

    @property
    def resumes(self) -> bool:
        """Whether `resume_from()` wants the session's earlier events (default ``False``:
        the engine then reads none)."""
        return False

    def resume_from(self, history: Sequence[Event]) -> None:
        """Continue from the session's earlier ``agent_session_identified``,
        ``cost_reported``, ``tool_denied`` and ``session_starting`` events, in order (for
        agents whose reports are running totals, or whose transcript tells them again; the
        last ``session_starting`` is the attempt this parser reads, which an engine may take
        over while it runs); called before the first line this parser reads when `resumes` is
        true. Default: nothing."""
        return None

    def state_events(self, state_dir: Path) -> list[Event]:
        """Events the agent's state folder holds that its output did not tell (Codex: the
        commands its sandbox refused, which only its rollout file records); called once per
        attempt, in a worker thread, after the runtime ended and before `finish()`, with the
        session's agent-state folder on the engine's host. What is in it is the agent's: read
        it bounded, never following a link. Default: none."""
        return []

    @property
    def ended(self) -> bool:
        """Whether the output has already decided the outcome while the agent still runs (an
        interactive CLI whose turn an API error ended waits for a person): the engine then
        stops the runtime and finalizes the attempt with `finish()`. Default ``False``: the
        runtime's end decides."""
        return False


@runtime_checkable
class AgentAdapter(Protocol):
    """Builds an agent's command line and parses its output.

    Implementations must pass `scopecraft.testing.contracts.agents.AgentContract()`.

    Optional members have defaults here: an adapter that subclasses `AgentAdapter` (as the
    built-in ones do) inherits them, one that does not must define them (the plugin registry
    names what it lacks). They are `forward_env` and `prepare_home()`; a parser's are
    `OutputParser.resumes`, `OutputParser.resume_from()`, `OutputParser.state_events()`
    and `OutputParser.ended`.
    """

    @property
    def name(self) -> str:
        """The entry-point name (``claude-code``, ``codex``, ...)."""
        ...

    @property
    def secret_env(self) -> tuple[str, ...]:
        """Environment variables the agent needs that hold secrets (forwarded when set)."""
        ...

    @property
    def can_resume(self) -> bool:
        """Whether the agent can continue its own session by id."""
        ...

    def command(self, request: AgentRequest) -> AgentCommand:
        """Return how to start the agent for ``request``.

        Raises:
            AgentError: the request cannot be served (for example resume without an id).
        """
        ...

    def parser(self, session_id: str) -> OutputParser:
        """Return a fresh parser for one attempt of ``session_id``."""
        ...

    # -- optional: an adapter that subclasses AgentAdapter inherits these defaults ---------

    @property
    def forward_env(self) -> tuple[str, ...]:
        """Non-secret variables passed on when set, such as a base URL (default none)."""
        return ()

    def prepare_home(self, home: Path, request: AgentRequest, env: Mapping[str, str]) -> None:
        """Make the agent's per-session state folder ``home`` ready before each attempt, on
        the engine's machine (a first-run state, the user's copied configuration). Default:
        nothing."""
        return None
