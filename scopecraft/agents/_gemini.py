"""``GeminiCliAgent``: Google's Gemini CLI in headless ``stream-json`` mode, its parser and its
price table."""

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

from ._claude import tool_summary
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
    retryable_status,
    summarize,
    validate_model,
    validate_resume_id,
    write_private,
)
from ._prices import TokenPrice, merged_prices, price_in
from ._protocol import AgentAdapter, AgentCommand, AgentOutcome, AgentRequest, OutputParser

__all__ = ["DEFAULT_GEMINI_PRICES", "GeminiCliAgent", "GeminiPrice", "GeminiStreamParser"]

log = logging.getLogger("scopecraft.agents.gemini")


GeminiPrice = TokenPrice
"""A model's list price in USD per million tokens (prompts up to 200k tokens; input, cached
input, output with thinking): the shared `TokenPrice`."""


DEFAULT_GEMINI_PRICES: Mapping[str, GeminiPrice] = {
    "gemini-3.8-flash": GeminiPrice(0.75, 0.075, 3.75),
    "gemini-3.5-flash": GeminiPrice(1.50, 0.15, 9.00),
    "gemini-3.5-flash-lite": GeminiPrice(0.30, 0.03, 2.50),
    "gemini-3.1-pro-preview": GeminiPrice(2.00, 0.20, 12.00),
    "gemini-3.1-pro-preview-customtools": GeminiPrice(2.00, 0.20, 12.00),
    "gemini-3-pro-preview": GeminiPrice(2.00, 0.20, 12.00),
    "gemini-3-flash-preview": GeminiPrice(0.50, 0.05, 3.00),
    "gemini-2.5-pro": GeminiPrice(1.25, 0.125, 10.00),
    "gemini-2.5-flash": GeminiPrice(0.30, 0.03, 2.50),
    "gemini-2.5-flash-lite": GeminiPrice(0.10, 0.01, 0.40),
    "default": GeminiPrice(2.00, 0.20, 12.00),
}
"""USD per million tokens (input, cached input, output) for the models the Gemini CLI runs.

Paid-tier list prices for text prompts up to 200k tokens, from the Gemini Developer API's
pricing page (https://ai.google.dev/gemini-api/docs/pricing), as published copies of it dated
2026-09-20 and 2026-10-07 show it, read on 2026-12-02. The cached-input rate is the page's
context-caching price, a tenth of the input rate for every model here. Output includes thinking,
as Google bills it. ``gemini-3.8-flash`` is at its price through 2026-12-31 (the page announces
$1.50 / $7.50 from 2027-01-01). Longer prompts cost more on the Pro models (2.5 Pro: $2.50 /
$15.00) and are under-counted here, since the CLI reports tokens per model, not per request.
``default`` prices a model missing from the table; it is the most expensive entry
(``gemini-3.1-pro-preview``), so an unknown model is not under-counted. Prices change: pass
``prices=`` to `GeminiCliAgent` to correct or extend them.
"""

_DATED_SUFFIX = re.compile(r"-(?:\d{2}-\d{4}|\d{3})$")  # gemini-2.5-flash-preview-09-2025, -001

# Tools the approval mode leaves out of a headless run: calling one is a refusal, not a slip.
_GATED_TOOLS = frozenset(
    {
        "write_file",
        "replace",
        "run_shell_command",
        "web_fetch",
        "write_todos",
        "save_memory",
        "activate_skill",
        "list_background_processes",
        "read_background_output",
        "exit_plan_mode",
    }
)
# What the CLI answers a tool call its workspace or plan mode refuses.
_REFUSED = re.compile(r"^\s*(?:access denied|path not in workspace)\b", re.IGNORECASE)
# An HTTP status in the CLI's error texts: the API's error JSON, or Node's view of the error.
_STATUS_IN_TEXT = re.compile(r'"code"\s*:\s*([45]\d\d)\b|^\s*status:\s*([45]\d\d)\s*,?\s*$')
# The Gemini API's own words for a retryable failure.
# (A stream that ends without a finish reason broke on the way: the provider's trouble too.)
_GEMINI_RETRYABLE = re.compile(
    r"resource has been exhausted|resource_exhausted|\bunavailable\b|try again later"
    r"|stream ended without a finish reason",
    re.IGNORECASE,
)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def price_for(prices: Mapping[str, GeminiPrice], model: str | None) -> GeminiPrice:
    """The price of ``model``: its own entry (``models/`` prefix dropped), else its undated
    name's, else ``default``."""
    return price_in(prices, model, DEFAULT_GEMINI_PRICES["default"], dated=_DATED_SUFFIX)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


