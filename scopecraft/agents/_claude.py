"""``ClaudeCodeAgent``: Claude Code in print mode with ``stream-json`` output, and its parser."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, ClassVar

from scopecraft._errors import ConfigError
from scopecraft._events import AgentMessage, AgentSessionIdentified, CostReported, Event, ToolUsed
from scopecraft._models import LogStream

from ._common import (
    as_count,
    as_usd,
    check_argv_prompt,
    encode_prompt,
    events_from_json_line,
    looks_retryable,
    outcome_from_exit,
    prompt_tail,
    summarize,
    validate_model,
    validate_resume_id,
)
from ._protocol import AgentCommand, AgentOutcome, AgentRequest

__all__ = ["ClaudeCodeAgent", "ClaudeStreamParser"]

log = logging.getLogger("scopecraft.agents.claude")

# Keys of a tool's input that say best what the call does, most telling first.
_SUMMARY_KEYS = (
    "command",
    "file_path",
    "notebook_path",
    "path",
    "pattern",
    "url",
    "query",
    "description",
    "prompt",
)
# Older CLIs reported the run's cost under other names.
_COST_KEYS = ("total_cost_usd", "cost_usd", "total_cost")
_EPSILON = 1e-9  # below a billionth of a dollar is float noise, not cost


def tool_summary(tool_input: Any) -> str:
    """A short view of a tool's input: its command or path when it has one, else its JSON."""
    if isinstance(tool_input, dict):
        for key in _SUMMARY_KEYS:
            value = tool_input.get(key)
            if isinstance(value, str) and value.strip():
                return summarize(value)
    if tool_input in (None, {}, []):
        return ""
    return summarize(tool_input)


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


