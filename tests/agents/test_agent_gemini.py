"""GeminiCliAgent: argv for every level and option, the per-session home, the ``stream-json``
parser on transcripts recorded from the real CLI (``fixtures/gemini/``, made by
``fixtures/gemini/capture.py``), pricing, and the agent contract."""

from __future__ import annotations

import json
import os
import re
import stat
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from agent_support import Parsed, parse_lines

from scopecraft._errors import AgentError, ConfigError
from scopecraft._models import SessionMode
from scopecraft.agents import (
    DEFAULT_GEMINI_PRICES,
    AgentAdapter,
    AgentRequest,
    GeminiCliAgent,
    GeminiPrice,
    GeminiStreamParser,
)
from scopecraft.testing.contracts.agents import AgentContract

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"
SESSION = "5b2f6f3e-2d0c-4c1e-9a57-0c8e1f2a7d41"
PRO = DEFAULT_GEMINI_PRICES["gemini-2.5-pro"]


def request(**kwargs: Any) -> AgentRequest:
    values: dict[str, Any] = {
        "mode": SessionMode.AUTONOMOUS,
        "prompt": "do the task",
        "workdir": "/work/tree",
    }
    values.update(kwargs)
    return AgentRequest(**values)


def transcript(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def parse_fixture(name: str, parser: GeminiStreamParser | None = None) -> Parsed:
    """Feed a recorded run to a parser: standard output, then standard error, then the exit."""
    data = transcript(name)
    parser = parser or GeminiCliAgent().parser("s-1")
    events = [e for line in data["stdout"] for e in parser.feed(line)]
    events += [e for line in data["stderr"] for e in parser.feed(line, "stderr")]
    tail, outcome = parser.finish(data["exit_code"])
    return Parsed(events=[*events, *tail], outcome=outcome)


def line(**data: Any) -> str:
    return json.dumps(data)


def result(status: str = "success", **fields: Any) -> str:
    return line(type="result", status=status, **fields)


# -- argv ------------------------------------------------------------------------------------


def test_unattended_reads_the_prompt_from_stdin() -> None:
    """Unattended, ``gemini --output-format stream-json`` runs headless with the prompt on
    standard input; the default level is ``edit`` (``auto_edit``)."""
    command = GeminiCliAgent().command(request(prompt="fix it"))
    assert command.argv == (
        "gemini",
        "--output-format",
        "stream-json",
        "--approval-mode",
        "auto_edit",
    )
    assert command.stdin == b"fix it"
    assert dict(command.env) == {}


@pytest.mark.parametrize(
    ("level", "mode"), [("read-only", "plan"), ("edit", "auto_edit"), ("full", "yolo")]
)
@pytest.mark.parametrize("terminal", [False, True])
@pytest.mark.parametrize("in_container", [False, True])
def test_each_level_is_an_approval_mode(
    level: str, mode: str, terminal: bool, in_container: bool
) -> None:
    """Each permission level is one ``--approval-mode``, on the host and in a container,
    unattended and in a terminal; no other approval switch is passed."""
    argv = (
        GeminiCliAgent()
        .command(request(permissions=level, terminal=terminal, in_container=in_container))
        .argv
    )
    index = argv.index("--approval-mode")
    assert argv[index + 1] == mode
    assert argv.count("--approval-mode") == 1
    assert not {"--yolo", "-y", "--sandbox", "-s"} & set(argv)


def test_dangerous_is_yolo() -> None:
    """The ``dangerous`` alias is the ``full`` level: ``yolo``."""
    argv = GeminiCliAgent().command(request(dangerous=True)).argv
    assert argv[-2:] == ("--approval-mode", "yolo")


@pytest.mark.parametrize("model", [None, "gemini-2.5-flash"])
@pytest.mark.parametrize("resume_id", [None, SESSION])
def test_model_and_resume_options(model: str | None, resume_id: str | None) -> None:
    """``--model`` and ``--resume <session id>`` come before the approval mode, each only when
    asked for."""
    argv = GeminiCliAgent().command(request(model=model, resume_id=resume_id)).argv
    expected = ["gemini", "--output-format", "stream-json"]
    if model:
        expected += ["--model", model]
    if resume_id:
        expected += ["--resume", resume_id]
    expected += ["--approval-mode", "auto_edit"]
    assert argv == tuple(expected)


def test_terminal_runs_the_interactive_cli_with_the_prompt() -> None:
    """In a terminal the interactive CLI gets the prompt as ``--prompt-interactive=PROMPT``
    (one element, so a prompt starting with ``-`` is no option), and no standard input."""
    fresh = GeminiCliAgent().command(request(terminal=True, model="gemini-2.5-pro"))
    assert fresh.argv == (
        "gemini",
        "--model",
        "gemini-2.5-pro",
        "--approval-mode",
        "auto_edit",
        "--prompt-interactive=do the task",
    )
    assert fresh.stdin is None
    resumed = GeminiCliAgent().command(request(terminal=True, resume_id=SESSION, prompt="-more"))
    assert resumed.argv == (
        "gemini",
        "--resume",
        SESSION,
        "--approval-mode",
        "auto_edit",
        "--prompt-interactive=-more",
    )


def test_terminal_refuses_a_prompt_too_long_for_argv() -> None:
    """A terminal prompt over the argv limit is refused with ``AgentError``."""
    with pytest.raises(AgentError):
        GeminiCliAgent().command(request(terminal=True, prompt="x" * 200_000))


def test_state_dir_is_gemini_cli_home_and_default_model_is_passed() -> None:
    """``state_dir`` becomes ``GEMINI_CLI_HOME``; ``default_model`` is passed when the request
    names none, the request's model otherwise."""
    agent = GeminiCliAgent(default_model="gemini-2.5-flash")
    command = agent.command(request(state_dir="/state/ses-1"))
    assert dict(command.env) == {"GEMINI_CLI_HOME": "/state/ses-1"}
    assert command.argv[3:5] == ("--model", "gemini-2.5-flash")
    assert agent.command(request(model="gemini-2.5-pro")).argv[3:5] == ("--model", "gemini-2.5-pro")


@pytest.mark.parametrize("bad", ["--last", "-1", "a b", ""])
def test_malformed_resume_id_is_refused(bad: str) -> None:
    """A resume id that looks like an option (or is empty) is refused with ``AgentError``."""
    with pytest.raises(AgentError):
        GeminiCliAgent().command(request(resume_id=bad))


def test_adapter_properties() -> None:
    """The Gemini keys are secrets; the base URL and telemetry switch are forwarded; it
    resumes by id."""
    agent = GeminiCliAgent()
    assert agent.name == "gemini"
    assert agent.secret_env == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert "GOOGLE_GEMINI_BASE_URL" in agent.forward_env
    assert "GEMINI_TELEMETRY_ENABLED" in agent.forward_env
    assert not set(agent.secret_env) & set(agent.forward_env)
    assert agent.can_resume is True


@pytest.mark.parametrize(
    "kwargs",
    [
        {"executable": "-x"},
        {"executable": ""},
        {"default_model": "--model"},
        {"prices": {"m": (1.0, 2.0)}},
        {"prices": {"m": (1.0, -1.0, 2.0)}},
        {"prices": {"m": "cheap"}},
    ],
)
def test_bad_configuration_is_a_config_error(kwargs: dict[str, Any]) -> None:
    """A malformed executable, default model or price is a ``ConfigError``."""
    with pytest.raises(ConfigError):
        GeminiCliAgent(**kwargs)


def test_entry_point_loads() -> None:
    """``gemini`` is registered in ``scopecraft.agents`` and builds with no arguments."""
    (entry,) = [ep for ep in entry_points(group="scopecraft.agents") if ep.name == "gemini"]
    adapter = entry.load()()
    assert isinstance(adapter, AgentAdapter)
    assert adapter.name == "gemini"


# -- the session's home ------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_prepare_home_quiets_the_cli_trusts_the_worktree_and_keeps_the_users_settings(
    tmp_path: Path,
) -> None:
    """The session's ``.gemini/settings.json`` is the user's with usage statistics,
    telemetry and updates off and the API-key auth chosen; the worktree is trusted; the
    user's Google login is copied; every file is private."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "settings.json").write_text(
        json.dumps({"ui": {"theme": "GitHub"}, "telemetry": {"enabled": True}})
    )
    (user / "oauth_creds.json").write_text('{"refresh_token": "r"}')
    home = tmp_path / "home"
    agent = GeminiCliAgent(user_home=user)
    agent.prepare_home(home, request(), {"GEMINI_API_KEY": "k"})

    settings = json.loads((home / ".gemini" / "settings.json").read_text())
    assert settings["ui"] == {"theme": "GitHub"}
    assert settings["telemetry"]["enabled"] is False
    assert settings["privacy"]["usageStatisticsEnabled"] is False
    assert settings["general"]["enableAutoUpdate"] is False
    assert settings["general"]["enableAutoUpdateNotification"] is False
    assert settings["security"]["auth"]["selectedType"] == "gemini-api-key"
    trusted = json.loads((home / ".gemini" / "trustedFolders.json").read_text())
    assert trusted == {"/work/tree": "TRUST_FOLDER"}
    assert (home / ".gemini" / "oauth_creds.json").read_text() == '{"refresh_token": "r"}'
    for name in ("settings.json", "trustedFolders.json", "oauth_creds.json"):
        assert _mode(home / ".gemini" / name) == 0o600


@pytest.mark.parametrize(
    ("settings", "env"),
    [
        ({"security": {"auth": {"selectedType": "oauth-personal"}}}, {"GEMINI_API_KEY": "k"}),
        ({}, {"GEMINI_API_KEY": "k", "GOOGLE_GENAI_USE_VERTEXAI": "true"}),
        ({}, {"GOOGLE_API_KEY": "k"}),
        ({}, {}),
    ],
)
def test_prepare_home_leaves_the_auth_type_to_the_user(
    tmp_path: Path, settings: dict[str, Any], env: dict[str, str]
) -> None:
    """The API-key auth type is chosen only with ``GEMINI_API_KEY`` and no other choice: the
    user's own, Vertex AI by variable, or no Gemini key at all."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "settings.json").write_text(json.dumps(settings))
    home = tmp_path / "home"
    GeminiCliAgent(user_home=user).prepare_home(home, request(), env)
    written = json.loads((home / ".gemini" / "settings.json").read_text())
    assert written.get("security", {}).get("auth", {}).get("selectedType") == (
        settings.get("security", {}).get("auth", {}).get("selectedType")
    )


