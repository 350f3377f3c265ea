"""``CodexAgent``: OpenAI Codex CLI in ``exec --json`` mode, its parser and its price table."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scopecraft._models import LogStream, Permissions
from scopecraft.events import (
    AgentMessage,
    AgentSessionIdentified,
    CostReported,
    Event,
    ToolDenied,
    ToolUsed,
)

from .._terminal_hooks import parse_report_line, read_transcript, rollout_files
from ._common import (
    StderrTail,
    as_count,
    check_argv_prompt,
    checked_default_model,
    checked_executable,
    copy_user_file,
    encode_prompt,
    events_from_json_line,
    looks_retryable,
    outcome_from_exit,
    prompt_tail,
    summarize,
    turn_failure_outcome,
    validate_model,
    validate_resume_id,
    write_private,
)
from ._prices import TokenPrice, merged_prices, price_in
from ._protocol import AgentAdapter, AgentCommand, AgentOutcome, AgentRequest, OutputParser

__all__ = ["DEFAULT_CODEX_PRICES", "CodexAgent", "CodexExecParser", "CodexPrice"]

log = logging.getLogger("scopecraft.agents.codex")


CodexPrice = TokenPrice
"""A model's list price in USD per million tokens (input, cached input, output): the shared
`TokenPrice`."""


DEFAULT_CODEX_PRICES: Mapping[str, CodexPrice] = {
    "gpt-5.5": CodexPrice(5.00, 0.50, 30.00),
    "gpt-5.4": CodexPrice(2.50, 0.25, 15.00),
    "gpt-5.4-mini": CodexPrice(0.75, 0.075, 4.50),
    "gpt-5.4-nano": CodexPrice(0.20, 0.02, 1.25),
    "gpt-5.3-codex": CodexPrice(1.75, 0.175, 14.00),
    "gpt-5.2": CodexPrice(1.75, 0.175, 14.00),
    "gpt-5.2-codex": CodexPrice(1.75, 0.175, 14.00),
    "gpt-5.1": CodexPrice(1.25, 0.125, 10.00),
    "gpt-5.1-codex": CodexPrice(1.25, 0.125, 10.00),
    "gpt-5.1-codex-mini": CodexPrice(0.25, 0.025, 2.00),
    "gpt-5": CodexPrice(1.25, 0.125, 10.00),
    "gpt-5-codex": CodexPrice(1.25, 0.125, 10.00),
    "gpt-5-mini": CodexPrice(0.25, 0.025, 2.00),
    "gpt-5-nano": CodexPrice(0.05, 0.005, 0.40),
    "default": CodexPrice(5.00, 0.50, 30.00),
}
"""USD per million tokens (input, cached input, output) for the models Codex runs.

