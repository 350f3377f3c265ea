"""``ClaudeCodeAgent``: Claude Code in print mode with ``stream-json`` output, and its parser."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from scopecraft._errors import ConfigError
from scopecraft._models import LogStream, Permissions
from scopecraft.events import (
    AgentMessage,
    AgentSessionIdentified,
    CostReported,
    ErrorOccurred,
    Event,
    SessionStarting,
    ToolDenied,
    ToolUsed,
)

from .._terminal_hooks import HookReport, parse_report_line
from ._common import (
    StderrTail,
    as_count,
    as_usd,
    check_argv_prompt,
    copy_user_file,
    encode_prompt,
    events_from_json_line,
    looks_retryable,
    outcome_from_exit,
    prompt_tail,
    retryable_status,
    summarize,
    turn_failure_outcome,
    validate_model,
    validate_resume_id,
    write_private,
)
from ._prices import TokenPrice, merged_prices, price_in
from ._protocol import AgentAdapter, AgentCommand, AgentOutcome, AgentRequest, OutputParser

__all__ = ["DEFAULT_CLAUDE_PRICES", "ClaudeCodeAgent", "ClaudeStreamParser", "claude_usage_cost"]

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
# What Claude Code tells the model when its permissions refuse a tool use.
_DENIED = re.compile(r"requested permissions? to|haven't granted it", re.IGNORECASE)
# The model name of the assistant lines Claude Code writes itself to tell an error.
_SYNTHETIC_MODEL = "<synthetic>"
_SNAPSHOT = re.compile(r"-\d{8}$")  # claude-sonnet-4-5-20250929
_CACHE_WRITE = 1.25  # a 5-minute cache write costs 1.25 times the input price

DEFAULT_CLAUDE_PRICES: Mapping[str, TokenPrice] = {
    "claude-opus-4-6": TokenPrice(5.00, 0.50, 25.00),
    "claude-opus-4-5": TokenPrice(5.00, 0.50, 25.00),
    "claude-opus-4-1": TokenPrice(15.00, 1.50, 75.00),
    "claude-opus-4": TokenPrice(15.00, 1.50, 75.00),
    "claude-opus-4-0": TokenPrice(15.00, 1.50, 75.00),
    "claude-sonnet-4-6": TokenPrice(3.00, 0.30, 15.00),
    "claude-sonnet-4-5": TokenPrice(3.00, 0.30, 15.00),
    "claude-sonnet-4": TokenPrice(3.00, 0.30, 15.00),
    "claude-sonnet-4-0": TokenPrice(3.00, 0.30, 15.00),
    "claude-3-7-sonnet": TokenPrice(3.00, 0.30, 15.00),
    "claude-haiku-4-5": TokenPrice(1.00, 0.10, 5.00),
    "claude-3-5-haiku": TokenPrice(0.80, 0.08, 4.00),
    "claude-3-haiku": TokenPrice(0.25, 0.03, 1.25),
    "default": TokenPrice(15.00, 1.50, 75.00),
}
"""USD per million tokens (input, cache hits, output) of the models Claude Code runs, for an
interactive session, whose CLI reports tokens but no dollars (print mode reports dollars).