def test_prepare_home_keeps_what_the_cli_stored_and_replaces_links(tmp_path: Path) -> None:
    """Trusted folders the session already had stay; a link left at a settings file is
    replaced by a private file, never followed; a missing or unreadable user folder still
    gives a working home."""
    home = tmp_path / "home"
    (home / ".gemini" / "tmp").mkdir(parents=True)
    (home / ".gemini" / "tmp" / "chat.jsonl").write_text("kept")
    (home / ".gemini" / "trustedFolders.json").write_text('{"/other": "TRUST_PARENT"}')
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (home / ".gemini" / "settings.json").symlink_to(outside)
    agent = GeminiCliAgent(user_home=tmp_path / "missing")
    agent.prepare_home(home, request(workdir="/w"), {})

    assert outside.read_text() == "{}"
    assert not (home / ".gemini" / "settings.json").is_symlink()
    assert json.loads((home / ".gemini" / "trustedFolders.json").read_text()) == {
        "/other": "TRUST_PARENT",
        "/w": "TRUST_FOLDER",
    }
    assert (home / ".gemini" / "tmp" / "chat.jsonl").read_text() == "kept"
    assert not (home / ".gemini" / "oauth_creds.json").exists()


def test_prepare_home_starts_fresh_from_settings_it_cannot_read(tmp_path: Path) -> None:
    """A user settings file that is not a JSON object (comments, a list) is not copied: the
    session's settings hold the switches alone."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "settings.json").write_text('// my settings\n{"ui": {}}')
    home = tmp_path / "home"
    GeminiCliAgent(user_home=user).prepare_home(home, request(), {})
    settings = json.loads((home / ".gemini" / "settings.json").read_text())
    assert "ui" not in settings
    assert settings["telemetry"] == {"enabled": False}


def test_prepare_home_reads_the_users_gemini_cli_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``user_home``, the user's folder is ``$GEMINI_CLI_HOME/.gemini``."""
    (tmp_path / "cli-home" / ".gemini").mkdir(parents=True)
    (tmp_path / "cli-home" / ".gemini" / "settings.json").write_text('{"ui": {"x": 1}}')
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "cli-home"))
    GeminiCliAgent().prepare_home(tmp_path / "home", request(), {})
    settings = json.loads((tmp_path / "home" / ".gemini" / "settings.json").read_text())
    assert settings["ui"] == {"x": 1}