Standard-tier, short-context list prices from OpenAI's API pricing page
(https://developers.openai.com/api/docs/pricing) and its model pages, as published copies of
them read on 2026-11-26. ``default`` prices a model missing from the table; it is the most
expensive current entry (``gpt-5.5``), so an unknown model is not under-counted. Prices change:
pass ``prices=`` to `CodexAgent` to correct or extend them.
"""

_MAX_USER_FILE = 1_000_000  # bytes of a user's config or login copied into a session's home


def price_for(prices: Mapping[str, CodexPrice], model: str | None) -> CodexPrice:
    """The price of ``model``: its own entry, else its undated name's (``-YYYY-MM-DD``
    snapshots), else ``default``."""
    return price_in(prices, model, DEFAULT_CODEX_PRICES["default"])


_USAGE_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens")


class CodexExecParser(OutputParser):
    """Reads ``codex exec --json`` lines into events.

    Rules: ``thread.started``'s ``thread_id`` is the agent session id; a completed
    ``agent_message`` item is a message; a ``command_execution`` item is the tool ``shell``
    (summary: the command; emitted when it starts, once), a ``file_change`` item the tool
    ``edit`` (summary: the paths), an ``mcp_tool_call`` the tool ``mcp__<server>__<tool>``,
    a ``web_search`` the tool ``web_search``; ``turn.completed``'s ``usage`` is the thread's
    running total (a resumed thread counts its earlier turns again), so what it adds to the
    last total known for the thread is priced from the table and reported as cost, with the
    new total as ``running_usage``; ``turn.failed`` and ``error`` make the run a failure,
    unless a later turn completed (an ``error`` can announce a retry that then succeeds);
    without a failure or a completed turn the exit code decides, and the last lines of
    standard error say why.

    `resume_from()` tells the parser what the session stored before it started (earlier
    attempts, or this one before the engine restarted), so a resumed thread's earlier turns are
    never billed twice.

    Args:
        session_id: The scopecraft session the events belong to.
        price: The price of the model the run uses.
        agent: The agent's name, for error texts.
    """

    def __init__(self, session_id: str, *, price: CodexPrice, agent: str = "codex") -> None:
        self.session_id = session_id
        self.agent = agent
        self._price = price
        self._identified = False
        self._tool_items: set[str] = set()
        self._total_usd = 0.0
        self._last_message: str | None = None
        self._completed = False
        self._failure: str | None = None
        self._turn_failed = False
        self._outcome: AgentOutcome | None = None
        self._stderr = StderrTail()
        self._thread: str | None = None
        self._running: dict[str, dict[str, int]] = {}  # thread id -> its last running total
        self._denied_ids: set[str] = set()  # refused calls reported (a rollout keeps them)

    resumes = True
    """`resume_from()` reads the session's earlier events."""

    def resume_from(self, history: Sequence[Event]) -> None:
        """Learn, from the session's earlier events in order, each thread's last running total,
        the refused calls already reported, and which thread this attempt continues (the last
        one identified)."""
        thread: str | None = None
        for event in history:
            if isinstance(event, AgentSessionIdentified):
                thread = event.agent_session_id
            elif isinstance(event, ToolDenied) and event.tool_use_id:
                self._denied_ids.add(event.tool_use_id)
            elif isinstance(event, CostReported) and event.running_usage and thread:
                self._running[thread] = {k: int(v) for k, v in event.running_usage.items()}
        self._thread = thread

    @property
    def ended(self) -> bool:
        """True once a terminal session's transcript said an API error ended its turn: the
        outcome is known (failed; retryable when the error is the infrastructure's) though
        the TUI still runs."""
        return self._outcome is not None

    def feed(self, line: str, stream: LogStream = "stdout") -> list[Event]:
        """Read one line of output and return the events it makes. Never raises."""
        if self._outcome is not None:
            return []
        if stream == "system":
            report = parse_report_line(line)
            if report is None:
                return []
            events = self._hook_usage(report.agent_session_id, report.usage) if report.usage else []
            events.extend(self._denials(report.denials))
            if report.failure is not None:
                self._outcome = turn_failure_outcome(*report.failure)
            return events
        if stream == "stderr":
            self._stderr.add(line)
        return events_from_json_line(line, stream, self._handle, log, self.agent)

    def _hook_usage(self, thread: str, usage: Mapping[str, Sequence[int]]) -> list[Event]:
        """A cost report for the usage a terminal session's hooks summed from its rollout
        file (the thread's running totals, every model priced as this session's)."""
        events: list[Event] = []
        if thread and not self._identified:
            self._identified = True
            self._thread = thread
            events.append(
                AgentSessionIdentified(session_id=self.session_id, agent_session_id=thread)
            )
        fresh = sum(max(int(c[0]), 0) for c in usage.values())
        cached = sum(max(int(c[1]), 0) for c in usage.values())
        output = sum(max(int(c[3]), 0) for c in usage.values())
        total = {
            "input_tokens": fresh + cached,
            "cached_input_tokens": cached,
            "output_tokens": output,
        }
        running = {k: total.get(k, 0) for k in _USAGE_KEYS}
        if running != self._running.get(self._thread or ""):  # nothing new: no report
            self._report_running(running, events)
        return events

    def state_events(self, state_dir: Path) -> list[Event]:
        """The commands the sandbox refused, from this thread's rollout file in the session's
        Codex home (``sessions/YYYY/MM/DD/rollout-*-<thread>.jsonl``): Codex's JSON output has
        no item for them. Each refused call is reported once across attempts."""
        if not self._thread:
            return []
        events: list[Event] = []
        for path in rollout_files(state_dir, self._thread):
            summary = read_transcript(path)
            if summary is not None:
                events.extend(self._denials(summary.denials))
        return events

    def _denials(self, denials: Sequence[tuple[str, str, str]]) -> list[Event]:
        events: list[Event] = []
        for call_id, name, reason in denials:
            if call_id in self._denied_ids:
                continue
            self._denied_ids.add(call_id)
            events.append(
                ToolDenied(
                    session_id=self.session_id,
                    name=name or "shell",
                    tool_use_id=call_id,
                    reason=reason,
                )
            )
        return events

    def finish(self, exit_code: int | None) -> tuple[list[Event], AgentOutcome]:
        """Return the outcome: a failure event wins, then a completed turn, then the exit code."""
        if self._outcome is None:
            if self._failure is not None:
                self._outcome = AgentOutcome(
                    success=False,
                    result=self._last_message,
                    error=self._failure,
                    retryable=looks_retryable(self._failure),
                    reported=True,
                )
            elif self._completed:
                self._outcome = AgentOutcome(success=True, result=self._last_message, reported=True)
            else:
                self._outcome = outcome_from_exit(exit_code, self.agent, self._stderr)
        return [], self._outcome

    def _handle(self, data: dict[str, Any], events: list[Event]) -> None:
        kind = data.get("type")
        if kind == "thread.started":
            thread_id = data.get("thread_id")
            if not self._identified and isinstance(thread_id, str) and thread_id:
                self._identified = True
                self._thread = thread_id
                events.append(
                    AgentSessionIdentified(session_id=self.session_id, agent_session_id=thread_id)
                )
        elif kind in ("item.started", "item.completed"):
            item = data.get("item")
            if isinstance(item, dict):
                self._item(item, completed=kind == "item.completed", events=events)
        elif kind == "turn.completed":
            self._turn_completed(data.get("usage"), events)
        elif kind == "turn.failed":
            error = data.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            self._turn_failed = True
            self._failure = _text(message) or "the turn failed"
        elif kind == "error" and not self._turn_failed:
            self._failure = _text(data.get("message")) or "codex reported an error"

    def _item(self, item: dict[str, Any], *, completed: bool, events: list[Event]) -> None:
        item_type = item.get("type")
        item_id = item.get("id") if isinstance(item.get("id"), str) else None
        if item_type == "agent_message":
            text = item.get("text")
            if completed and isinstance(text, str) and text.strip():
                self._last_message = text
                events.append(
                    AgentMessage(session_id=self.session_id, text=text, message_id=item_id)
                )
            return
        if item_type == "command_execution":
            name, summary = "shell", summarize(_text(item.get("command")) or "")
        elif item_type == "file_change" and completed:
            changes = item.get("changes")
            paths = [
                c["path"]
                for c in (changes if isinstance(changes, list) else [])
                if isinstance(c, dict) and isinstance(c.get("path"), str)
            ]
            name, summary = "edit", summarize(", ".join(paths))
        elif item_type == "mcp_tool_call":
            server, tool = _text(item.get("server")) or "?", _text(item.get("tool")) or "?"
            name, summary = f"mcp__{server}__{tool}", summarize(item.get("arguments") or "")
        elif item_type == "web_search":
            name, summary = "web_search", summarize(_text(item.get("query")) or "")
        else:
            return
        if item_id is not None:
            if item_id in self._tool_items:
                return
            self._tool_items.add(item_id)
        events.append(
            ToolUsed(session_id=self.session_id, name=name, tool_use_id=item_id, summary=summary)
        )

    def _turn_completed(self, usage: Any, events: list[Event]) -> None:
        self._completed = True
        if not self._turn_failed:
            # A completed turn after an ``error`` event means the error was recovered from.
            self._failure = None
        if not isinstance(usage, dict):
            return
        counts = {key: as_count(usage.get(key)) for key in _USAGE_KEYS}
        if counts["input_tokens"] is None and counts["output_tokens"] is None:
            return
        self._report_running({key: value or 0 for key, value in counts.items()}, events)

    def _report_running(self, total: dict[str, int], events: list[Event]) -> None:
        """Report what a thread's running usage ``total`` adds to its last one."""
        last = self._running.get(self._thread or "", {})
        if any(total[key] < last.get(key, 0) for key in _USAGE_KEYS):
            last = {}  # a smaller running total: a new count, not the old one's continuation
        added = {key: total[key] - last.get(key, 0) for key in _USAGE_KEYS}
        if self._thread is not None:
            self._running[self._thread] = total
        usd = self._price.cost(
            added["input_tokens"], added["cached_input_tokens"], added["output_tokens"]
        )
        self._total_usd += usd
        events.append(
            CostReported(
                session_id=self.session_id,
                usd=usd,
                total_usd=self._total_usd,
                input_tokens=added["input_tokens"],
                output_tokens=added["output_tokens"],
                running_usage=dict(total),
            )
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


_HOOK_EVENTS = (
    ("SessionStart", "session_start", 10),
    ("Stop", "stop", 10),
    ("SessionEnd", "session_end", 3),
)
"""The hooks a terminal session gets: Codex's event name, its label in a hook's key, and the
timeout in seconds (Codex allows a SessionEnd hook 3 at most)."""


def _codex_hooks(home_seen: str, hooks_file: str) -> tuple[bytes, str]:
    """``hooks.json`` whose hooks append to ``hooks_file`` (the tmux executor's hook command:
    Codex hands a hook the same JSON as Claude Code does), and the ``config.toml`` tables
    that trust them.

    Codex runs a user's hook only once trusted: ``[hooks.state."<file>:<event>:0:0"]``
    holds ``trusted_hash``, the SHA-256 of the hook's identity (the event's label and the
    hook with its defaults filled in) as JSON with sorted keys and no spaces. ``home_seen``
    is the home as the agent sees it (the key names the file by that path).
    """
    from .._terminal_hooks import claude_hook_command

    command = claude_hook_command(Path(hooks_file))
    events: dict[str, Any] = {}
    trust: list[str] = []
    for event, label, timeout in _HOOK_EVENTS:
        handler = {"type": "command", "command": command, "timeout": timeout}
        events[event] = [{"hooks": [handler]}]
        identity = {"event_name": label, "hooks": [{**handler, "async": False}]}
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        key = json.dumps(f"{home_seen.rstrip('/')}/hooks.json:{label}:0:0")
        trust.append(f'[hooks.state.{key}]\ntrusted_hash = "sha256:{digest}"')
    return json.dumps({"hooks": events}, indent=2).encode(), "\n\n".join(trust)


def _toml_value(text: str, key: str) -> str | None:
    """A top-level string of a ``config.toml`` text, if it parses and has one."""
    try:
        value = tomllib.loads(text).get(key)
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, str) and value else None