class GeminiStreamParser(OutputParser):
    """Reads the Gemini CLI's ``--output-format stream-json`` lines into events.

    Rules:

    * ``init``'s ``session_id`` is the agent session id (what ``--resume`` takes), told once
      the run has an answer of the model (a message, a tool use, a successful result): the
      CLI cannot resume a session that holds none ("No previous sessions found"), so a run
      whose first request failed names no session to resume;
    * ``message`` lines of the ``assistant`` come in pieces (``delta: true``): the pieces up to
      the next line of another kind (a tool use, a result, ...) are one
      `AgentMessage`;
    * each ``tool_use`` is a `ToolUsed` (once per ``tool_id``) with
      a short summary of its ``parameters``;
    * a ``tool_result`` error that is a refusal is a `ToolDenied`:
      a ``policy_violation``; a ``tool_not_registered`` of a tool the approval mode leaves out
      (``write_file``, ``replace``, ``run_shell_command``, ...); a write outside the workspace
      or, in plan mode, outside the plans folder ("Path not in workspace", "Access denied");
    * an ``error`` line is an `ErrorOccurred` (``where="agent"``);
    * the ``result`` line's ``stats`` give the cost: each model's tokens in ``stats.models``
      priced from the table (input tokens count cached ones; ``cached`` at the cached rate;
      what ``total_tokens`` holds beyond input and output is thinking, priced as output), one
      `CostReported` with the run's tokens (none when it used
      none). The CLI counts each run afresh, a resumed one too, so nothing is subtracted;
    * ``result``'s ``status`` is the outcome; a failure's reason is its ``error.message``
      (else the last ``error`` line's), and it is retryable by the HTTP status of the API error
      (408, 409, 429, 5xx; never 401 or another 4xx), found in the message's error JSON, in
      what the CLI wrote on standard error (``status: 429``), or in the exit code (the CLI
      exits with the status, which the system cuts to its low byte: 401 exits 145); with no
      status, by the message's words ("overloaded", "Resource has been exhausted", a stream
      that "ended without a finish reason");
    * without a ``result`` line the exit code decides, and the last lines of standard error say
      why; lines that are not JSON objects are no events, and no input ever raises.

    Args:
        session_id: The scopecraft session the events belong to.
        prices: The price table.
        model: The model the run was asked for, pricing usage the stats give no model for.
        agent: The agent's name, for error texts.
    """

    def __init__(
        self,
        session_id: str,
        *,
        prices: Mapping[str, GeminiPrice] = DEFAULT_GEMINI_PRICES,
        model: str | None = None,
        agent: str = "gemini",
    ) -> None:
        self.session_id = session_id
        self.agent = agent
        self._prices = prices
        self._model = model
        self._identified = False
        self._agent_session: str | None = None
        self._pending: list[str] = []
        self._last_text: str | None = None
        self._tools: dict[str, tuple[str, Any]] = {}
        self._denied: set[str] = set()
        self._last_error: str | None = None
        self._stderr = StderrTail()
        self._stderr_status: int | None = None
        self._total_usd = 0.0
        self._result: dict[str, Any] | None = None
        self._outcome: AgentOutcome | None = None

    def feed(self, line: str, stream: LogStream = "stdout") -> list[Event]:
        """Read one line of output and return the events it completes. Never raises."""
        if self._outcome is not None:
            return []
        if stream == "stderr":
            # What the CLI says there is for people (and Node's view of an error), never JSON
            # events: it is kept for a failure's reason and its HTTP status.
            self._stderr.add(_ANSI.sub("", line))
            status = _status_in(line[:2000])
            if status is not None:
                self._stderr_status = status
            return []
        return events_from_json_line(line, stream, self._handle, log, self.agent)

    def finish(self, exit_code: int | None) -> tuple[list[Event], AgentOutcome]:
        """Return the message still pending and the outcome: the ``result`` line's status,
        else the exit code."""
        if self._outcome is not None:
            return [], self._outcome
        events: list[Event] = []
        self._flush(events)
        if self._result is None:
            self._outcome = outcome_from_exit(exit_code, self.agent, self._stderr)
        else:
            self._outcome = self._outcome_of(self._result, exit_code)
        return events, self._outcome

    # -- reading -----------------------------------------------------------------------------

    def _handle(self, data: dict[str, Any], events: list[Event]) -> None:
        kind = data.get("type")
        if kind == "message" and data.get("role") == "assistant":
            content = data.get("content")
            if isinstance(content, str) and content:
                self._identify(events)
                if data.get("delta") is not True:
                    self._flush(events)
                self._pending.append(content)
            return
        self._flush(events)
        if kind == "init":
            self._init(data)
        elif kind == "tool_use":
            self._identify(events)
            self._tool_use(data, events)
        elif kind == "tool_result":
            self._tool_result(data, events)
        elif kind == "error":
            message = _text(data.get("message"))
            if message is not None:
                if data.get("severity") != "warning":
                    self._last_error = message
                events.append(
                    ErrorOccurred(
                        session_id=self.session_id,
                        where="agent",
                        message=summarize(message, 2000),
                    )
                )
        elif kind == "result" and self._result is None:
            self._result = data
            if data.get("status") == "success":
                self._identify(events)
            self._cost(data.get("stats"), events)

    def _init(self, data: dict[str, Any]) -> None:
        model = _text(data.get("model"))
        if model is not None and model != "auto" and self._model is None:
            self._model = model
        session = _text(data.get("session_id"))
        if session is not None and self._agent_session is None:
            self._agent_session = session

    def _identify(self, events: list[Event]) -> None:
        """Tell the agent session id, once, now that the CLI's session holds an answer."""
        if self._identified or self._agent_session is None:
            return
        self._identified = True
        events.append(
            AgentSessionIdentified(session_id=self.session_id, agent_session_id=self._agent_session)
        )

    def _tool_use(self, data: dict[str, Any], events: list[Event]) -> None:
        name = _text(data.get("tool_name")) or "unknown"
        tool_id = _text(data.get("tool_id"))
        parameters = data.get("parameters")
        if tool_id is not None:
            if tool_id in self._tools:
                return
            if len(self._tools) < 10_000:
                self._tools[tool_id] = (name, parameters)
        events.append(
            ToolUsed(
                session_id=self.session_id,
                name=name,
                tool_use_id=tool_id,
                summary=tool_summary(parameters),
            )
        )

    def _tool_result(self, data: dict[str, Any], events: list[Event]) -> None:
        if data.get("status") != "error":
            return
        error = data.get("error")
        error = error if isinstance(error, dict) else {}
        error_type = error.get("type")
        message = _text(error.get("message")) or _text(data.get("output")) or ""
        tool_id = _text(data.get("tool_id"))
        name, parameters = self._tools.get(tool_id or "", ("unknown", None))
        refused = (
            error_type == "policy_violation"
            or (error_type == "tool_not_registered" and name in _GATED_TOOLS)
            or (
                error_type in ("invalid_tool_params", "path_not_in_workspace")
                and _REFUSED.search(message) is not None
            )
        )
        if not refused or (tool_id is not None and tool_id in self._denied):
            return
        if tool_id is not None:
            self._denied.add(tool_id)
        events.append(
            ToolDenied(
                session_id=self.session_id,
                name=name,
                tool_use_id=tool_id,
                summary=tool_summary(parameters),
                reason=summarize(message, 500),
            )
        )

    def _cost(self, stats: Any, events: list[Event]) -> None:
        if not isinstance(stats, dict):
            return
        models = stats.get("models")
        usages = [
            (str(model), usage)
            for model, usage in (models.items() if isinstance(models, dict) else [])
            if isinstance(usage, dict)
        ]
        if not usages:
            usages = [(self._model or "", stats)]
        usd, input_total, output_total, known = 0.0, 0, 0, False
        for model, usage in usages:
            input_tokens = as_count(usage.get("input_tokens"))
            output_tokens = as_count(usage.get("output_tokens"))
            if input_tokens is None and output_tokens is None:
                continue
            known = True
            inputs, outputs = input_tokens or 0, output_tokens or 0
            total = as_count(usage.get("total_tokens")) or 0
            thinking = max(0, total - inputs - outputs)
            cached = as_count(usage.get("cached")) or 0
            usd += price_for(self._prices, model or self._model).cost(
                inputs, cached, outputs + thinking
            )
            input_total += inputs
            output_total += outputs + thinking
        if not known or input_total + output_total == 0:
            return
        self._total_usd += usd
        events.append(
            CostReported(
                session_id=self.session_id,
                usd=usd,
                total_usd=self._total_usd,
                input_tokens=input_total,
                output_tokens=output_total,
            )
        )

    def _flush(self, events: list[Event]) -> None:
        if not self._pending:
            return
        text, self._pending = "".join(self._pending), []
        if text.strip():
            self._last_text = text
            events.append(AgentMessage(session_id=self.session_id, text=text))

    def _outcome_of(self, data: dict[str, Any], exit_code: int | None) -> AgentOutcome:
        if data.get("status") == "success":
            return AgentOutcome(success=True, result=self._last_text, reported=True)
        error = data.get("error")
        message = _text(error.get("message")) if isinstance(error, dict) else None
        text = message or self._last_error or f"{self.agent} reported an error"
        status = _status_in(text)
        if status is None:
            status = self._stderr_status
        if status is None and exit_code is not None and 144 <= exit_code <= 255:
            # The CLI exits with the API error's HTTP status, which the system cuts to its
            # low byte: 401 exits 145, 429 exits 173, 500 exits 244.
            status = exit_code + 256
        by_status = retryable_status(status)
        error_text = summarize(text, 2000)
        if status is not None and str(status) not in error_text:
            error_text = f"{error_text} (API error {status})"
        return AgentOutcome(
            success=False,
            result=self._last_text,
            error=error_text,
            retryable=(
                by_status
                if by_status is not None
                else looks_retryable(text) or _GEMINI_RETRYABLE.search(text) is not None
            ),
            reported=True,
        )