# -- recorded transcripts ----------------------------------------------------------------------


def test_fixtures_hold_no_temporary_paths_or_real_keys() -> None:
    """The recorded transcripts name the run's folder ``$SCRATCH`` and hold no key."""
    texts = {path.name: path.read_text() for path in FIXTURES.glob("*.json")}
    assert len(texts) == 13
    assert "$SCRATCH/work" in texts["write-edit.json"]
    for name, text in texts.items():
        assert not re.search(r"sc-gemini-capture-|pytest-of-|/root/", text), name
        assert "AIza" not in text, name


def test_text_answer() -> None:
    """A text answer streamed in pieces is one message; the session id is identified; the
    cost is the usage at list price (cached tokens at the cached rate); success."""
    parsed = parse_fixture("text")
    (identified,) = parsed.of_type("agent_session_identified")
    (init,) = [json.loads(x) for x in transcript("text")["stdout"] if '"init"' in x]
    assert identified.agent_session_id == init["session_id"]
    (message,) = parsed.of_type("agent_message")
    assert message.text == "Hello! I am the scripted Gemini model, answering in several chunks."
    (cost,) = parsed.of_type("cost_reported")
    assert (cost.input_tokens, cost.output_tokens) == (1600, 60)
    assert cost.usd == pytest.approx(PRO.cost(1600, 400, 60), rel=1e-12)
    assert cost.usd == pytest.approx((1200 * 1.25 + 400 * 0.125 + 60 * 10.0) / 1e6, rel=1e-12)
    assert parsed.outcome.success
    assert parsed.outcome.reported
    assert parsed.outcome.result == message.text


