"""Structured status from the agent itself: Claude Code hooks writing JSON lines to a file.

An interactive agent's screen is for people; its wording changes between versions. Claude Code
instead runs *hooks* at defined moments and hands each one a JSON object on standard input.
`claude_hook_settings()` builds the settings that make it append that object, as one line,
to ``hooks.jsonl`` in the attempt's run folder; the tmux executor reads the file by byte
offset (`read_hook_signals()`): a ``Stop`` says the agent finished a turn and waits for
input, a ``StopFailure`` that an API error ended the turn (and which: ``server_error``,
``rate_limit``, ``authentication_failed``, ...), a ``Notification`` that it needs attention
(a permission prompt, an idle prompt), a ``UserPromptSubmit`` that it was given a prompt, a
``SessionEnd`` that its session ended (and why), a ``SessionStart`` which agent session runs.

Run as a script (``python -I -S _terminal_hooks.py FILE``) this module is the hook command: it
reads the hook's input, keeps the few fields that say what happened, and appends them as one
line in a single ``write`` (appends of one line never interleave). On ``Stop``,
``StopFailure``, ``UserPromptSubmit`` and ``SessionEnd`` it also reads the agent's transcript
(the ``transcript_path`` Claude Code hands it: one JSON line per message block,
`read_transcript()`): the token usage, so an interactive session's cost is known without
reading the screen, and the tool uses a person refused at a permission prompt. It imports
only the standard library and always exits 0: a broken hook must never stop the agent.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "HOOKS_FILE",
    "HOOK_EVENTS",
    "USAGE_LINE_TYPE",
    "HookReport",
    "HookSignal",
    "TranscriptSummary",
    "claude_hook_command",
    "claude_hook_settings",
    "failure_line",
    "follow_transcript",
    "parse_report_line",
    "read_hook_signals",
    "read_transcript",
    "transcript_usage",
    "write_claude_hook_settings",
]

HOOKS_FILE = "hooks.jsonl"
"""The file in the run folder that hooks append to."""

HOOK_EVENTS = (
    "SessionStart",
    "Stop",
    "StopFailure",
    "Notification",
    "UserPromptSubmit",
    "SessionEnd",
)
"""The Claude Code hook events scopecraft listens to."""

CLAUDE_SETTINGS_FILE = "claude-settings.json"
"""Where `write_claude_hook_settings()` writes the settings (for ``claude --settings``)."""

_KEPT = (
    "hook_event_name",
    "session_id",
    "message",
    "notification_type",
    "reason",
    "title",
    "error",
    "last_assistant_message",
)
_MAX_INPUT = 1024 * 1024
_MAX_FIELD = 2000
_READ_LIMIT = 1024 * 1024
_TRANSCRIPT_EVENTS = ("Stop", "StopFailure", "UserPromptSubmit", "SessionEnd")
_MAX_DENIALS = 50  # the last refused tool uses a hook reports
_DENIAL_TEXT = ("The user doesn't want to proceed with this tool use",)
_TRANSCRIPT_LIMIT = 64 * 1024 * 1024  # bytes of a transcript read (its end, when longer)
_TRANSCRIPT_LINE = 1024 * 1024  # a longer line (a huge tool result) is skipped
_MAX_MODELS = 8
_USAGE_KEYS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
)

USAGE_LINE_TYPE = "scopecraft_agent_usage"
"""The ``type`` of the line (on the ``system`` stream) that carries what a hook read: usage,
refused tool uses, the API error that ended a turn."""


@dataclass(frozen=True, slots=True)
class TranscriptSummary:
    """What `read_transcript()` found.

    Attributes:
        usage: For each model, ``[input, cache read, cache creation, output]`` tokens.
        denials: The tool uses a person (Claude Code) or the sandbox (Codex) refused, oldest
            first, as ``(tool use id, tool name, what the agent was told)``; the last
            `_MAX_DENIALS` only.
    """

    usage: dict[str, list[int]]
    denials: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class HookReport:
    """A report line read back (`parse_report_line()`).

    Attributes:
        agent_session_id: The agent's session, or ``""``.
        usage: The session's token usage so far by model, or ``None``.
        denials: Refused tool uses, ``(id, name, reason)``.
        failure: For a turn an API error ended, ``(error kind, the agent's message)``.
    """

    agent_session_id: str
    usage: dict[str, list[int]] | None = None
    denials: tuple[tuple[str, str, str], ...] = ()
    failure: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class HookSignal:
    """One hook the agent ran, as read from ``hooks.jsonl``.

    Attributes:
        event: The hook event (``Stop``, ``Notification``, ``SessionEnd``, ...).
        agent_session_id: The agent's own session id, when the hook gave it.
        message: A notification's text, or why a session ended.
        kind: A notification's type (``permission_prompt``, ``idle_prompt``), if given.
        fields: Every field kept from the hook's input.
    """

    event: str
    agent_session_id: str | None = None
    message: str = ""
    kind: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def waiting_for_input(self) -> bool:
        """True when the agent finished its turn or asks for a person (input or approval)."""
        return self.event in ("Stop", "StopFailure", "Notification")

    @property
    def usage(self) -> dict[str, list[int]] | None:
        """The agent session's token usage so far, by model (see `transcript_usage()`), as
        a ``Stop`` or ``SessionEnd`` hook summed it; ``None`` when it did not."""
        return _usage_of(self.fields.get("usage"))

    @property
    def denials(self) -> tuple[tuple[str, str, str], ...]:
        """The refused tool uses the hook read in the transcript, ``(id, name, reason)``."""
        return _denials_of(self.fields.get("denials"))

    @property
    def failure(self) -> tuple[str, str] | None:
        """For a ``StopFailure``: ``(error kind, the agent's message)``."""
        if self.event != "StopFailure":
            return None
        kind = self.fields.get("error", "") or "unknown"
        return kind, " ".join(self.fields.get("last_assistant_message", "").split())

    def report_line(self) -> str | None:
        """The ``system`` line that hands what the hook read to the agent's parser (usage,
        refused tool uses, the API error that ended the turn), if there is any."""
        usage, denials, failure = self.usage, self.denials, self.failure
        if not usage and not denials and failure is None:
            return None
        data: dict[str, Any] = {
            "type": USAGE_LINE_TYPE,
            "agent_session_id": self.agent_session_id or "",
        }
        if usage:
            data["usage"] = usage
        if denials:
            data["denials"] = [list(d) for d in denials]
        if failure is not None:
            data["failure"] = list(failure)
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def describe(self) -> str:
        """A one-line account, as the engine logs it on the ``system`` stream."""
        if self.event == "Stop":
            text = "agent hook Stop: the agent finished its turn and waits for input"
        elif self.event == "StopFailure":
            kind, said = self.failure or ("unknown", "")
            text = f"agent hook StopFailure: an API error ended the turn ({kind})"
            if said:
                text += f": {said}"
        elif self.event == "UserPromptSubmit":
            text = "agent hook UserPromptSubmit: the agent was given a prompt"
        elif self.event == "Notification":
            text = f"agent hook Notification: {self.message or 'the agent needs attention'}"
            if self.kind:
                text += f" ({self.kind})"
        elif self.event == "SessionEnd":
            text = f"agent hook SessionEnd: the agent's session ended ({self.message or 'exit'})"
        elif self.event == "SessionStart":
            text = "agent hook SessionStart: the agent's session started"
        else:
            text = f"agent hook {self.event}"
        if self.agent_session_id:
            text += f" [agent session {self.agent_session_id}]"
        return text


def claude_hook_command(events_file: Path, *, python: str | None = None) -> str:
    """The command line of the hook that appends to ``events_file``.

    Claude Code runs hook commands with a shell, so this is a string; every part of it is
    ours (the interpreter, this module's path, the file) and quoted with `shlex.quote()`.
    """
    return shlex.join(
        [python or sys.executable, "-I", "-S", str(Path(__file__).resolve()), str(events_file)]
    )


def claude_hook_settings(events_file: Path, *, python: str | None = None) -> dict[str, Any]:
    """Claude Code settings whose hooks append each hook's input to ``events_file``.

    Pass them with ``claude --settings FILE`` (see `write_claude_hook_settings()`); they
    are merged with the user's own settings.
    """
    command = claude_hook_command(events_file, python=python)
    entry = {"hooks": [{"type": "command", "command": command, "timeout": 10}]}
    return {"hooks": {event: [entry] for event in HOOK_EVENTS}}


def write_claude_hook_settings(run_dir: Path, *, python: str | None = None) -> Path:
    """Write `claude_hook_settings()` for ``run_dir/hooks.jsonl`` to a private file.

    Returns:
        The settings file (``run_dir/claude-settings.json``, mode 0600).

    Raises:
        OSError: the run folder cannot be written.
    """
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = run_dir / CLAUDE_SETTINGS_FILE
    data = json.dumps(claude_hook_settings(run_dir / HOOKS_FILE, python=python), indent=2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data + "\n")
    return path


def _signal_from(data: dict[str, Any]) -> HookSignal | None:
    event = data.get("hook_event_name")
    if not isinstance(event, str) or not event:
        return None
    fields = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
    session = fields.get("session_id") or None
    message = fields.get("message") or fields.get("reason") or ""
    return HookSignal(
        event=event,
        agent_session_id=session,
        message=" ".join(message.split()),
        kind=fields.get("notification_type", ""),
        fields=fields,
    )


def read_hook_signals(path: Path, offset: int = 0) -> tuple[list[HookSignal], int]:
    """Read the complete lines of a hooks file past ``offset``.

    Returns:
        The signals read (lines that are not hook objects are skipped) and the new offset.
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(_READ_LIMIT)
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    signals: list[HookSignal] = []
    for raw in data[: end + 1].splitlines():
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            signal = _signal_from(item)
            if signal is not None:
                signals.append(signal)
    return signals, offset + end + 1


def transcript_usage(path: Path) -> dict[str, list[int]] | None:
    """Sum the token usage of an agent's transcript, by model (`read_transcript()`).

    Returns:
        For each model, ``[input, cache read, cache creation, output]`` tokens (input without
        the cached ones, as the Anthropic API counts), or ``None`` when nothing could be read.
    """
    summary = read_transcript(path)
    return summary.usage if summary is not None and summary.usage else None


def read_transcript(path: Path) -> TranscriptSummary | None:
    """Read an agent's transcript: its token usage by model and the tool uses refused.

    Claude Code's transcript is JSON lines; an ``assistant`` line carries its message's
    ``id``, ``model`` and ``usage``, and one message spread over several lines (a block per
    line) is counted once, with the largest count of each kind its lines give. Lines of the
    model ``<synthetic>`` (the CLI's own error text) cost nothing. A tool use a person refused
    at a permission prompt is a ``user`` line whose ``tool_result`` is an error and that says
    so (``toolDenialKind``, or the CLI's refusal text); its name comes from the ``tool_use``
    block of the same id. Codex's transcript (its rollout file) has a ``token_usage_record``
    per model response (``response_id``, ``usage`` with the cached tokens inside
    ``input_tokens``), of the model the last ``turn_context`` named; a tool call whose output
    says ``Read-only file system`` was refused by the sandbox (or a read-only mount), named
    after its ``function_call`` (a command is ``shell``).

    Bounded: a regular file only, opened without following a link; at most the last 64 MiB
    are read, lines over 1 MiB are skipped, at most 8 models and the last 50 refusals are
    kept.

    Returns:
        The summary, or ``None`` when the file could not be read.
    """
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        start = max(0, info.st_size - _TRANSCRIPT_LIMIT)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            fh.seek(start)
            data = fh.read(_TRANSCRIPT_LIMIT)
    except OSError:
        return None
    finally:
        os.close(fd)
    if start:
        data = data[data.find(b"\n") + 1 :]  # the first line was cut
    messages: dict[str, tuple[str, list[int]]] = {}
    tools: dict[str, str] = {}
    denials: dict[str, tuple[str, str, str]] = {}
    codex_model = "default"
    for raw in data.splitlines():
        if len(raw) > _TRANSCRIPT_LINE or not any(m in raw for m in _MARKERS):
            continue
        try:
            item = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if not isinstance(item, dict):
            continue
        if b'"tool_' in raw:
            _tool_blocks(item, tools, denials)
        if b'"response_item"' in raw:
            _codex_call(item, tools, denials)
        found = _message_usage(item)
        if found is None:
            continue
        if found[0] == "":  # a Codex turn_context: the model of the responses that follow
            codex_model = found[1]
            continue
        message_id, model, counts = found
        model = model or codex_model
        known = messages.get(message_id)
        if known is not None:
            counts = [max(a, b) for a, b in zip(known[1], counts, strict=True)]
        messages[message_id] = (model, counts)
    totals: dict[str, list[int]] = {}
    for model, counts in messages.values():
        if model not in totals and len(totals) >= _MAX_MODELS:
            model = "other"
        into = totals.setdefault(model, [0, 0, 0, 0])
        for i, count in enumerate(counts):
            into[i] += count
    refused = tuple(
        (use_id, tools.get(use_id, name), reason) for use_id, name, reason in denials.values()
    )
    return TranscriptSummary(usage=totals, denials=refused[-_MAX_DENIALS:])


def _tool_blocks(
    item: dict[str, Any], tools: dict[str, str], denials: dict[str, tuple[str, str, str]]
) -> None:
    """Note a Claude transcript line's tool uses (id -> name) and refused tool results."""
    message = item.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return
    refused_line = isinstance(item.get("toolDenialKind"), str)
    for block in content[:64]:
        if not isinstance(block, dict):
            continue
        use_id = block.get("id") if block.get("type") == "tool_use" else block.get("tool_use_id")
        if not isinstance(use_id, str) or not use_id:
            continue
        use_id = use_id[:200]
        if block.get("type") == "tool_use":
            name = block.get("name")
            if isinstance(name, str) and name and len(tools) < 10_000:
                tools[use_id] = name[:200]
        elif block.get("type") == "tool_result" and block.get("is_error") is True:
            text = _result_text(block.get("content"))
            if refused_line or text.startswith(_DENIAL_TEXT):
                denials.pop(use_id, None)
                denials[use_id] = (use_id, "", " ".join(text.split())[:500])
                if len(denials) > _MAX_DENIALS:
                    denials.pop(next(iter(denials)))


def _result_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [b.get("text") for b in content[:16] if isinstance(b, dict)]
        return " ".join(t for t in texts if isinstance(t, str))
    return ""


_MARKERS = (
    b'"assistant"',
    b'"turn_context"',
    b'"token_usage_record"',
    b'"tool_result"',
    b'"function_call',
    b'"custom_tool_call',
)
_READ_ONLY_TEXT = "Read-only file system"  # EROFS: what a read-only sandbox or mount answers
_CODEX_SHELL = frozenset({"exec_command", "shell", "local_shell", "container.exec"})


def _codex_call(
    item: dict[str, Any], tools: dict[str, str], denials: dict[str, tuple[str, str, str]]
) -> None:
    """Note a Codex rollout's tool call (call id -> name) and a call whose output says the
    file system refused a write (a read-only sandbox, or a read-only mount in a container):
    Codex's JSON output has no item for such a command, its rollout has the answer."""
    payload = item.get("payload")
    if item.get("type") != "response_item" or not isinstance(payload, dict):
        return
    kind = payload.get("type")
    call_id = payload.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        return
    call_id = call_id[:200]
    if kind in ("function_call", "custom_tool_call"):
        name = payload.get("name")
        if isinstance(name, str) and name and len(tools) < 10_000:
            tools[call_id] = "shell" if name in _CODEX_SHELL else name[:200]
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output = payload.get("output")
        if isinstance(output, dict):
            output = output.get("content")
        text = _result_text(output)
        if _READ_ONLY_TEXT in text:
            line = next(part for part in text.splitlines() if _READ_ONLY_TEXT in part)
            denials.pop(call_id, None)
            denials[call_id] = (call_id, "", " ".join(line.split())[:500])
            if len(denials) > _MAX_DENIALS:
                denials.pop(next(iter(denials)))


def _settle(path: Path, *, quiet: float = 0.3, most: float = 2.0) -> None:
    """Wait (at most ``most`` seconds) until ``path`` stopped growing for ``quiet`` seconds:
    the CLI may still be writing the turn's last message when its hook starts."""
    import time

    deadline = time.monotonic() + most
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        try:
            size = os.stat(path, follow_symlinks=False).st_size
        except OSError:
            return
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


def _message_usage(item: dict[str, Any]) -> tuple[str, str, list[int]] | None:
    """One line's ``(message id, model, counts)``; ``("", model, [])`` for a Codex
    ``turn_context``; ``None`` for a line without usage."""
    if item.get("type") in ("turn_context", "token_usage_record"):
        return _codex_usage(item)
    if item.get("type") != "assistant":
        return None
    message = item.get("message")
    if not isinstance(message, dict):
        return None
    message_id, model, usage = message.get("id"), message.get("model"), message.get("usage")
    if not isinstance(message_id, str) or not isinstance(model, str) or not isinstance(usage, dict):
        return None
    if model == "<synthetic>" or not model:
        return None
    counts: list[int] = []
    for key in _USAGE_KEYS:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
            counts.append(value)
        else:
            counts.append(0)
    return message_id[:200], model[:100], counts


def _count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
        return value
    return 0


def _codex_usage(item: dict[str, Any]) -> tuple[str, str, list[int]] | None:
    payload = item.get("payload")
    if not isinstance(payload, dict):
        return None
    if item.get("type") == "turn_context":
        model = payload.get("model")
        return ("", model[:100], []) if isinstance(model, str) and model else None
    response_id, usage = payload.get("response_id"), payload.get("usage")
    if not isinstance(response_id, str) or not isinstance(usage, dict):
        return None
    total, cached = _count(usage.get("input_tokens")), _count(usage.get("cached_input_tokens"))
    cached = min(cached, total)
    counts = [total - cached, cached, 0, _count(usage.get("output_tokens"))]
    return "codex:" + response_id[:200], "", counts


def _usage_of(text: object) -> dict[str, list[int]] | None:
    """A usage summary read back from its JSON text (anything else: ``None``)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    usage: dict[str, list[int]] = {}
    for model, counts in list(data.items())[: _MAX_MODELS + 1]:
        if (
            isinstance(model, str)
            and isinstance(counts, list)
            and len(counts) == len(_USAGE_KEYS)
            and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
        ):
            usage[model[:100]] = list(counts)
    return usage or None


def parse_report_line(line: str) -> HookReport | None:
    """What a line made by `HookSignal.report_line()` says, else ``None``."""
    if USAGE_LINE_TYPE not in line or len(line) > 256 * 1024:
        return None
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("type") != USAGE_LINE_TYPE:
        return None
    usage = _usage_of(json.dumps(data.get("usage"))) if "usage" in data else None
    denials = _denials_of(json.dumps(data.get("denials"))) if "denials" in data else ()
    failure: tuple[str, str] | None = None
    found = data.get("failure")
    if isinstance(found, list) and len(found) == 2 and all(isinstance(f, str) for f in found):
        failure = (found[0][:100] or "unknown", found[1][:_MAX_FIELD])
    if usage is None and not denials and failure is None:
        return None
    session = data.get("agent_session_id")
    return HookReport(
        agent_session_id=session if isinstance(session, str) else "",
        usage=usage,
        denials=denials,
        failure=failure,
    )


def follow_transcript(
    path: Path, offset: int, *, limit: int = 1024 * 1024
) -> tuple[list[tuple[str, str]], int]:
    """Read a Codex transcript's complete lines past ``offset`` for turns an API error ended.

    Codex runs no hook when a turn fails (its TUI shows the error and waits), but its
    transcript (the rollout file) ends the turn with a ``task_complete`` whose ``error`` has
    the message and, for an HTTP failure, ``codex_error_info.http_connection_failed
    .http_status_code``. The status names the kind as Claude Code's ``StopFailure`` does:
    ``rate_limit`` (429), ``server_error`` (5xx, 529 included), ``authentication_failed``
    (401, 403), else ``unknown``.

    Bounded: a regular file only, opened without following a link, at most ``limit`` bytes a
    call; a line longer than that is skipped.

    Returns:
        ``(kind, message)`` of each failed turn, and the new offset.
    """
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (OSError, ValueError):
        return [], offset
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return [], offset
        with os.fdopen(fd, "rb", closefd=False) as fh:
            fh.seek(offset)
            data = fh.read(limit)
    except OSError:
        return [], offset
    finally:
        os.close(fd)
    end = data.rfind(b"\n")
    if end < 0:
        # No complete line: wait for its end, unless one line fills the whole read.
        return [], offset + (len(data) if len(data) >= limit else 0)
    failures: list[tuple[str, str]] = []
    for raw in data[: end + 1].splitlines():
        if b'"task_complete"' not in raw or b'"error"' not in raw:
            continue
        try:
            item = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        payload = item.get("payload") if isinstance(item, dict) else None
        if not isinstance(payload, dict) or payload.get("type") != "task_complete":
            continue
        error = payload.get("error")
        if not isinstance(error, dict):
            continue
        message = error.get("message")
        info = error.get("codex_error_info")
        http = info.get("http_connection_failed") if isinstance(info, dict) else None
        status = http.get("http_status_code") if isinstance(http, dict) else None
        failures.append(
            (_kind_of_status(status), " ".join(str(message or "").split())[:_MAX_FIELD])
        )
    return failures, offset + end + 1


_THREAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_MAX_SCANNED = 10_000  # folder entries a search for rollout files looks at


def rollout_files(codex_home: Path, thread: str) -> list[Path]:
    """The rollout files of one Codex thread in a Codex home: ``sessions/YYYY/MM/DD/
    rollout-<time>-<thread>.jsonl`` (a resumed thread may have several), oldest first.

    Bounded: the thread id is validated, folders are listed without following a link (a link
    is never entered nor returned), at most 10,000 entries are looked at, and only regular
    files are returned.
    """
    if not _THREAD_ID.fullmatch(thread):
        return []
    suffix = f"-{thread}.jsonl"
    found: list[Path] = []
    scanned = 0
    folders = [codex_home / "sessions"]
    for depth in range(4):
        deeper: list[Path] = []
        for folder in folders:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                scanned += 1
                if scanned > _MAX_SCANNED:
                    return sorted(found)
                try:
                    if depth < 3 and entry.is_dir(follow_symlinks=False):
                        deeper.append(Path(entry.path))
                    elif (
                        depth == 3
                        and entry.name.startswith("rollout-")
                        and entry.name.endswith(suffix)
                        and entry.is_file(follow_symlinks=False)
                    ):
                        found.append(Path(entry.path))
                except OSError:
                    continue
        folders = deeper
    return sorted(found)


def _kind_of_status(status: object) -> str:
    if not isinstance(status, int) or isinstance(status, bool):
        return "unknown"
    if status == 429:
        return "rate_limit"
    if 500 <= status <= 599:
        return "server_error"
    if status in (401, 403):
        return "authentication_failed"
    return "unknown"


def failure_line(agent_session_id: str, kind: str, message: str) -> str:
    """A report line (as `HookSignal.report_line()` makes) for a turn an API error ended."""
    data = {
        "type": USAGE_LINE_TYPE,
        "agent_session_id": agent_session_id,
        "failure": [kind[:100], message[:_MAX_FIELD]],
    }
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _denials_of(text: object) -> tuple[tuple[str, str, str], ...]:
    """Refused tool uses read back from their JSON text: ``[[id, name, reason], ...]``."""
    if not isinstance(text, str) or not text:
        return ()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return ()
    if not isinstance(data, list):
        return ()
    found: list[tuple[str, str, str]] = []
    for item in data[:_MAX_DENIALS]:
        if (
            isinstance(item, list)
            and len(item) == 3
            and all(isinstance(part, str) for part in item)
            and item[0]
        ):
            found.append((item[0][:200], item[1][:200], item[2][:500]))
    return tuple(found)


def _record(text: str) -> bytes:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {"hook_event_name": "Unknown"}
    kept = {
        key: str(data[key])[:_MAX_FIELD]
        for key in _KEPT
        if key in data and isinstance(data[key], str | int | float | bool)
    }
    transcript = data.get("transcript_path")
    if data.get("hook_event_name") == "SessionStart" and isinstance(transcript, str) and transcript:
        # Only here is the transcript named: the executor follows it (Codex runs no hook when
        # an API error ends a turn), from where this run's part of a resumed one begins.
        kept["transcript_path"] = transcript[:4096]
        try:
            kept["transcript_size"] = str(os.stat(transcript, follow_symlinks=False).st_size)
        except OSError:
            kept["transcript_size"] = "0"
    reads = data.get("hook_event_name") in _TRANSCRIPT_EVENTS
    if reads and isinstance(transcript, str) and transcript:
        _settle(Path(transcript))
        summary = read_transcript(Path(transcript))
        if summary is not None and summary.usage:
            kept["usage"] = json.dumps(summary.usage, separators=(",", ":"), sort_keys=True)
        if summary is not None and summary.denials:
            kept["denials"] = json.dumps([list(d) for d in summary.denials])
    return (json.dumps(kept, ensure_ascii=True, separators=(",", ":")) + "\n").encode()


def main(argv: list[str]) -> int:
    """The hook command: append the hook's input (standard input) to ``argv[0]``."""
    if len(argv) != 1:
        return 0
    try:
        text = sys.stdin.buffer.read(_MAX_INPUT).decode("utf-8", errors="replace")
        line = _record(text)
        fd = os.open(argv[0], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except (OSError, ValueError):
        pass  # never stop the agent over a status line
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
