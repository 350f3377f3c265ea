"""Helpers shared by the built-in agent adapters: validation, summaries, exit-code outcomes."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scopecraft._errors import AgentError, ConfigError
from scopecraft._models import LogStream
from scopecraft.events import Event

from ._protocol import AgentOutcome, OutputParser

__all__ = [
    "MAX_ARGV_PROMPT_BYTES",
    "RETRYABLE_TURN_ERRORS",
    "SUMMARY_LIMIT",
    "ExitCodeParser",
    "StderrTail",
    "as_count",
    "as_usd",
    "check_argv_prompt",
    "checked_default_model",
    "checked_executable",
    "copy_user_file",
    "encode_prompt",
    "events_from_json_line",
    "looks_retryable",
    "outcome_from_exit",
    "prompt_tail",
    "retryable_status",
    "summarize",
    "turn_failure_outcome",
    "validate_model",
    "validate_resume_id",
    "write_private",
]

log = logging.getLogger("scopecraft.agents")

SUMMARY_LIMIT = 200
"""Longest tool summary kept in a ``tool_used`` event, in characters."""

MAX_ARGV_PROMPT_BYTES = 100_000
"""Longest prompt passed as one argv element (Linux refuses single arguments over 128 KiB)."""

_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@\[\]+-]{0,199}")
_RESUME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")

# Signs that a failure is the provider's (overloaded, throttled, a 5xx) and worth a retry.
_RETRYABLE = re.compile(
    r"overloaded|rate[ _-]?limit|too many requests|\b529\b|\b429\b"
    r"|\b(?:api error|status(?: code)?|http)[: ]*5\d\d\b"
    r"|internal server error|bad gateway|service unavailable|gateway time-?out"
    r"|stream disconnected|connection reset|experiencing high demand",
    re.IGNORECASE,
)


def validate_model(model: str) -> str:
    """Return ``model`` when it is a plausible model name for an argv element.

    Raises:
        AgentError: the name is empty, starts like an option or holds odd characters.
    """
    if not _MODEL.fullmatch(model):
        raise AgentError(
            f"invalid model name {model[:80]!r}: use letters, digits and . _ : / @ [ ] + -, "
            "starting with a letter or digit"
        )
    return model


def checked_executable(agent: str, executable: str) -> str:
    """``executable`` when it can be an adapter's command (not empty, not an option).

    Raises:
        ConfigError: it cannot.
    """
    if not executable or executable.startswith("-"):
        raise ConfigError(f"{agent}: invalid executable {executable!r}")
    return executable


def checked_default_model(agent: str, model: str | None) -> str | None:
    """``model`` when it is ``None`` or a plausible model name for an adapter's defaults.

    Raises:
        ConfigError: it is malformed.
    """
    if model is not None:
        try:
            validate_model(model)
        except AgentError as exc:
            raise ConfigError(f"{agent}: {exc}") from exc
    return model


def validate_resume_id(resume_id: str) -> str:
    """Return ``resume_id`` when it is a plausible agent session id for an argv element.

    Raises:
        AgentError: the id is empty, starts like an option or holds odd characters.
    """
    if not _RESUME_ID.fullmatch(resume_id):
        raise AgentError(
            f"invalid agent session id to resume {resume_id[:80]!r}: use letters, digits "
            "and . _ : -, starting with a letter or digit"
        )
    return resume_id


def encode_prompt(prompt: str) -> bytes:
    """Encode a prompt as UTF-8 for standard input; characters UTF-8 cannot carry become ``?``."""
    try:
        return prompt.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return prompt.encode("utf-8", "replace")


def check_argv_prompt(prompt: str, agent: str) -> str:
    """Return ``prompt`` when it fits in one argv element.

    Raises:
        AgentError: the prompt is too long to pass as an argument, or holds a NUL character.
    """
    if "\x00" in prompt:
        raise AgentError(f"{agent}: the prompt holds a NUL character, which argv cannot carry")
    if len(encode_prompt(prompt)) > MAX_ARGV_PROMPT_BYTES:
        raise AgentError(
            f"{agent}: the prompt is longer than {MAX_ARGV_PROMPT_BYTES} bytes and cannot be "
            "passed as an argument in a terminal; shorten it or run the session unattended"
        )
    return prompt


def prompt_tail(prompt: str) -> list[str]:
    """The last argv elements carrying ``prompt`` as a positional argument.

    Empty when there is no prompt; ``["--", prompt]`` when it starts with ``-``, so that it is
    not read as an option.
    """
    if not prompt:
        return []
    return ["--", prompt] if prompt.startswith("-") else [prompt]


def summarize(value: Any, limit: int = SUMMARY_LIMIT) -> str:
    """Return a one-line view of ``value``, whitespace collapsed, cut to ``limit`` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


def looks_retryable(text: str | None) -> bool:
    """True when an error text shows the provider's trouble (overload, rate limit, 5xx)."""
    return bool(text) and _RETRYABLE.search(text or "") is not None


def as_usd(value: Any) -> float | None:
    """Return ``value`` as a finite, non-negative amount, or ``None`` when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    amount = float(value)
    if not math.isfinite(amount) or amount < 0:
        return None
    return amount


def as_count(value: Any) -> int | None:
    """Return ``value`` as a non-negative token count, or ``None`` when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