def test_write_at_edit() -> None:
    """Text, a ``write_file`` tool use (summary: its path), text again: two messages around
    one tool use, in the CLI's order; the two turns' usage is priced."""
    parsed = parse_fixture("write-edit")
    kinds = [e.type for e in parsed.events]
    assert kinds == [
        "agent_session_identified",
        "agent_message",
        "tool_used",
        "agent_message",
        "cost_reported",
    ]
    (tool,) = parsed.of_type("tool_used")
    assert tool.name == "write_file"
    assert tool.summary == "$SCRATCH/work/notes/hello.txt"
    assert tool.tool_use_id.startswith("write_file_")
    assert [m.text for m in parsed.of_type("agent_message")] == [
        "I will write the file.",
        "Wrote notes/hello.txt.",
    ]
    (cost,) = parsed.of_type("cost_reported")
    assert cost.usd == pytest.approx(PRO.cost(2300, 0, 70), rel=1e-12)
    assert not parsed.of_type("tool_denied")
    assert parsed.outcome.success


def test_write_at_read_only_is_denied() -> None:
    """In plan mode (``read-only``) the write is refused ("Access denied: plan path ..."): a
    ``tool_denied`` with the tool, its path and what the CLI said; the run still succeeds."""
    parsed = parse_fixture("write-read-only")
    (denied,) = parsed.of_type("tool_denied")
    (used,) = parsed.of_type("tool_used")
    assert denied.name == "write_file"
    assert denied.tool_use_id == used.tool_use_id
    assert denied.summary == "$SCRATCH/work/notes/hello.txt"
    assert denied.reason.startswith("Access denied: plan path")
    assert parsed.outcome.success


def test_shell_at_edit_is_denied() -> None:
    """Headless ``auto_edit`` leaves the shell out: calling it is a refusal
    (``tool_not_registered`` of a gated tool), not a slip of the model."""
    parsed = parse_fixture("shell-edit")
    (denied,) = parsed.of_type("tool_denied")
    assert denied.name == "run_shell_command"
    assert denied.summary == "ls"
    assert 'Tool "run_shell_command" not found' in denied.reason