def _without_daemon(text: str) -> str:
    """``features.daemon_auto_start = false``: the TUI runs its app server in its own process,
    instead of starting a shared daemon (``codex app-server --managed-daemon``) that would
    outlive the session, out of its process group."""
    try:
        features = tomllib.loads(text).get("features")
    except tomllib.TOMLDecodeError:
        features = None
    if isinstance(features, dict) and features.get("daemon_auto_start") is False:
        return text
    return _with_key(text, "features", "daemon_auto_start = false")


def _with_key(text: str, table: str, line: str) -> str:
    """``line`` (``key = value``) set in ``[table]``: under the table's header when the user's
    copy has one, else in a new table at the end; ``text`` as it is when that is not valid
    TOML (the user's copy sets the key already, or defines the table another way)."""
    header = re.search(
        rf"^[ \t]*\[[ \t]*{re.escape(table)}[ \t]*\][ \t]*(?:#.*)?$", text, re.MULTILINE
    )
    if header is None:
        candidate = f"{text.rstrip()}\n\n[{table}]\n{line}\n".lstrip()
    else:
        candidate = f"{text[: header.end()]}\n{line}{text[header.end() :]}"
    return candidate if _parses(candidate, f"[{table}] {line}") else text


def _with_tables(text: str, tables: str) -> str:
    """``text`` with ``tables`` appended, unless that makes it invalid TOML (the user's copy
    defines one of them already): then ``text`` as it is."""
    candidate = f"{text.rstrip()}\n\n{tables}\n".lstrip()
    return candidate if _parses(candidate, tables.splitlines()[0]) else text