class ClaudeStreamParser:
    """Reads Claude Code's ``--output-format stream-json --verbose`` lines into events.

    Rules:

    * the ``system``/``init`` line gives the agent's session id (one
      :class:`~scopecraft._events.AgentSessionIdentified` per attempt);
    * ``assistant`` lines are grouped by ``message.id``: the text blocks of one message become
      one :class:`~scopecraft._events.AgentMessage` (joined by a blank line), emitted when a
      line of another message, a ``user`` line (tool results: the message is complete), the
      ``result`` line or the end of the stream arrives;
    * each ``tool_use`` block is a :class:`~scopecraft._events.ToolUsed` at once, with a
      short summary of its input (a command, a path, ...);
    * the ``result`` line gives the cost (``total_cost_usd``, else the older ``cost_usd`` or
      ``total_cost``) as a :class:`~scopecraft._events.CostReported` whose ``usd`` is what it
      adds to what this attempt already reported and whose ``total_usd`` is the attempt's
      running total, tokens from its ``usage``; and the outcome: ``is_error`` wins over
      ``subtype``; its ``result`` text becomes a message only when it does not repeat the last
      one;
    * anything else (non-JSON lines such as ``npm WARN ...``, unknown types) is no event, and
      no input ever raises.

    Subclasses handle extra line types by overriding :meth:`handle_other`, and set
    :attr:`one_line_messages` when their producer never spreads a message over several lines.

    Args:
        session_id: The scopecraft session the events belong to.
        agent: The agent's name, for error texts.
    """

    one_line_messages: ClassVar[bool] = False
    """Emit each message as soon as its line is read, instead of when the next one starts."""

    def __init__(self, session_id: str, *, agent: str = "claude-code") -> None:
        self.session_id = session_id
        self.agent = agent
        self._identified = False
        self._pending_id: str | None = None
        self._pending_texts: list[str] = []
        self._pending_seq = 0
        self._last_text: str | None = None
        self._tool_ids: set[str] = set()
        self._reported_usd = 0.0
        self._result: dict[str, Any] | None = None
        self._outcome: AgentOutcome | None = None

    # -- OutputParser ----------------------------------------------------------------------

    def feed(self, line: str, stream: LogStream = "stdout") -> list[Event]:
        """Read one line of output and return the events it completes.

        Lines on the ``system`` stream (the engine's own) and lines that are not JSON objects
        are no events. Never raises.
        """
        if self._outcome is not None:
            return []
        return events_from_json_line(line, stream, self._handle, log, self.agent)

    def finish(self, exit_code: int | None) -> tuple[list[Event], AgentOutcome]:
        """Return the message still pending and the outcome.

        Without a ``result`` line, the exit code decides (``reported=False``).
        """
        if self._outcome is not None:
            return [], self._outcome
        events: list[Event] = []
        self._flush(events)
        if self._result is None:
            self._outcome = outcome_from_exit(exit_code, self.agent)
        else:
            self._outcome = self._outcome_of(self._result)
        return events, self._outcome

    # -- for subclasses ----------------------------------------------------------------------

    def handle_other(self, data: dict[str, Any], events: list[Event]) -> None:
        """Handle a JSON line of a type this parser does not know; by default, nothing.

        Args:
            data: The decoded line.
            events: Append the events it makes here.
        """

    def report_cost(
        self,
        *,
        added_usd: float | None = None,
        total_usd: float | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> CostReported | None:
        """Account for cost and return the event that reports it, if any.

        Give either ``added_usd`` (a new amount on top of what was reported) or ``total_usd``
        (the attempt's total so far, as a ``result`` line gives it); only what it adds is
        reported as ``usd``, so each dollar is counted once.

        Returns:
            The event, or ``None`` when nothing new is to be reported.
        """
        if added_usd is not None:
            added = max(0.0, added_usd)
        elif total_usd is not None:
            added = max(0.0, total_usd - self._reported_usd)
        else:
            added = 0.0
        if added < _EPSILON:
            added = 0.0
        if added == 0.0 and input_tokens is None and output_tokens is None:
            return None
        self._reported_usd += added
        return CostReported(
            session_id=self.session_id,
            usd=added,
            total_usd=self._reported_usd,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )

    # -- reading -----------------------------------------------------------------------------

    def _handle(self, data: dict[str, Any], events: list[Event]) -> None:
        kind = data.get("type")
        if kind == "system" and data.get("subtype") == "init":
            self._identify(data.get("session_id"), events)
        elif kind == "assistant":
            self._assistant(data, events)
        elif kind == "user":
            self._flush(events)
        elif kind == "result":
            self._on_result(data, events)
        else:
            self.handle_other(data, events)

    def _identify(self, agent_session_id: Any, events: list[Event]) -> None:
        if self._identified or not isinstance(agent_session_id, str) or not agent_session_id:
            return
        self._identified = True
        events.append(
            AgentSessionIdentified(session_id=self.session_id, agent_session_id=agent_session_id)
        )

    def _assistant(self, data: dict[str, Any], events: list[Event]) -> None:
        message = data.get("message")
        if not isinstance(message, dict):
            return
        message_id = message.get("id")
        if not isinstance(message_id, str) or not message_id:
            # A message without an id cannot be grouped with another line: it stands alone.
            self._pending_seq += 1
            message_id = f"\x00anonymous-{self._pending_seq}"
        if message_id != self._pending_id:
            self._flush(events)
            self._pending_id = message_id
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            return
        for block in content:
            if not isinstance(block, dict):
                continue
            block_type = block.get("type")
            if block_type == "text":
                text = block.get("text")
                if isinstance(text, str) and text.strip() and text not in self._pending_texts:
                    self._pending_texts.append(text)
            elif block_type == "tool_use":
                self._tool_use(block, events)
        if self.one_line_messages:
            self._flush(events)

    def _tool_use(self, block: dict[str, Any], events: list[Event]) -> None:
        name = block.get("name")
        tool_use_id = block.get("id")
        if not isinstance(tool_use_id, str) or not tool_use_id:
            tool_use_id = None
        elif tool_use_id in self._tool_ids:
            return
        else:
            self._tool_ids.add(tool_use_id)
        events.append(
            ToolUsed(
                session_id=self.session_id,
                name=name if isinstance(name, str) and name else "unknown",
                tool_use_id=tool_use_id,
                summary=tool_summary(block.get("input")),
            )
        )

    def _flush(self, events: list[Event]) -> None:
        message_id, texts = self._pending_id, self._pending_texts
        self._pending_id, self._pending_texts = None, []
        if not texts:
            return
        text = "\n\n".join(texts)
        self._last_text = text
        shown_id = None if message_id is None or message_id.startswith("\x00") else message_id
        events.append(AgentMessage(session_id=self.session_id, text=text, message_id=shown_id))

    def _on_result(self, data: dict[str, Any], events: list[Event]) -> None:
        self._flush(events)
        self._result = data
        outcome = self._outcome_of(data)
        if not self._identified and outcome.success:
            self._identify(data.get("session_id"), events)
        text = data.get("result")
        if (
            outcome.success
            and isinstance(text, str)
            and text.strip()
            and not (self._last_text is not None and self._repeats_last(text))
        ):
            self._last_text = text
            events.append(AgentMessage(session_id=self.session_id, text=text))
        total = None
        for key in _COST_KEYS:
            total = as_usd(data.get(key))
            if total is not None:
                break
        input_tokens, output_tokens = _tokens(data.get("usage"))
        cost = self.report_cost(
            total_usd=total, input_tokens=input_tokens, output_tokens=output_tokens
        )
        if cost is not None:
            events.append(cost)

    def _repeats_last(self, text: str) -> bool:
        last = self._last_text or ""
        return _same_text(text, last) or " ".join(text.split()) in " ".join(last.split())

    def _outcome_of(self, data: dict[str, Any]) -> AgentOutcome:
        subtype = data.get("subtype")
        subtype = subtype if isinstance(subtype, str) and subtype else None
        is_error = data.get("is_error")
        # is_error wins over subtype: "success" with is_error true is a failure.
        failed = is_error if isinstance(is_error, bool) else subtype not in (None, "success")
        text = data.get("result")
        text = text if isinstance(text, str) and text.strip() else None
        if not failed:
            return AgentOutcome(success=True, result=text, reported=True)
        error = text or subtype or f"{self.agent} reported an error"
        return AgentOutcome(
            success=False,
            result=text,
            error=error,
            retryable=looks_retryable(error) or looks_retryable(subtype),
            reported=True,
        )


def _tokens(usage: Any) -> tuple[int | None, int | None]:
    """Input tokens (cache reads and writes included) and output tokens of a ``usage``."""
    if not isinstance(usage, dict):
        return None, None
    parts = [
        as_count(usage.get(key))
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    known = [p for p in parts if p is not None]
    return (sum(known) if known else None), as_count(usage.get("output_tokens"))


class ClaudeCodeAgent:
    """Claude Code (``claude``), entry-point name ``claude-code``.

    Unattended: ``claude --print --output-format stream-json --verbose [--model M]
    [--resume ID] [--dangerously-skip-permissions]`` with the prompt on standard input.
    In a terminal (``request.terminal``): the interactive ``claude [--model M] [--resume ID]
    [--dangerously-skip-permissions] PROMPT``; argv cannot read a file without a shell, so the
    prompt text itself is the last argument (preceded by ``--`` when it starts with ``-``),
    and prompts over :data:`~scopecraft.agents._common.MAX_ARGV_PROMPT_BYTES` are refused.
    With ``state_dir``, ``CLAUDE_CONFIG_DIR`` points there, so the session's transcripts
    (what ``--resume`` reads) live in the session's own folder; credentials then come from
    ``ANTHROPIC_API_KEY`` or ``CLAUDE_CODE_OAUTH_TOKEN``.

    Args:
        executable: The command to run (a name on ``PATH`` or a path).
    """

    def __init__(self, *, executable: str = "claude") -> None:
        if not executable or executable.startswith("-"):
            raise ConfigError(f"claude-code: invalid executable {executable!r}")
        self._executable = executable

    @property
    def name(self) -> str:
        """``claude-code``."""
        return "claude-code"

    @property
    def secret_env(self) -> tuple[str, ...]:
        """``ANTHROPIC_API_KEY`` and ``CLAUDE_CODE_OAUTH_TOKEN``."""
        return ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")

    @property
    def can_resume(self) -> bool:
        """True: ``--resume <session id>``."""
        return True

    def command(self, request: AgentRequest) -> AgentCommand:
        """Return Claude Code's argv, standard input and environment for ``request``.

        Raises:
            AgentError: the model or resume id is malformed, or a terminal prompt is too long.
        """
        options: list[str] = []
        if request.model:
            options += ["--model", validate_model(request.model)]
        if request.resume_id is not None:
            options += ["--resume", validate_resume_id(request.resume_id)]
        if request.dangerous:
            options.append("--dangerously-skip-permissions")
        env = {"CLAUDE_CONFIG_DIR": request.state_dir} if request.state_dir else {}
        if request.terminal:
            if request.hooks_file:
                # Stop, Notification and SessionEnd hooks append to a file the engine watches:
                # status from structured signals, never from the screen.
                from ..executors._tmux_hooks import claude_hook_settings

                settings = claude_hook_settings(Path(request.hooks_file))
                options += ["--settings", json.dumps(settings, separators=(",", ":"))]
            tail = prompt_tail(check_argv_prompt(request.prompt, self.name))
            return AgentCommand(argv=(self._executable, *options, *tail), env=env)
        argv = (
            self._executable,
            "--print",
            "--output-format",
            "stream-json",
            "--verbose",
            *options,
        )
        return AgentCommand(argv=argv, stdin=encode_prompt(request.prompt), env=env)

    def parser(self, session_id: str) -> ClaudeStreamParser:
        """Return a fresh :class:`ClaudeStreamParser` for one attempt."""
        return ClaudeStreamParser(session_id, agent=self.name)