def test_shell_at_full_runs_and_a_write_outside_the_workspace_is_denied() -> None:
    """At ``yolo`` the shell command runs (a tool use, no denial); a write outside the
    workspace is refused even so ("Path not in workspace")."""
    parsed = parse_fixture("shell-full")
    assert [t.name for t in parsed.of_type("tool_used")] == ["run_shell_command", "write_file"]
    (denied,) = parsed.of_type("tool_denied")
    assert denied.name == "write_file"
    assert denied.summary == "/var/tmp/outside.txt"
    assert denied.reason.startswith("Path not in workspace")
    (cost,) = parsed.of_type("cost_reported")
    assert cost.usd == pytest.approx(PRO.cost(3000, 0, 55), rel=1e-12)


def test_resumed_run_keeps_the_session_id_and_counts_only_its_own_tokens() -> None:
    """``--resume`` keeps the CLI's session id; the resumed run's stats hold only its own
    turn, so its cost is that turn's."""
    first, second = parse_fixture("resume-1"), parse_fixture("resume-2")
    (one,) = first.of_type("agent_session_identified")
    (two,) = second.of_type("agent_session_identified")
    assert one.agent_session_id == two.agent_session_id
    assert "--resume" in transcript("resume-2")["argv"]
    (cost,) = second.of_type("cost_reported")
    assert (cost.input_tokens, cost.output_tokens) == (1500, 12)
    assert cost.usd == pytest.approx(PRO.cost(1500, 0, 12), rel=1e-12)
    assert second.outcome.result == "second answer"


@pytest.mark.parametrize(
    ("status", "exit_code", "retryable"),
    [(401, 145, False), (429, 173, True), (500, 244, True), (503, 247, True)],
)
def test_api_errors_are_classified_by_status(status: int, exit_code: int, retryable: bool) -> None:
    """A forced API error ends the run with a ``result`` error and the status's low byte as
    exit code; the failure names the status and is retryable unless it is the caller's
    fault (401). No cost for a run that used no tokens, and no session id: the CLI cannot
    resume a session that holds no answer."""
    name = f"error-{status}"
    assert transcript(name)["exit_code"] == exit_code
    parsed = parse_fixture(name)
    assert not parsed.outcome.success
    assert parsed.outcome.reported
    assert str(status) in (parsed.outcome.error or "")
    assert parsed.outcome.retryable is retryable
    assert not parsed.of_type("cost_reported")
    # The CLI cannot resume a session without an answer: none is named to resume.
    assert not parsed.of_type("agent_session_identified")


@pytest.mark.parametrize("status", [429, 503])
def test_quota_errors_are_classified_without_stderr(status: int) -> None:
    """The 429 and 503 texts name no status: the exit code (the status's low byte) still
    classifies them when standard error is not read."""
    data = transcript(f"error-{status}")
    parsed = parse_lines(GeminiCliAgent().parser("s-1"), data["stdout"], data["exit_code"])
    assert f"API error {status}" in (parsed.outcome.error or "")
    assert parsed.outcome.retryable is True


def test_a_broken_stream_is_a_retryable_failure() -> None:
    """A stream that ends without a finish reason (the API's error inside a 200 stream) is an
    ``error`` line, an ``error_occurred``, and a ``result`` error without its own message:
    the failure says what the ``error`` line said, and is retryable."""
    parsed = parse_fixture("error-in-stream")
    (error,) = parsed.of_type("error_occurred")
    assert error.where == "agent"
    assert error.message == "Model stream ended without a finish reason."
    assert parsed.outcome.error == "Model stream ended without a finish reason."
    assert parsed.outcome.retryable is True


def test_untrusted_folder_fails_with_the_clis_reason() -> None:
    """In a folder it does not trust the CLI exits 55 without any JSON: the exit code decides
    and the failure quotes standard error (without its colour codes)."""
    parsed = parse_fixture("untrusted")
    assert parsed.events == []
    assert not parsed.outcome.success
    assert not parsed.outcome.reported
    error = parsed.outcome.error or ""
    assert "exited with code 55" in error
    assert "not running in a trusted directory" in error
    assert "\x1b" not in error


# -- parser rules --------------------------------------------------------------------------------


def _parse(*lines: str, exit_code: int | None = 0, **kwargs: Any) -> Parsed:
    return parse_lines(GeminiStreamParser("s-1", **kwargs), lines, exit_code)