def _parses(text: str, what: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        log.info("left %s out of the session's config.toml: the user's copy sets it", what)
        return False
    return True


class CodexAgent(AgentAdapter):
    """OpenAI Codex CLI (``codex``), entry-point name ``codex``.

    Unattended: ``codex exec --json [--model M] [--dangerously-bypass-approvals-and-sandbox]
    [--skip-git-repo-check] -`` with the prompt on standard input (``-`` tells Codex to read
    it there); to continue, ``codex exec ... resume <thread id> -``, the ``exec`` options
    before ``resume`` (the ``resume`` subcommand refuses several of them after it). In a
    terminal: the interactive ``codex [--model M] <permissions> PROMPT`` or
    ``codex resume <id> ... PROMPT``.

    Permissions (``request.permissions``): on the host, ``read-only`` is ``--sandbox
    read-only`` and ``edit`` is ``--sandbox workspace-write`` (Codex's own sandbox lets it
    change the worktree and nothing else); ``full``, and every level in a container, which is
    the sandbox already and where Codex's cannot run (it needs bubblewrap), is
    ``--dangerously-bypass-approvals-and-sandbox``: there the container keeps a ``read-only``
    session's worktree read-only (it is mounted so).
    Unattended runs never ask (``exec`` has no one to ask); in a terminal ``edit`` asks
    ``on-request``.

    With ``state_dir``, ``CODEX_HOME`` points there, and `prepare_home()` copies the user's
    ``config.toml`` (the model provider, its base URL) and ``auth.json`` (the login) into it
    before each attempt and trusts the worktree; ``OPENAI_BASE_URL`` is passed on when set.

    Codex reports tokens, not dollars: each ``turn.completed`` is priced from a table of USD
    per million tokens (`DEFAULT_CODEX_PRICES`, updated by ``prices``).

    Args:
        prices: Prices by model name, merged over the defaults: a `CodexPrice`, or
            ``(input, cached_input, output)`` in USD per million tokens; the key ``default``
            prices unknown models.
        default_model: The model passed as ``--model`` when the request names none, and priced
            then; ``None`` leaves Codex's own default (priced at the ``default`` entry).
        skip_git_repo_check: Pass ``--skip-git-repo-check``; ``None`` does so only in a
            container, where a worktree's ``.git`` file points at a path of the host.
        executable: The command to run (a name on ``PATH`` or a path).
        user_home: The user's Codex folder whose ``config.toml`` and ``auth.json`` are copied
            into each session's (default: the engine's ``CODEX_HOME``, else ``~/.codex``).

    Raises:
        ConfigError: a price or the default model is malformed.
    """

    def __init__(
        self,
        *,
        prices: Mapping[str, CodexPrice | tuple[float, float, float]] | None = None,
        default_model: str | None = None,
        skip_git_repo_check: bool | None = None,
        executable: str = "codex",
        user_home: str | os.PathLike[str] | None = None,
    ) -> None:
        self._executable = checked_executable("codex", executable)
        self._prices: Mapping[str, CodexPrice] = merged_prices(
            DEFAULT_CODEX_PRICES, prices, "codex"
        )
        self._default_model = checked_default_model("codex", default_model)
        self._skip_git_repo_check = skip_git_repo_check
        self._user_home = Path(user_home) if user_home is not None else None

    @property
    def name(self) -> str:
        """``codex``."""
        return "codex"

    @property
    def secret_env(self) -> tuple[str, ...]:
        """``OPENAI_API_KEY``."""
        return ("OPENAI_API_KEY",)

    @property
    def forward_env(self) -> tuple[str, ...]:
        """Non-secret variables passed on when set: ``OPENAI_BASE_URL``."""
        return ("OPENAI_BASE_URL",)

    @property
    def can_resume(self) -> bool:
        """True: ``codex exec resume <thread id>``."""
        return True

    @property
    def prices(self) -> Mapping[str, CodexPrice]:
        """The price table in use (defaults merged with the ones given)."""
        return self._prices

    def price_for(self, model: str | None) -> CodexPrice:
        """The price of ``model`` (``None``: the default model's, else ``default``)."""
        return price_for(self._prices, model or self._default_model)

    def command(self, request: AgentRequest) -> AgentCommand:
        """Return Codex's argv, standard input and environment for ``request``.

        Raises:
            AgentError: the model or resume id is malformed, or a terminal prompt is too long.
        """
        model = request.model or self._default_model
        options: list[str] = []
        if model:
            options += ["--model", validate_model(model)]
        level = request.permissions
        if level is Permissions.FULL or request.in_container:
            options.append("--dangerously-bypass-approvals-and-sandbox")
        elif level is Permissions.EDIT:
            options += ["--sandbox", "workspace-write"]
            if request.terminal:
                options += ["--ask-for-approval", "on-request"]
        else:
            options += ["--sandbox", "read-only"]
        resume = (
            ["resume", validate_resume_id(request.resume_id)]
            if request.resume_id is not None
            else []
        )
        env = {"CODEX_HOME": request.state_dir} if request.state_dir else {}
        if request.terminal:
            tail = prompt_tail(check_argv_prompt(request.prompt, self.name))
            return AgentCommand(argv=(self._executable, *resume, *options, *tail), env=env)
        skip = self._skip_git_repo_check
        if skip is None:
            skip = request.in_container
        if skip:
            options.append("--skip-git-repo-check")
        argv = (self._executable, "exec", "--json", *options, *resume, "-")
        return AgentCommand(argv=argv, stdin=encode_prompt(request.prompt), env=env)

    def prepare_home(self, home: Path, request: AgentRequest, env: Mapping[str, str]) -> None:
        """Make the session's ``CODEX_HOME`` (``home``, on the engine's machine) ready for an
        attempt: the user's ``config.toml`` and ``auth.json`` copied in (never linked; private,
        0600) from ``user_home``, the worktree (``request.workdir``) trusted in the copy, so
        Codex reaches the user's model provider with the user's login and asks nothing. What
        Codex keeps there itself (its sessions, what ``resume`` reads) stays.

        In a terminal the TUI must ask nothing either: its offer to move the session's model
        to a successor (from Codex's bundled model list, ``codex debug models --bundled``) is
        answered "keep the model" (``[notice.model_migrations]``); and with a
        ``request.hooks_file``, the home's ``hooks.json`` holds SessionStart, Stop and
        SessionEnd hooks that append to that file, trusted in the copy (``[hooks.state]``, by
        Codex's hash of each hook), so the engine hears when a turn ends.
        """
        user = self._user_home or Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
        try:
            with (user / "config.toml").open("rb") as handle:
                config = handle.read(_MAX_USER_FILE + 1)
        except OSError:
            config = b""
        if len(config) > _MAX_USER_FILE:
            log.warning("not copying config.toml into the session: over %d bytes", _MAX_USER_FILE)
            config = b""
        text = config.decode("utf-8", "replace")
        table = f"[projects.{json.dumps(request.workdir)}]"
        if table not in text:
            text = f'{text.rstrip()}\n\n{table}\ntrust_level = "trusted"\n'.lstrip()
        hooks_json = home / "hooks.json"  # never the user's: only config.toml is copied
        if request.terminal:
            text = _without_daemon(text)
            model = request.model or self._default_model or _toml_value(text, "model")
            target = self._migration_target(home, model, env) if model else None
            if target:
                answer = f"{json.dumps(model)} = {json.dumps(target)}"
                text = _with_key(text, "notice.model_migrations", answer)
            if request.hooks_file:
                hooks, trust = _codex_hooks(request.state_dir or str(home), request.hooks_file)
                write_private(hooks_json, hooks)
                text = _with_tables(text, trust)
        if not (request.terminal and request.hooks_file):
            hooks_json.unlink(missing_ok=True)
        write_private(home / "config.toml", text.encode())
        copy_user_file(user / "auth.json", home / "auth.json", limit=_MAX_USER_FILE)

    def _migration_target(self, home: Path, model: str, env: Mapping[str, str]) -> str | None:
        """The model Codex's bundled list offers ``model`` to move to, or ``None`` (none, or
        the list cannot be read: then the TUI may ask)."""
        path = env.get("PATH") or os.environ.get("PATH") or os.defpath
        try:
            done = subprocess.run(
                [self._executable, "debug", "models", "--bundled"],
                env={"PATH": path, "HOME": env.get("HOME") or str(home), "CODEX_HOME": str(home)},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )
            models = json.loads(done.stdout)["models"] if done.returncode == 0 else []
        except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot read codex's model list: %s", exc)
            return None
        for entry in models if isinstance(models, list) else []:
            if isinstance(entry, dict) and entry.get("slug") == model:
                upgrade = entry.get("upgrade")
                target = upgrade.get("model") if isinstance(upgrade, dict) else None
                return target if isinstance(target, str) and target != model else None
        return None

    def parser(self, session_id: str, *, model: str | None = None) -> CodexExecParser:
        """Return a fresh parser for one attempt.

        Args:
            session_id: The scopecraft session.
            model: The model the attempt runs, for pricing (default: ``default_model``).
        """
        return CodexExecParser(session_id, price=self.price_for(model), agent=self.name)