List prices from Anthropic's pricing page (https://docs.anthropic.com/en/docs/about-claude/
pricing) and published copies of it, read on 2026-12-03; a 5-minute cache write is 1.25 times
the input price there, as `claude_usage_cost()` counts it. ``default`` prices a model missing
from the table at the most expensive entry, so an unknown model is not under-counted. Prices
change: pass ``prices=`` to `ClaudeCodeAgent` to correct or extend them.
"""


def claude_usage_cost(price: TokenPrice, counts: Sequence[int]) -> float:
    """USD of one model's usage ``[input, cache read, cache creation, output]`` (input
    without the cached tokens, as the Anthropic API counts)."""
    fresh, read, write, output = (max(int(c), 0) for c in counts[:4])
    return (
        fresh * price.input
        + write * price.input * _CACHE_WRITE
        + read * price.cached_input
        + output * price.output
    ) / 1_000_000


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


class ClaudeStreamParser(OutputParser):
    """Reads Claude Code's ``--output-format stream-json --verbose`` lines into events.

    Rules:

    * the ``system``/``init`` line gives the agent's session id (one
      `AgentSessionIdentified` per attempt);
    * ``assistant`` lines are grouped by ``message.id``: the text blocks of one message become
      one `AgentMessage` (joined by a blank line), emitted when a
      line of another message, a ``user`` line (tool results: the message is complete), the
      ``result`` line or the end of the stream arrives;
    * each ``tool_use`` block is a `ToolUsed` at once, with a
      short summary of its input (a command, a path, ...), after the text that came before it
      (Claude Code 2.1 writes one block per line under one ``message.id``, so events keep the
      order the CLI wrote them in);
    * a tool use the CLI's permissions refused (a ``tool_result`` error saying so, or an entry
      of the ``result`` line's ``permission_denials``) is a
      `ToolDenied`, once per tool use;
    * an ``assistant`` line of the model ``<synthetic>`` is the CLI's own error text, not the
      model's: an `ErrorOccurred` (``where="agent"``), as is each
      ``system``/``api_retry`` line (``where="agent api"``);
    * the ``result`` line gives the cost (``total_cost_usd``, else the older ``cost_usd`` or
      ``total_cost``) as a `CostReported` whose ``usd`` is what it
      adds to what this attempt already reported and whose ``total_usd`` is the attempt's
      running total, tokens from its ``usage``; and the outcome: ``is_error`` wins over
      ``subtype``, and a failure is retryable when its ``api_error_status`` is (429, 5xx,
      529), never when it is another 4xx (401: the same key fails again); its ``result`` text
      becomes a message only when it does not repeat the last one;
    * without a ``result`` line the exit code decides, and the last lines of standard error
      are the failure's reason;
    * in a terminal (tmux), where the CLI reports no cost, the usage its ``Stop`` and
      ``SessionEnd`` hooks summed from its transcript (a ``system`` line of the executor's,
      never one the agent prints) is priced by model (``prices``) as a `CostReported`,
      counting only what is new since the last report of that Claude session;
    * anything else (non-JSON lines such as ``npm WARN ...``, unknown types) is no event, and
      no input ever raises.

    Subclasses handle extra line types by overriding `handle_other()`, and set
    `one_line_messages` when their producer never spreads a message over several lines.

    Args:
        session_id: The scopecraft session the events belong to.
        agent: The agent's name, for error texts.
        prices: USD per million tokens by model, for usage without dollars (default
            `DEFAULT_CLAUDE_PRICES`).
    """

    one_line_messages: ClassVar[bool] = False
    """Emit each message as soon as its line is read, instead of when the next one starts."""

    def __init__(
        self,
        session_id: str,
        *,
        agent: str = "claude-code",
        prices: Mapping[str, TokenPrice] | None = None,
    ) -> None:
        self.session_id = session_id
        self.agent = agent
        self._prices = DEFAULT_CLAUDE_PRICES if prices is None else prices
        self._running_tokens: dict[str, tuple[int, int]] = {}
        self._identified = False
        self._pending_id: str | None = None
        self._pending_texts: list[str] = []
        self._pending_seq = 0
        self._last_text: str | None = None
        self._tool_ids: set[str] = set()
        self._tool_inputs: dict[str, tuple[str, Any]] = {}
        self._denied_ids: set[str] = set()
        self._stderr = StderrTail()
        self._reported_usd = 0.0
        self._agent_session: str | None = None
        self._running_usd: dict[str, float] = {}  # Claude session id -> its last running total
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
        if stream == "system":
            report = parse_report_line(line)
            return self._report(report) if report is not None else []
        if stream == "stderr":
            self._stderr.add(line)
        return events_from_json_line(line, stream, self._handle, log, self.agent)

    @property
    def ended(self) -> bool:
        """True once a terminal session's hooks said an API error ended its turn: the
        outcome is known (failed; retryable when the error is the infrastructure's) though
        the interactive CLI still runs."""
        return self._outcome is not None

    def _report(self, report: HookReport) -> list[Event]:
        """The events of what a terminal session's hooks read: its cost, the tool uses a
        person refused, and the API error that ended its turn (which decides the outcome)."""
        events: list[Event] = []
        if report.usage:
            events += self._usage(report.agent_session_id, report.usage)
        else:
            self._identify(report.agent_session_id or None, events)
        for tool_use_id, name, reason in report.denials:
            self._denied(tool_use_id, name or None, None, reason, events)
        if report.failure is not None:
            self._outcome = turn_failure_outcome(*report.failure)
        return events

    def _usage(self, agent_session: str, usage: Mapping[str, Sequence[int]]) -> list[Event]:
        """A cost report for the usage a terminal session's hooks summed (its Claude
        session's running totals): only what is new since that session's last report."""
        events: list[Event] = []
        self._identify(agent_session or None, events)
        running = 0.0
        tokens_in = tokens_out = 0
        for model, counts in usage.items():
            price = price_in(self._prices, model, DEFAULT_CLAUDE_PRICES["default"], dated=_SNAPSHOT)
            running += claude_usage_cost(price, counts)
            tokens_in += sum(max(int(c), 0) for c in counts[:3])
            tokens_out += max(int(counts[3]), 0)
        key = self._agent_session or ""
        before = self._running_usd.get(key, 0.0)
        seen_in, seen_out = self._running_tokens.get(key, (0, 0))
        if running < before - _EPSILON:
            before, seen_in, seen_out = 0.0, 0, 0  # another transcript: it starts again
        self._running_usd[key] = running
        self._running_tokens[key] = (tokens_in, tokens_out)
        new_in, new_out = max(tokens_in - seen_in, 0), max(tokens_out - seen_out, 0)
        cost = self.report_cost(
            added_usd=running - before,
            input_tokens=new_in or None,
            output_tokens=new_out or None,
        )
        if cost is not None:
            usage_so_far = {
                "usd": running,
                "input_tokens": float(tokens_in),
                "output_tokens": float(tokens_out),
            }
            events.append(cost.model_copy(update={"running_usage": usage_so_far}))
        return events

    def finish(self, exit_code: int | None) -> tuple[list[Event], AgentOutcome]:
        """Return the message still pending and the outcome.

        Without a ``result`` line, the exit code decides (``reported=False``) and the last
        lines of standard error say why.
        """
        if self._outcome is not None:
            return [], self._outcome
        events: list[Event] = []
        self._flush(events)
        if self._result is None:
            self._outcome = outcome_from_exit(exit_code, self.agent, self._stderr)
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
            self._tool_results(data, events)
        elif kind == "system" and data.get("subtype") == "api_retry":
            self._api_retry(data, events)
        elif kind == "result":
            self._on_result(data, events)
        else:
            self.handle_other(data, events)

    resumes = True
    """`resume_from()` reads the session's earlier events."""

    def resume_from(self, history: Sequence[Event]) -> None:
        """Learn, from the session's earlier events in order, the tool uses already reported
        as refused, the last running total in dollars of each Claude session, and what this
        attempt reported before (the costs after its ``session_starting``, when an engine
        takes over a running attempt): a resumed session's ``result`` line counts its earlier
        runs again (the CLI restores its cost from its config folder), and an attempt's
        ``result`` counts the costs it reported on the way, so only what they add is new."""
        agent_session: str | None = None
        for event in history:
            if isinstance(event, SessionStarting):
                self._reported_usd = 0.0  # this parser reads the last attempt's output
            elif isinstance(event, CostReported):
                self._reported_usd += event.usd
            if isinstance(event, AgentSessionIdentified):
                agent_session = event.agent_session_id
            elif isinstance(event, ToolDenied) and event.tool_use_id:
                self._denied_ids.add(event.tool_use_id)  # a resumed transcript has it again
            elif isinstance(event, CostReported) and event.running_usage and agent_session:
                usd = event.running_usage.get("usd")
                if usd is not None:
                    self._running_usd[agent_session] = float(usd)
                tokens = (
                    event.running_usage.get("input_tokens"),
                    event.running_usage.get("output_tokens"),
                )
                if tokens[0] is not None and tokens[1] is not None:
                    self._running_tokens[agent_session] = (int(tokens[0]), int(tokens[1]))
        self._agent_session = agent_session

    def _identify(self, agent_session_id: Any, events: list[Event]) -> None:
        if isinstance(agent_session_id, str) and agent_session_id:
            self._agent_session = agent_session_id
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
        if message.get("model") == _SYNTHETIC_MODEL:
            self._synthetic(content, events)
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
                # The text written before the tool use is told before it.
                self._flush(events, keep_id=True)
                self._tool_use(block, events)
        if self.one_line_messages:
            self._flush(events)

    def _synthetic(self, content: list[Any], events: list[Event]) -> None:
        texts = [
            b["text"]
            for b in content
            if isinstance(b, dict) and isinstance(b.get("text"), str) and b["text"].strip()
        ]
        if texts:
            events.append(
                ErrorOccurred(
                    session_id=self.session_id,
                    where="agent",
                    message=summarize("\n".join(texts), 2000),
                )
            )

    def _api_retry(self, data: dict[str, Any], events: list[Event]) -> None:
        status = data.get("error_status")
        error = data.get("error")
        attempt, most = as_count(data.get("attempt")), as_count(data.get("max_retries"))
        parts = [f"API error {status}" if isinstance(status, int) else "API error"]
        if isinstance(error, str) and error.strip():
            parts.append(f"({summarize(error, 200)})")
        if attempt is not None:
            parts.append(f"; retry {attempt}" + (f" of {most}" if most is not None else ""))
        events.append(
            ErrorOccurred(session_id=self.session_id, where="agent api", message=" ".join(parts))
        )

    def _tool_results(self, data: dict[str, Any], events: list[Event]) -> None:
        message = data.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            return
        for block in content:
            if not (
                isinstance(block, dict)
                and block.get("type") == "tool_result"
                and block.get("is_error") is True
            ):
                continue
            said = _result_text(block.get("content"))
            if _DENIED.search(said):
                self._denied(block.get("tool_use_id"), None, None, said, events)

    def _denied(
        self, tool_use_id: Any, name: Any, tool_input: Any, reason: str, events: list[Event]
    ) -> None:
        tool_use_id = tool_use_id if isinstance(tool_use_id, str) and tool_use_id else None
        if tool_use_id is not None:
            if tool_use_id in self._denied_ids:
                return
            self._denied_ids.add(tool_use_id)
            known_name, known_input = self._tool_inputs.get(tool_use_id, (None, None))
            name = name if isinstance(name, str) and name else known_name
            tool_input = tool_input if tool_input is not None else known_input
        events.append(
            ToolDenied(
                session_id=self.session_id,
                name=name if isinstance(name, str) and name else "unknown",
                tool_use_id=tool_use_id,
                summary=tool_summary(tool_input),
                reason=summarize(reason, 500),
            )
        )

    def _tool_use(self, block: dict[str, Any], events: list[Event]) -> None:
        name = block.get("name")
        tool_use_id = block.get("id")
        if not isinstance(tool_use_id, str) or not tool_use_id:
            tool_use_id = None
        elif tool_use_id in self._tool_ids:
            return
        else:
            self._tool_ids.add(tool_use_id)
            if len(self._tool_inputs) < 10_000:
                self._tool_inputs[tool_use_id] = (str(name), block.get("input"))
        events.append(
            ToolUsed(
                session_id=self.session_id,
                name=name if isinstance(name, str) and name else "unknown",
                tool_use_id=tool_use_id,
                summary=tool_summary(block.get("input")),
            )
        )

    def _flush(self, events: list[Event], *, keep_id: bool = False) -> None:
        message_id, texts = self._pending_id, self._pending_texts
        self._pending_id, self._pending_texts = (message_id if keep_id else None), []
        if not texts:
            return
        text = "\n\n".join(texts)
        self._last_text = text
        shown_id = None if message_id is None or message_id.startswith("\x00") else message_id
        events.append(AgentMessage(session_id=self.session_id, text=text, message_id=shown_id))

    def _on_result(self, data: dict[str, Any], events: list[Event]) -> None:
        self._flush(events)
        self._result = data
        denials = data.get("permission_denials")
        for denial in denials if isinstance(denials, list) else []:
            if isinstance(denial, dict):
                self._denied(
                    denial.get("tool_use_id"),
                    denial.get("tool_name"),
                    denial.get("tool_input"),
                    "refused by the permissions the agent runs with",
                    events,
                )
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
        running = None
        if total is not None:
            running = {"usd": total}
            before = self._running_usd.get(self._agent_session or "")
            if before is not None and total >= before - _EPSILON:
                total = max(0.0, total - before)  # a resumed session's total counts it all
            if self._agent_session:
                self._running_usd[self._agent_session] = running["usd"]
        cost = self.report_cost(
            total_usd=total, input_tokens=input_tokens, output_tokens=output_tokens
        )
        if cost is not None:
            if running is not None:
                cost = cost.model_copy(update={"running_usage": running})
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
        status = data.get("api_error_status")
        by_status = retryable_status(status)
        if by_status is not None and str(status) not in error:
            error = f"{error} (API error {status})"
        return AgentOutcome(
            success=False,
            result=text,
            error=error,
            retryable=(
                by_status
                if by_status is not None
                else looks_retryable(error) or looks_retryable(subtype)
            ),
            reported=True,
        )


def _result_text(content: Any) -> str:
    """The text of a ``tool_result``'s content: a string, or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
        )
    return ""


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


_HOME_FILE = ".claude.json"
_MAX_USER_FILE = 1_000_000  # bytes of a user's settings or login copied into a session's home
_KEY_SUFFIX = 20  # Claude Code remembers an approved API key by its last 20 characters


class ClaudeCodeAgent(AgentAdapter):
    """Claude Code (``claude``), entry-point name ``claude-code``.

    Unattended: ``claude --print --output-format stream-json --verbose [--model M]
    [--resume ID] <permissions>`` with the prompt on standard input. In a terminal
    (``request.terminal``): the interactive ``claude [--model M] [--resume ID] <permissions>
    PROMPT``; argv cannot read a file without a shell, so the prompt text itself is the last
    argument (preceded by ``--`` when it starts with ``-``), and prompts over
    `MAX_ARGV_PROMPT_BYTES` are refused.

    Permissions (``request.permissions``): ``read-only`` is ``--permission-mode plan`` (read
    and answer, change nothing); ``edit`` is ``--permission-mode acceptEdits`` with
    ``--allowedTools`` for ``allowed_tools`` (by default the session's own MCP server); ``full``
    is ``--dangerously-skip-permissions``, with ``IS_SANDBOX=1`` in a container (Claude Code
    refuses to skip permissions as root without it) and never on the host.

    With ``state_dir``, ``CLAUDE_CONFIG_DIR`` points there, so the session's transcripts
    (what ``--resume`` reads) live in the session's own folder; `prepare_home()` makes it
    ready before each attempt (onboarding done, the API key approved, the worktree trusted,
    the user's settings and login copied). Credentials come from ``ANTHROPIC_API_KEY`` or
    ``CLAUDE_CODE_OAUTH_TOKEN``; ``ANTHROPIC_BASE_URL`` and the switches that turn the CLI's
    telemetry and updates off are passed on when set.

    Args:
        executable: The command to run (a name on ``PATH`` or a path).
        allowed_tools: Tools allowed without asking at the ``edit`` level, in Claude Code's
            rule syntax (``mcp__<server>`` for all tools of an MCP server, ``Bash(npm test)``).
        user_home: The user's Claude Code folder whose ``settings.json`` and
            ``.credentials.json`` are copied into each session's (default: the engine's
            ``CLAUDE_CONFIG_DIR``, else ``~/.claude``).
        prices: Prices by model name, merged over `DEFAULT_CLAUDE_PRICES`, for the cost of
            interactive sessions: a `TokenPrice`, three numbers (input, cache hits, output;
            USD per million tokens) or a mapping of them.

    Raises:
        ConfigError: the executable, an allowed tool or a price is malformed.
    """

    def __init__(
        self,
        *,
        executable: str = "claude",
        allowed_tools: tuple[str, ...] | list[str] = ("mcp__scopecraft",),
        user_home: str | os.PathLike[str] | None = None,
        prices: Mapping[str, Any] | None = None,
    ) -> None:
        self._prices = merged_prices(DEFAULT_CLAUDE_PRICES, prices, "claude-code")
        if not executable or executable.startswith("-"):
            raise ConfigError(f"claude-code: invalid executable {executable!r}")
        self._executable = executable
        tools = tuple(allowed_tools)
        for tool in tools:
            if not isinstance(tool, str) or not _TOOL_RULE.fullmatch(tool):
                raise ConfigError(
                    f"claude-code: invalid allowed tool {tool!r}: a tool name, optionally "
                    "with a rule in parentheses, such as mcp__scopecraft or Bash(npm test)"
                )
        self._allowed_tools = tools
        self._user_home = Path(user_home) if user_home is not None else None

    @property
    def name(self) -> str:
        """``claude-code``."""
        return "claude-code"

    @property
    def secret_env(self) -> tuple[str, ...]:
        """``ANTHROPIC_API_KEY`` and ``CLAUDE_CODE_OAUTH_TOKEN``."""
        return ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")

    @property
    def forward_env(self) -> tuple[str, ...]:
        """Non-secret variables passed on when set: the API's base URL and model, and the
        switches for telemetry, updates and error reporting."""
        return _FORWARD_ENV

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
        env = {"CLAUDE_CONFIG_DIR": request.state_dir} if request.state_dir else {}
        if request.permissions is Permissions.FULL:
            options.append("--dangerously-skip-permissions")
            if request.in_container:
                env["IS_SANDBOX"] = "1"
        elif request.permissions is Permissions.EDIT:
            options += ["--permission-mode", "acceptEdits"]
            # One element per rule with "=": a variadic option would swallow the prompt.
            options += [f"--allowedTools={tool}" for tool in self._allowed_tools]
        else:
            options += ["--permission-mode", "plan"]
        if request.terminal:
            if request.hooks_file:
                # Stop, Notification and SessionEnd hooks append to a file the engine watches:
                # status from structured signals, never from the screen.
                from .._terminal_hooks import claude_hook_settings

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

    def prepare_home(self, home: Path, request: AgentRequest, env: Mapping[str, str]) -> None:
        """Make the session's ``CLAUDE_CONFIG_DIR`` (``home``, on the engine's machine) ready
        for an attempt, so that neither form of the CLI stops at a first-run question.

        ``.claude.json`` gets onboarding done, the API key of ``env`` approved (Claude Code
        remembers it by its last 20 characters, in this private folder only), the worktree
        (``request.workdir``) trusted, and, for ``full``, the skip-permissions warning
        accepted; what the agent itself stored there (its projects, its history) is kept. The
        user's ``settings.json`` and ``.credentials.json`` (a subscription login) are copied,
        never linked, when they exist. Every file is private (0600).
        """
        state = _read_json_object(home / _HOME_FILE)
        state["hasCompletedOnboarding"] = True
        state.setdefault("numStartups", 1)
        key = env.get("ANTHROPIC_API_KEY", "")
        if key:
            responses = state.get("customApiKeyResponses")
            if not isinstance(responses, dict):
                responses = {}
            approved = [k for k in responses.get("approved") or [] if isinstance(k, str)]
            if key[-_KEY_SUFFIX:] not in approved:
                approved.append(key[-_KEY_SUFFIX:])
            rejected = [
                k
                for k in responses.get("rejected") or []
                if isinstance(k, str) and k != key[-_KEY_SUFFIX:]
            ]
            state["customApiKeyResponses"] = {"approved": approved, "rejected": rejected}
        projects = state.get("projects")
        if not isinstance(projects, dict):
            projects = {}
        project = projects.get(request.workdir)
        if not isinstance(project, dict):
            project = {}
        project.update(hasTrustDialogAccepted=True, hasCompletedProjectOnboarding=True)
        projects[request.workdir] = project
        state["projects"] = projects
        if request.permissions is Permissions.FULL:
            state["bypassPermissionsModeAccepted"] = True
        write_private(home / _HOME_FILE, json.dumps(state, indent=2).encode())
        user = self._user_home or Path(
            os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude"
        )
        for name in ("settings.json", ".credentials.json"):
            copy_user_file(user / name, home / name, limit=_MAX_USER_FILE)

    def parser(self, session_id: str) -> ClaudeStreamParser:
        """Return a fresh `ClaudeStreamParser` for one attempt."""
        return ClaudeStreamParser(session_id, agent=self.name, prices=self._prices)


_TOOL_RULE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,199}(?:\([^()\x00-\x1f]{0,500}\))?")
_FORWARD_ENV = (
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "DISABLE_TELEMETRY",
    "DISABLE_AUTOUPDATER",
    "DISABLE_ERROR_REPORTING",
    "DISABLE_BUG_COMMAND",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
)


def _read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (the agent may have written it: bounded, never through a
    link), or an empty one when it is missing, too big or not one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(_MAX_USER_FILE + 1)
        data = json.loads(raw) if len(raw) <= _MAX_USER_FILE else None
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