RETRYABLE_TURN_ERRORS = frozenset({"rate_limit", "overloaded", "server_error"})
"""The kinds of API error that end an interactive turn and are the infrastructure's (the next
attempt may pass); the others (``authentication_failed``, ``billing_error``, ...) are not."""


def turn_failure_outcome(kind: str, said: str) -> AgentOutcome:
    """The outcome of an interactive run whose turn an API error of ``kind`` ended (Claude
    Code's ``StopFailure`` hook, a failed turn in Codex's transcript)."""
    reason = f"the API failed the turn ({kind})" + (f": {said}" if said else "")
    return AgentOutcome(
        success=False,
        error=summarize(reason, 2000),
        retryable=kind in RETRYABLE_TURN_ERRORS,
        reported=True,
    )


def outcome_from_exit(
    exit_code: int | None, agent: str, stderr: StderrTail | None = None
) -> AgentOutcome:
    """The outcome of a run whose output held no final result: the exit code decides, and the
    last lines the agent wrote on standard error say why."""
    if exit_code == 0:
        return AgentOutcome(success=True, reported=False)
    if exit_code is None:
        error = f"{agent} ended without a final result and its exit code is unknown"
    else:
        error = f"{agent} exited with code {exit_code} without a final result"
    said = stderr.text() if stderr is not None else ""
    if said:
        error = f"{error}: {said}"
    return AgentOutcome(success=False, error=error, reported=False, retryable=looks_retryable(said))


def retryable_status(status: Any) -> bool | None:
    """Whether an HTTP status an agent reports of its API is worth a retry: ``True`` for 408,
    409, 429 and the 5xx (529 included), ``False`` for the other 4xx (401, 403, 400, ...: the
    caller's fault, the same again next time), ``None`` when it is no status."""
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        return None
    return status >= 500 or status in (408, 409, 429)


class StderrTail:
    """The last lines an agent wrote on standard error, bounded in count and length, for the
    failure reason of a run that ended without a result of its own.

    Args:
        lines: How many lines to keep.
        width: The longest line kept, in characters.
    """

    def __init__(self, lines: int = 5, width: int = 300) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._width = width

    def add(self, line: str) -> None:
        """Keep ``line`` when it says anything."""
        text = " ".join(line.split())
        if text:
            self._lines.append(summarize(text, self._width))

    def text(self) -> str:
        """The kept lines, joined by `` | ``; empty when there were none."""
        return " | ".join(self._lines)


class ExitCodeParser(OutputParser):
    """A parser for agents without structured output: no events, the exit code decides.

    Args:
        agent: The agent's name, for error texts.
    """

    def __init__(self, agent: str) -> None:
        self._agent = agent
        self._stderr = StderrTail()

    def feed(self, line: str, stream: LogStream = "stdout") -> list[Event]:
        """Read one line; never an event (the engine keeps it as a log line)."""
        if stream == "stderr":
            self._stderr.add(line)
        return []

    def finish(self, exit_code: int | None) -> tuple[list[Event], AgentOutcome]:
        """Return no events and an outcome from ``exit_code`` (``0`` is success); a failure's
        error ends with the last lines of standard error."""
        if exit_code is not None and exit_code != 0:
            said = self._stderr.text()
            error = f"{self._agent} exited with code {exit_code}" + (f": {said}" if said else "")
            return [], AgentOutcome(success=False, error=error)
        return [], outcome_from_exit(exit_code, self._agent, self._stderr)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a private file (0600), atomically: a new file beside it
    replaces the old entry, so a symlink an agent left at ``path`` is replaced, never
    followed.

    Raises:
        OSError: the folder cannot be written.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def copy_user_file(source: Path, target: Path, *, limit: int) -> bool:
    """Copy the user's file ``source`` into a session's home as ``target`` (private, never a
    link); a missing, unreadable or oversized source copies nothing.

    Returns:
        True when it was copied.
    """
    try:
        with source.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        return False
    if len(data) > limit:
        log.warning("not copying %s into the session: over %d bytes", source.name, limit)
        return False
    write_private(target, data)
    return True


def events_from_json_line(
    line: str,
    stream: LogStream,
    handle: Callable[[dict[str, Any], list[Event]], None],
    log: logging.Logger,
    agent: str,
) -> list[Event]:
    """The events ``handle`` makes of one line of a JSON-lines stream; never raises.

    Lines on the ``system`` stream (the engine's own) and lines that are not JSON objects are
    no events. An object of a shape ``handle`` did not foresee is logged and skipped, keeping
    what it had added: collection goes on.
    """
    if stream == "system":
        return []
    text = line.strip()
    if not text.startswith("{"):
        return []
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return []
    if not isinstance(data, dict):
        return []
    events: list[Event] = []
    try:
        handle(data, events)
    except Exception as exc:  # a shape we did not foresee must not break collection
        log.warning(
            "%s: skipped an output line of %d characters that could not be read (%s)",
            agent,
            len(text),
            type(exc).__name__,
        )
    return events
