"""``OpenCodeAgent``: OpenCode (``opencode run --format json``) and the parser of its JSON
events."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scopecraft._models import LogStream, Permissions
from scopecraft.events import (
    AgentMessage,
    AgentSessionIdentified,
    CostReported,
    ErrorOccurred,
    Event,
    ToolDenied,
    ToolUsed,
)

from ._common import (
    StderrTail,
    as_count,
    as_usd,
    check_argv_prompt,
    checked_default_model,
    checked_executable,
    copy_user_file,
    encode_prompt,
    events_from_json_line,
    looks_retryable,
    outcome_from_exit,
    retryable_status,
    summarize,
    validate_model,
    validate_resume_id,
    write_private,
)
from ._protocol import AgentAdapter, AgentCommand, AgentOutcome, AgentRequest, OutputParser

__all__ = ["OpenCodeAgent", "OpenCodeEventParser"]

log = logging.getLogger("scopecraft.agents.opencode")

# Tools a permission level can take away: a call of one then is a refusal, not a slip.
_GATED_TOOLS = frozenset(
    {"write", "edit", "multiedit", "patch", "apply_patch", "bash", "webfetch", "websearch"}
)
# What OpenCode answers a call of a tool the permissions took away, and a call they refused.
_UNAVAILABLE = re.compile(r"unavailable tool '([^']+)'")
_REJECTED = re.compile(
    r"rejected permission|permission (?:denied|rejected)|prevents you from using", re.IGNORECASE
)
_SUMMARY_KEYS = ("command", "filePath", "file_path", "path", "pattern", "url", "description")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _summary(tool_input: Any) -> str:
    if isinstance(tool_input, dict):
        for key in _SUMMARY_KEYS:
            value = tool_input.get(key)
            if isinstance(value, str) and value.strip():
                return summarize(value)
    if tool_input in (None, {}, []):
        return ""
    return summarize(tool_input)


class OpenCodeEventParser(OutputParser):
    """Reads OpenCode's ``run --format json`` lines into events.

    Rules:

    * every line names the ``sessionID`` (what ``--session`` takes): the first one is told as
      the agent session id;
    * each ``text`` line is one finished text part: an `AgentMessage`;
    * each ``tool_use`` line is one finished tool call (``part.tool``, ``part.callID``,
      ``part.state``): a `ToolUsed` with a short summary of its
      input, or a `ToolDenied` when it is a refusal: a call of a
      tool the permissions took away (OpenCode answers it with its ``invalid`` tool, "Model
      tried to call unavailable tool 'write'") or a call they refused ("The user rejected
      permission to use this specific tool call", what a headless run answers an ``ask``);
    * each ``step_finish`` line is one model request's usage: a
      `CostReported` with OpenCode's own ``cost`` (priced from its
      model catalogue, or from the provider config's ``cost``) and its tokens (input counts
      cache reads and writes; output counts reasoning);
    * an ``error`` line is an `ErrorOccurred` (``where="agent"``) and
      makes the run a failure, retryable by the API error's HTTP status (``statusCode``: 408,
      409, 429, 5xx; never 401 or another 4xx), else by OpenCode's ``isRetryable``, else by
      its words;
    * a run without an ``error`` line that exits 0 succeeded, its result the last text; without
      any step the exit code decides, and the last lines of standard error say why. Lines that
      are not JSON objects are no events, and no input ever raises.

    Args:
        session_id: The scopecraft session the events belong to.
        agent: The agent's name, for error texts.
    """

    def __init__(self, session_id: str, *, agent: str = "opencode") -> None:
        self.session_id = session_id
        self.agent = agent
        self._identified = False
        self._steps = 0
        self._last_text: str | None = None
        self._tools: set[str] = set()
        self._error: dict[str, Any] | None = None
        self._error_text: str | None = None
        self._stderr = StderrTail()
        self._total_usd = 0.0
        self._outcome: AgentOutcome | None = None

    def feed(self, line: str, stream: LogStream = "stdout") -> list[Event]:
        """Read one line of output and return the events it completes. Never raises."""
        if self._outcome is not None:
            return []
        if stream == "stderr":
            self._stderr.add(_ANSI.sub("", line))
            return []
        return events_from_json_line(line, stream, self._handle, log, self.agent)

    def finish(self, exit_code: int | None) -> tuple[list[Event], AgentOutcome]:
        """Return the outcome: a failure after an ``error`` line, else by the exit code."""
        if self._outcome is None:
            self._outcome = self._outcome_of(exit_code)
        return [], self._outcome

    # -- reading -----------------------------------------------------------------------------

    def _handle(self, data: dict[str, Any], events: list[Event]) -> None:
        kind = data.get("type")
        session = _text(data.get("sessionID"))
        if session is not None and not self._identified:
            self._identified = True
            events.append(
                AgentSessionIdentified(session_id=self.session_id, agent_session_id=session)
            )
        part = data.get("part")
        part = part if isinstance(part, dict) else {}
        if kind == "text":
            text = part.get("text")
            if isinstance(text, str) and text.strip():
                self._last_text = text
                events.append(AgentMessage(session_id=self.session_id, text=text))
        elif kind == "tool_use":
            self._tool_use(part, events)
        elif kind == "step_finish":
            self._steps += 1
            self._cost(part, events)
        elif kind == "error":
            self._on_error(data.get("error"), events)

    def _tool_use(self, part: dict[str, Any], events: list[Event]) -> None:
        name = _text(part.get("tool")) or "unknown"
        call_id = _text(part.get("callID"))
        if call_id is not None:
            if call_id in self._tools:
                return
            if len(self._tools) < 10_000:
                self._tools.add(call_id)
        state = part.get("state")
        state = state if isinstance(state, dict) else {}
        tool_input = state.get("input")
        if name == "invalid" and isinstance(tool_input, dict):
            called = _text(tool_input.get("tool"))
            said = _text(tool_input.get("error")) or ""
            match = _UNAVAILABLE.search(said)
            if called is not None and match is not None and called in _GATED_TOOLS:
                events.append(
                    ToolDenied(
                        session_id=self.session_id,
                        name=called,
                        tool_use_id=call_id,
                        summary="",
                        reason=summarize(said, 500),
                    )
                )
                return
        error = _text(state.get("error"))
        if state.get("status") == "error" and error is not None and _REJECTED.search(error):
            events.append(
                ToolDenied(
                    session_id=self.session_id,
                    name=name,
                    tool_use_id=call_id,
                    summary=_summary(tool_input),
                    reason=summarize(error, 500),
                )
            )
            return
        events.append(
            ToolUsed(
                session_id=self.session_id,
                name=name,
                tool_use_id=call_id,
                summary=_summary(tool_input),
            )
        )

    def _cost(self, part: dict[str, Any], events: list[Event]) -> None:
        tokens = part.get("tokens")
        tokens = tokens if isinstance(tokens, dict) else {}
        cache = tokens.get("cache")
        cache = cache if isinstance(cache, dict) else {}
        inputs = (
            (as_count(tokens.get("input")) or 0)
            + (as_count(cache.get("read")) or 0)
            + (as_count(cache.get("write")) or 0)
        )
        outputs = (as_count(tokens.get("output")) or 0) + (as_count(tokens.get("reasoning")) or 0)
        usd = as_usd(part.get("cost")) or 0.0
        if inputs + outputs == 0 and usd == 0:
            return
        self._total_usd += usd
        events.append(
            CostReported(
                session_id=self.session_id,
                usd=usd,
                total_usd=self._total_usd,
                input_tokens=inputs,
                output_tokens=outputs,
            )
        )

    def _on_error(self, error: Any, events: list[Event]) -> None:
        error = error if isinstance(error, dict) else {}
        data = error.get("data")
        data = data if isinstance(data, dict) else {}
        text = (
            _text(data.get("message"))
            or _text(error.get("message"))
            or _text(error.get("name"))
            or f"{self.agent} reported an error"
        )
        if self._error is None:
            self._error = data
            self._error_text = text
        events.append(
            ErrorOccurred(session_id=self.session_id, where="agent", message=summarize(text, 2000))
        )

    def _outcome_of(self, exit_code: int | None) -> AgentOutcome:
        if self._error is not None:
            text = self._error_text or f"{self.agent} reported an error"
            status = self._error.get("statusCode")
            by_status = retryable_status(status)
            flagged = self._error.get("isRetryable")
            error_text = summarize(text, 2000)
            if by_status is not None and str(status) not in error_text:
                error_text = f"{error_text} (API error {status})"
            if by_status is not None:
                retryable = by_status
            elif isinstance(flagged, bool):
                retryable = flagged
            else:
                retryable = looks_retryable(text)
            return AgentOutcome(
                success=False,
                result=self._last_text,
                error=error_text,
                retryable=retryable,
                reported=True,
            )
        if self._steps and exit_code == 0:
            return AgentOutcome(success=True, result=self._last_text, reported=True)
        return outcome_from_exit(exit_code, self.agent, self._stderr)


_MAX_USER_FILE = 1_000_000  # bytes of a user's config or login copied into a session's home
_QUIET_ENV = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
}
_SECRET_ENV = (
    "OPENCODE_API_KEY",
    "OPENCODE_AUTH_CONTENT",
    "OPENCODE_CONFIG_CONTENT",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GOOGLE_GENERATIVE_AI_API_KEY",
    "GEMINI_API_KEY",
    "OPENROUTER_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "XAI_API_KEY",
    "MISTRAL_API_KEY",
)
_FORWARD_ENV = (
    "OPENCODE_CONFIG",
    "OPENCODE_DISABLE_PROJECT_CONFIG",
    "OPENCODE_DISABLE_CLAUDE_CODE",
    "OPENCODE_DISABLE_MODELS_FETCH",
    "OPENCODE_MODELS_PATH",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
)
_PERMISSIONS: Mapping[Permissions, Mapping[str, str]] = {
    Permissions.READ_ONLY: {
        "edit": "deny",
        "bash": "deny",
        "webfetch": "deny",
        "websearch": "deny",
        "external_directory": "deny",
    },
    Permissions.EDIT: {
        "edit": "allow",
        "bash": "deny",
        "webfetch": "deny",
        "websearch": "deny",
        "external_directory": "deny",
    },
    Permissions.FULL: {
        "edit": "allow",
        "bash": "allow",
        "webfetch": "allow",
        "websearch": "allow",
        "external_directory": "allow",
    },
}
_XDG = {
    "XDG_CONFIG_HOME": "config",
    "XDG_DATA_HOME": "data",
    "XDG_CACHE_HOME": "cache",
    "XDG_STATE_HOME": "state",
}


def _title(prompt: str) -> str:
    """The session's title: the prompt's first line, short (a title given means OpenCode asks
    the model for none, a request that would take a turn of its own)."""
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "")
    printable = "".join(c for c in first if c.isprintable())
    return summarize(printable, 60) or "scopecraft session"


class OpenCodeAgent(AgentAdapter):
    """OpenCode (``opencode``, npm ``opencode-ai``), entry-point name ``opencode``.

    Unattended: ``opencode run --format json [--model PROVIDER/MODEL] [--session ID]
    --title=TITLE [--auto]`` with the prompt on standard input (JSON events on standard
    output, one a line; the title keeps OpenCode from asking the model for one). In a
    terminal: the interactive ``opencode [--model M] [--session ID] --prompt=PROMPT``.

    Permissions (``request.permissions``) go in ``OPENCODE_PERMISSION``, which OpenCode lays
    over its config: ``read-only`` denies ``edit`` (``write``, ``edit``, ``apply_patch``),
    ``bash``, ``webfetch``, ``websearch`` and directories outside the worktree (denied tools
    are not offered to the model at all); ``edit`` allows edits and denies the rest; ``full``
    allows everything and adds ``--auto`` (approve whatever is not denied).

    With ``state_dir``, OpenCode's XDG folders (``config``, ``data``, ``cache``, ``state``)
    are there: its config, its login (``auth.json``), its sessions (what ``--session``
    reads); `prepare_home()` makes them ready before each attempt. Auto-update, sharing
    and LSP downloads are off by variable. Provider keys (``OPENAI_API_KEY``,
    ``ANTHROPIC_API_KEY``, ...) are secrets, forwarded when set.

    OpenCode prices each model request itself (from its model catalogue, or from a provider
    model's ``cost`` in the config): the parser reports its ``cost`` as it is.

    Args:
        default_model: The ``provider/model`` passed as ``--model`` when the request names
            none; ``None`` leaves OpenCode's own choice (its config's ``model``).
        executable: The command to run (a name on ``PATH`` or a path).
        user_config: The user's OpenCode config folder whose ``opencode.json`` is copied into
            each session's (default: ``$XDG_CONFIG_HOME/opencode``, else
            ``~/.config/opencode``).
        user_data: The user's OpenCode data folder whose ``auth.json`` is copied (default:
            ``$XDG_DATA_HOME/opencode``, else ``~/.local/share/opencode``).

    Raises:
        ConfigError: the executable or the default model is malformed.
    """

    def __init__(
        self,
        *,
        default_model: str | None = None,
        executable: str = "opencode",
        user_config: str | os.PathLike[str] | None = None,
        user_data: str | os.PathLike[str] | None = None,
    ) -> None:
        self._executable = checked_executable("opencode", executable)
        self._default_model = checked_default_model("opencode", default_model)
        self._user_config = Path(user_config) if user_config is not None else None
        self._user_data = Path(user_data) if user_data is not None else None

    @property
    def name(self) -> str:
        """``opencode``."""
        return "opencode"

    @property
    def secret_env(self) -> tuple[str, ...]:
        """The providers' API keys, OpenCode's own key, and its config and login given by
        variable (which may hold keys)."""
        return _SECRET_ENV

    @property
    def forward_env(self) -> tuple[str, ...]:
        """Non-secret variables passed on when set: a config file, OpenCode's switches for
        project and Claude Code configs and the model catalogue, and base URLs."""
        return _FORWARD_ENV

    @property
    def can_resume(self) -> bool:
        """True: ``--session <session id>``."""
        return True

    def command(self, request: AgentRequest) -> AgentCommand:
        """Return OpenCode's argv, standard input and environment for ``request``.

        Raises:
            AgentError: the model or resume id is malformed, or a terminal prompt is too long
                or holds a NUL character.
        """
        model = request.model or self._default_model
        options: list[str] = []
        if model:
            options += ["--model", validate_model(model)]
        if request.resume_id is not None:
            options += ["--session", validate_resume_id(request.resume_id)]
        env = dict(_QUIET_ENV)
        env["OPENCODE_PERMISSION"] = json.dumps(dict(_PERMISSIONS[request.permissions]))
        if request.state_dir:
            for variable, folder in _XDG.items():
                env[variable] = str(Path(request.state_dir, folder))
        if request.terminal:
            prompt = check_argv_prompt(request.prompt, self.name)
            tail = [f"--prompt={prompt}"] if prompt else []
            return AgentCommand(argv=(self._executable, *options, *tail), env=env)
        options.append(f"--title={_title(request.prompt)}")
        if request.permissions is Permissions.FULL:
            options.append("--auto")
        # The prompt on standard input reaches the model as it is (OpenCode quotes message
        # arguments that hold spaces) and has no argv length limit.
        argv = (self._executable, "run", "--format", "json", *options)
        return AgentCommand(argv=argv, stdin=encode_prompt(request.prompt), env=env)

    def prepare_home(self, home: Path, request: AgentRequest, env: Mapping[str, str]) -> None:
        """Make the session's state folder (``home``, on the engine's machine) ready for an
        attempt: OpenCode's XDG folders, ``config/opencode/opencode.json`` (the user's, from
        ``user_config``, with ``autoupdate`` off and ``share`` disabled; a file that is not
        plain JSON, such as JSONC, is copied as it is and the variables keep those off) and the
        user's ``auth.json`` (copied, never linked). What OpenCode keeps there itself (its
        sessions) stays. Every file is private (0600)."""
        for folder in _XDG.values():
            (home / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
        config_dir = home / "config" / "opencode"
        data_dir = home / "data" / "opencode"
        config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        user_config = self._user_config or _xdg_folder("XDG_CONFIG_HOME", ".config")
        user_data = self._user_data or _xdg_folder("XDG_DATA_HOME", ".local/share")
        source = user_config / "opencode.json"
        config = _read_json_object(source)
        if config is None:
            copy_user_file(source, config_dir / "opencode.json", limit=_MAX_USER_FILE)
        else:
            config["autoupdate"] = False
            config["share"] = "disabled"
            write_private(config_dir / "opencode.json", json.dumps(config, indent=2).encode())
        copy_user_file(user_data / "auth.json", data_dir / "auth.json", limit=_MAX_USER_FILE)

    def parser(self, session_id: str) -> OpenCodeEventParser:
        """Return a fresh parser for one attempt of ``session_id``."""
        return OpenCodeEventParser(session_id, agent=self.name)


def _xdg_folder(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / fallback) / "opencode"


def _read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path`` (bounded, never through a link); an empty one when it is
    missing; ``None`` when it is there but not a JSON object (JSONC, too big, unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(_MAX_USER_FILE + 1)
        data = json.loads(raw) if len(raw) <= _MAX_USER_FILE else None
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