def _status_in(text: str) -> int | None:
    """The last HTTP error status a text of the CLI names, or ``None``."""
    found = None
    for line in text.splitlines() or [text]:
        for match in _STATUS_IN_TEXT.finditer(line):
            found = int(match[1] or match[2])
    return found


_MAX_USER_FILE = 1_000_000  # bytes of a user's settings or login copied into a session's home
_FORWARD_ENV = (
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_GCA",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GEMINI_MODEL",
    "GEMINI_TELEMETRY_ENABLED",
)
_APPROVAL_MODES = {
    Permissions.READ_ONLY: "plan",
    Permissions.EDIT: "auto_edit",
    Permissions.FULL: "yolo",
}


class GeminiCliAgent(AgentAdapter):
    """Google's Gemini CLI (``gemini``, npm ``@google/gemini-cli``), entry-point name ``gemini``.

    Unattended: ``gemini --output-format stream-json [--model M] [--resume ID] --approval-mode
    MODE`` with the prompt on standard input (a CLI whose standard input is not a terminal runs
    headless and reads its prompt there). In a terminal: the interactive ``gemini [--model M]
    [--resume ID] --approval-mode MODE --prompt-interactive=PROMPT``, which runs the prompt and
    stays for more.

    Permissions (``request.permissions``) are approval modes: ``read-only`` is ``plan`` (reads
    only; writes are refused outside the CLI's plans folder), ``edit`` is ``auto_edit`` (file
    edits approved; headless, the shell and web tools are left out), ``full`` is ``yolo``
    (every tool approved). In every mode the CLI refuses to write outside the worktree.

    With ``state_dir``, ``GEMINI_CLI_HOME`` points there (the CLI keeps ``.gemini/`` in it: its
    settings, its trusted folders, the session transcripts ``--resume`` reads), and
    `prepare_home()` makes it ready before each attempt. Credentials come from
    ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY`` for Vertex AI); the API's base URL
    (``GOOGLE_GEMINI_BASE_URL``), the Vertex AI switches, ``GEMINI_MODEL`` and
    ``GEMINI_TELEMETRY_ENABLED`` are passed on when set.

    The CLI reports tokens per model, not dollars: the ``result`` line's are priced from a table
    of USD per million tokens (`DEFAULT_GEMINI_PRICES`, updated by ``prices``).

    Args:
        prices: Prices by model name, merged over the defaults: a `GeminiPrice`, or
            ``(input, cached_input, output)`` in USD per million tokens; the key ``default``
            prices unknown models.
        default_model: The model passed as ``--model`` when the request names none; ``None``
            leaves the CLI's own choice (``auto``: it routes each turn to a model).
        executable: The command to run (a name on ``PATH`` or a path).
        user_home: The user's ``.gemini`` folder whose ``settings.json`` and
            ``oauth_creds.json`` are copied into each session's (default:
            ``$GEMINI_CLI_HOME/.gemini``, else ``~/.gemini``).

    Raises:
        ConfigError: the executable, a price or the default model is malformed.
    """

    def __init__(
        self,
        *,
        prices: Mapping[str, GeminiPrice | tuple[float, float, float]] | None = None,
        default_model: str | None = None,
        executable: str = "gemini",
        user_home: str | os.PathLike[str] | None = None,
    ) -> None:
        self._executable = checked_executable("gemini", executable)
        self._prices: Mapping[str, GeminiPrice] = merged_prices(
            DEFAULT_GEMINI_PRICES, prices, "gemini"
        )
        self._default_model = checked_default_model("gemini", default_model)
        self._user_home = Path(user_home) if user_home is not None else None

    @property
    def name(self) -> str:
        """``gemini``."""
        return "gemini"

    @property
    def secret_env(self) -> tuple[str, ...]:
        """``GEMINI_API_KEY`` and ``GOOGLE_API_KEY``."""
        return ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    @property
    def forward_env(self) -> tuple[str, ...]:
        """Non-secret variables passed on when set: the API's base URLs, the Vertex AI
        switches, the default model and the telemetry switch."""
        return _FORWARD_ENV

    @property
    def can_resume(self) -> bool:
        """True: ``--resume <session id>``."""
        return True

    @property
    def prices(self) -> Mapping[str, GeminiPrice]:
        """The price table in use (defaults merged with the ones given)."""
        return self._prices

    def price_for(self, model: str | None) -> GeminiPrice:
        """The price of ``model`` (``None``: the default model's, else ``default``)."""
        return price_for(self._prices, model or self._default_model)

    def command(self, request: AgentRequest) -> AgentCommand:
        """Return the Gemini CLI's argv, standard input and environment for ``request``.

        Raises:
            AgentError: the model or resume id is malformed, or a terminal prompt is too long.
        """
        model = request.model or self._default_model
        options: list[str] = []
        if model:
            options += ["--model", validate_model(model)]
        if request.resume_id is not None:
            options += ["--resume", validate_resume_id(request.resume_id)]
        options += ["--approval-mode", _APPROVAL_MODES[request.permissions]]
        env = {"GEMINI_CLI_HOME": request.state_dir} if request.state_dir else {}
        if request.terminal:
            prompt = check_argv_prompt(request.prompt, self.name)
            # One element with "=": a prompt starting with "-" is never read as an option.
            tail = [f"--prompt-interactive={prompt}"] if prompt else []
            return AgentCommand(argv=(self._executable, *options, *tail), env=env)
        argv = (self._executable, "--output-format", "stream-json", *options)
        return AgentCommand(argv=argv, stdin=encode_prompt(request.prompt), env=env)

    def prepare_home(self, home: Path, request: AgentRequest, env: Mapping[str, str]) -> None:
        """Make the session's ``GEMINI_CLI_HOME`` (``home``, on the engine's machine) ready for
        an attempt, so that the CLI asks nothing and sends nothing but model requests.

        ``.gemini/settings.json`` is the user's (from ``user_home``) with usage statistics,
        telemetry, auto-update and its notification off and, when ``env`` has
        ``GEMINI_API_KEY`` and the user chose no auth type (nor Vertex AI or a Google login
        by variable), the auth type ``gemini-api-key`` (without it a custom base URL makes
        the headless CLI refuse to start: "Invalid auth method selected."). In
        ``.gemini/trustedFolders.json`` the worktree (``request.workdir``) is trusted; the
        headless CLI exits 55 in a folder it does not trust. The user's ``oauth_creds.json``
        (a Google login) is copied, never linked. What the CLI keeps there itself (its
        sessions, what ``--resume`` reads) stays. Every file is private (0600).
        """
        folder = home / ".gemini"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        user = self._user_home or (
            Path(os.environ.get("GEMINI_CLI_HOME") or Path.home()) / ".gemini"
        )
        settings = _read_json_object(user / "settings.json")
        _section(settings, "privacy")["usageStatisticsEnabled"] = False
        _section(settings, "telemetry")["enabled"] = False
        general = _section(settings, "general")
        general["enableAutoUpdate"] = False
        general["enableAutoUpdateNotification"] = False
        auth = _section(_section(settings, "security"), "auth")
        chosen_elsewhere = any(
            env.get(name) == "true"
            for name in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_GCA")
        )
        if env.get("GEMINI_API_KEY") and not auth.get("selectedType") and not chosen_elsewhere:
            auth["selectedType"] = "gemini-api-key"
        write_private(folder / "settings.json", json.dumps(settings, indent=2).encode())
        trusted = _read_json_object(folder / "trustedFolders.json")
        trusted[request.workdir] = "TRUST_FOLDER"
        write_private(folder / "trustedFolders.json", json.dumps(trusted, indent=2).encode())
        copy_user_file(user / "oauth_creds.json", folder / "oauth_creds.json", limit=_MAX_USER_FILE)

    def parser(self, session_id: str, *, model: str | None = None) -> GeminiStreamParser:
        """Return a fresh parser for one attempt.

        Args:
            session_id: The scopecraft session.
            model: The model the attempt asks for, pricing usage the CLI names no model for
                (default: ``default_model``).
        """
        return GeminiStreamParser(
            session_id,
            prices=self._prices,
            model=model or self._default_model,
            agent=self.name,
        )


def _section(settings: dict[str, Any], key: str) -> dict[str, Any]:
    """``settings[key]`` as an object, made one when it is missing or not one."""
    value = settings.get(key)
    if not isinstance(value, dict):
        value = {}
        settings[key] = value
    return value


def _read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (bounded, never through a link), or an empty one when it is
    missing, too big or not one (a settings file with comments included: the CLI's own
    format allows them, and the copy then starts from the switches alone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(_MAX_USER_FILE + 1)
        data = json.loads(raw) if len(raw) <= _MAX_USER_FILE else None
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError):
        log.warning("gemini: could not read %s as a JSON object; starting without it", path.name)
        return {}
    return data if isinstance(data, dict) else {}