def test_thinking_tokens_are_priced_as_output_per_model() -> None:
    """Each model of ``stats.models`` is priced at its own price; ``total_tokens`` beyond input
    and output is thinking, billed as output; an unknown model gets ``default``."""
    stats = {
        "models": {
            "gemini-2.5-pro": {
                "total_tokens": 1500,
                "input_tokens": 1000,
                "output_tokens": 100,
                "cached": 200,
            },
            "gemini-2.5-flash-lite": {"total_tokens": 60, "input_tokens": 50, "output_tokens": 10},
            "gemini-9-ultra": {"total_tokens": 11, "input_tokens": 10, "output_tokens": 1},
        }
    }
    parsed = _parse(result(stats=stats))
    (cost,) = parsed.of_type("cost_reported")
    lite = DEFAULT_GEMINI_PRICES["gemini-2.5-flash-lite"]
    default = DEFAULT_GEMINI_PRICES["default"]
    expected = PRO.cost(1000, 200, 500) + lite.cost(50, 0, 10) + default.cost(10, 0, 1)
    assert cost.usd == pytest.approx(expected, rel=1e-12)
    assert (cost.input_tokens, cost.output_tokens) == (1060, 511)


def test_stats_without_models_are_priced_at_the_runs_model() -> None:
    """Totals without a per-model breakdown are priced at the model ``init`` named (or the
    parser's), never at nothing."""
    flash = DEFAULT_GEMINI_PRICES["gemini-2.5-flash"]
    parsed = _parse(
        line(type="init", session_id="abc", model="gemini-2.5-flash"),
        result(stats={"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}),
    )
    (cost,) = parsed.of_type("cost_reported")
    assert cost.usd == pytest.approx(flash.cost(100, 0, 10))


def test_prices_are_configurable_and_dated_names_use_their_base() -> None:
    """``prices=`` adds or corrects entries (a tuple or a `GeminiPrice`); a
    ``-NNN`` or ``-MM-YYYY`` snapshot uses its base model's entry; ``models/`` is dropped."""
    agent = GeminiCliAgent(prices={"my-model": (1.0, 0.1, 2.0), "default": GeminiPrice(9, 9, 9)})
    assert agent.price_for("my-model") == GeminiPrice(1.0, 0.1, 2.0)
    assert agent.price_for("my-model-09-2025") == GeminiPrice(1.0, 0.1, 2.0)
    assert agent.price_for("gemini-2.5-pro-001") == PRO
    assert agent.price_for("models/gemini-2.5-pro") == PRO
    assert agent.price_for("unknown") == GeminiPrice(9, 9, 9)
    assert agent.prices["gemini-2.5-flash"] == DEFAULT_GEMINI_PRICES["gemini-2.5-flash"]


def test_the_default_price_is_the_most_expensive() -> None:
    """An unknown model is priced at the table's highest input and output rates, so it is
    never under-counted."""
    default = DEFAULT_GEMINI_PRICES["default"]
    assert default.input == max(p.input for p in DEFAULT_GEMINI_PRICES.values())
    assert default.output == max(p.output for p in DEFAULT_GEMINI_PRICES.values())
    assert GeminiCliAgent().price_for(None) == default


def test_messages_tools_and_errors() -> None:
    """Pieces join into one message up to the next line of another kind; a whole (non-delta)
    message stands alone; a tool use repeated by id is counted once; a warning is an
    ``error_occurred`` but not the failure's reason; a user line ends a message."""
    parsed = _parse(
        line(type="message", role="assistant", content="Hel", delta=True),
        line(type="message", role="assistant", content="lo.", delta=True),
        line(type="message", role="assistant", content="Whole."),
        line(type="tool_use", tool_name="glob", tool_id="t1", parameters={"pattern": "*.py"}),
        line(type="tool_use", tool_name="glob", tool_id="t1", parameters={"pattern": "*.py"}),
        line(type="error", severity="warning", message="Loop detected"),
        line(type="message", role="assistant", content="Bye.", delta=True),
        line(type="message", role="user", content="ignored"),
        result("error"),
        exit_code=1,
    )
    assert [m.text for m in parsed.of_type("agent_message")] == ["Hello.", "Whole.", "Bye."]
    (tool,) = parsed.of_type("tool_used")
    assert (tool.name, tool.summary) == ("glob", "*.py")
    (warning,) = parsed.of_type("error_occurred")
    assert warning.message == "Loop detected"
    assert parsed.outcome.error == "gemini reported an error"
    assert parsed.outcome.retryable is False


def test_only_refusals_are_denials() -> None:
    """A tool error that is no refusal (a missing file, an unknown tool the model made up)
    is no ``tool_denied``; a policy refusal is, once per tool use."""
    parsed = _parse(
        line(type="tool_use", tool_name="read_file", tool_id="a", parameters={"file_path": "x"}),
        line(
            type="tool_result",
            tool_id="a",
            status="error",
            error={"type": "file_not_found", "message": "File not found: x"},
        ),
        line(type="tool_use", tool_name="made_up", tool_id="b", parameters={}),
        line(
            type="tool_result",
            tool_id="b",
            status="error",
            error={"type": "tool_not_registered", "message": 'Tool "made_up" not found.'},
        ),
        line(type="tool_use", tool_name="replace", tool_id="c", parameters={"file_path": "y"}),
        *[
            line(
                type="tool_result",
                tool_id="c",
                status="error",
                error={"type": "policy_violation", "message": "denied by policy"},
            )
        ]
        * 2,
        result(),
    )
    (denied,) = parsed.of_type("tool_denied")
    assert (denied.name, denied.tool_use_id, denied.summary) == ("replace", "c", "y")
    assert denied.reason == "denied by policy"


def test_the_session_is_identified_once_it_holds_an_answer() -> None:
    """``init`` alone names no session; the first message, tool use or successful result
    does, once, before what it brings."""
    init = line(type="init", session_id="abc", model="gemini-2.5-pro")
    assert not _parse(init, result("error"), exit_code=1).of_type("agent_session_identified")
    for answer in (
        line(type="message", role="assistant", content="hi", delta=True),
        line(type="tool_use", tool_name="glob", tool_id="t", parameters={}),
        result(),
    ):
        parsed = _parse(init, answer, answer, result())
        assert parsed.events[0].type == "agent_session_identified"
        assert [e.agent_session_id for e in parsed.of_type("agent_session_identified")] == ["abc"]


def test_status_from_stderr_and_from_the_exit_code() -> None:
    """Without a status in the message, the one standard error names is used, else the exit
    code's (the status's low byte); a signal-like exit code is none."""
    error = result("error", error={"type": "unknown", "message": "[API Error: quota]"})
    parser = GeminiStreamParser("s-1")
    parser.feed(error)
    parser.feed("  status: 401", "stderr")
    _, outcome = parser.finish(1)
    assert outcome.retryable is False
    assert "401" in (outcome.error or "")
    assert _parse(error, exit_code=247).outcome.retryable is True
    assert "API error 503" in (_parse(error, exit_code=247).outcome.error or "")
    assert _parse(error, exit_code=137).outcome.retryable is False


def test_without_a_result_the_exit_code_decides() -> None:
    """No ``result`` line: exit 0 is a success that reported nothing; another exit fails with
    standard error's last lines, retryable when they show the provider's trouble."""
    assert _parse(exit_code=0).outcome.success
    parser = GeminiStreamParser("s-1")
    parser.feed("Error: 503 Service Unavailable", "stderr")
    _, outcome = parser.finish(1)
    assert not outcome.success
    assert "503 Service Unavailable" in (outcome.error or "")
    assert outcome.retryable is True


def test_nothing_is_read_after_finish() -> None:
    """Lines fed after ``finish`` are no events, and the outcome stays."""
    parser = GeminiStreamParser("s-1")
    _, outcome = parser.finish(0)
    assert parser.feed(result("error")) == []
    assert parser.finish(1) == ([], outcome)


def test_secrets_in_the_environment_never_reach_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys are forwarded by the engine, never written into argv or the command's env."""
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-secret-0")
    command = GeminiCliAgent().command(request(state_dir="/s"))
    assert not any("AIza" in part for part in command.argv)
    assert "AIza-secret-0" not in command.env.values()
    assert os.environ["GEMINI_API_KEY"] == "AIza-secret-0"


# -- the contract ------------------------------------------------------------------------------


class TestGeminiContract(AgentContract):
    """The agent contract, run over ``GeminiCliAgent``."""

    @pytest.fixture
    def adapter(self) -> AgentAdapter:
        """The Gemini CLI adapter with its defaults."""
        return GeminiCliAgent()
