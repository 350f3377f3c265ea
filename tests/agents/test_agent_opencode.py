"""``OpenCodeAgent``: argv per permission level, the session's home, the parser on transcripts
recorded from the real CLI (``fixtures/opencode/``, made by ``fixtures/opencode/capture.py``),
and the agent contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scopecraft._errors import AgentError
from scopecraft._models import SessionMode
from scopecraft.agents import AgentOutcome, AgentRequest, OpenCodeAgent
from scopecraft.events import (
    AgentMessage,
    AgentSessionIdentified,
    CostReported,
    ErrorOccurred,
    Event,
    ToolDenied,
    ToolUsed,
)
from scopecraft.testing.contracts.agents import AgentContract

FIXTURES = Path(__file__).parent / "fixtures" / "opencode"


def request(**kwargs: Any) -> AgentRequest:
    kwargs.setdefault("mode", SessionMode.AUTONOMOUS)
    kwargs.setdefault("prompt", "fix the bug\nin main.py")
    kwargs.setdefault("workdir", "/work")
    return AgentRequest(**kwargs)


def parse_fixture(name: str) -> tuple[list[Event], AgentOutcome]:
    """Feed a recorded run to a parser: standard output, then standard error, then the exit."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    parser = OpenCodeAgent().parser("s-1")
    events = [e for line in data["stdout"] for e in parser.feed(line)]
    events += [e for line in data["stderr"] for e in parser.feed(line, "stderr")]
    tail, outcome = parser.finish(data["returncode"])
    return [*events, *tail], outcome


def test_argv_at_edit() -> None:
    """Unattended: ``run --format json``, the model, a title from the prompt's first line, the
    prompt on standard input; edits allowed and the shell denied by ``OPENCODE_PERMISSION``."""
    command = OpenCodeAgent().command(request(model="scripted/m", state_dir="/state"))
    assert command.argv == (
        "opencode",
        "run",
        "--format",
        "json",
        "--model",
        "scripted/m",
        "--title=fix the bug",
    )
    assert command.stdin == b"fix the bug\nin main.py"
    permission = json.loads(command.env["OPENCODE_PERMISSION"])
    assert permission["edit"] == "allow"
    assert permission["bash"] == "deny"
    assert command.env["XDG_DATA_HOME"] == "/state/data"
    assert command.env["XDG_CONFIG_HOME"] == "/state/config"
    assert command.env["OPENCODE_DISABLE_AUTOUPDATE"] == "1"


@pytest.mark.parametrize(
    ("level", "edit", "bash", "auto"),
    [
        ("read-only", "deny", "deny", False),
        ("edit", "allow", "deny", False),
        ("full", "allow", "allow", True),
    ],
)
def test_permission_levels(level: str, edit: str, bash: str, auto: bool) -> None:
    """Each level is a permission config; ``full`` adds ``--auto``."""
    command = OpenCodeAgent().command(request(permissions=level))
    permission = json.loads(command.env["OPENCODE_PERMISSION"])
    assert (permission["edit"], permission["bash"]) == (edit, bash)
    assert ("--auto" in command.argv) is auto


def test_resume_and_terminal() -> None:
    """``--session ID`` resumes; in a terminal the TUI takes ``--prompt=`` (one element, so a
    prompt starting with ``-`` is no option); an option-like id is refused."""
    agent = OpenCodeAgent()
    command = agent.command(request(resume_id="ses_abc123"))
    assert command.argv[command.argv.index("--session") + 1] == "ses_abc123"
    terminal = agent.command(request(terminal=True, prompt="-x"))
    assert terminal.argv == ("opencode", "--prompt=-x")
    with pytest.raises(AgentError):
        agent.command(request(resume_id="--help"))


def test_prepare_home_copies_the_user_config_and_login(tmp_path: Path) -> None:
    """The user's ``opencode.json`` is copied with auto-update and sharing off; ``auth.json``
    is copied; every file is private."""
    user, data, home = tmp_path / "user", tmp_path / "data", tmp_path / "home"
    user.mkdir()
    data.mkdir()
    (user / "opencode.json").write_text(json.dumps({"model": "a/b", "autoupdate": True}))
    (data / "auth.json").write_text('{"openai": {"type": "api", "key": "sk-fake"}}')
    agent = OpenCodeAgent(user_config=user, user_data=data)
    agent.prepare_home(home, request(), {})
    config = json.loads((home / "config/opencode/opencode.json").read_text())
    assert config == {"model": "a/b", "autoupdate": False, "share": "disabled"}
    assert (home / "data/opencode/auth.json").read_text().startswith('{"openai"')
    assert (home / "data/opencode/auth.json").stat().st_mode & 0o077 == 0
    for folder in ("config", "data", "cache", "state"):
        assert (home / folder).is_dir()


def test_prepare_home_copies_a_jsonc_config_as_it_is(tmp_path: Path) -> None:
    """A config with comments cannot be edited here: it is copied unchanged."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "opencode.json").write_text('{\n  // mine\n  "model": "a/b"\n}\n')
    OpenCodeAgent(user_config=user, user_data=tmp_path / "none").prepare_home(
        tmp_path / "home", request(), {}
    )
    assert "// mine" in (tmp_path / "home/config/opencode/opencode.json").read_text()


def test_text_transcript() -> None:
    """A text answer: the session id, one message, OpenCode's cost, success."""
    events, outcome = parse_fixture("text")
    assert isinstance(events[0], AgentSessionIdentified)
    assert events[0].agent_session_id.startswith("ses_")
    assert [e.text for e in events if isinstance(e, AgentMessage)] == [
        "Hello from the scripted model."
    ]
    (cost,) = [e for e in events if isinstance(e, CostReported)]
    assert cost.usd == pytest.approx((100 * 1.25 + 20 * 10.0) / 1e6)
    assert (cost.input_tokens, cost.output_tokens) == (100, 20)
    assert outcome == AgentOutcome(
        success=True, result="Hello from the scripted model.", reported=True
    )


def test_write_edit_transcript() -> None:
    """A write at ``edit``: the tool use with its path, two steps' cost (cache reads counted
    as input), the last text as the result."""
    events, outcome = parse_fixture("write-edit")
    (used,) = [e for e in events if isinstance(e, ToolUsed)]
    assert (used.name, used.summary) == ("write", "$SCRATCH/work/hello.txt")
    costs = [e for e in events if isinstance(e, CostReported)]
    assert [c.input_tokens for c in costs] == [1200, 1300]
    assert costs[0].usd == pytest.approx((1000 * 1.25 + 200 * 0.125 + 50 * 10.0) / 1e6)
    assert costs[-1].total_usd == pytest.approx(sum(c.usd for c in costs))
    assert not [e for e in events if isinstance(e, ToolDenied)]
    assert outcome.success
    assert outcome.result == "Wrote hello.txt."


@pytest.mark.parametrize(("name", "tool"), [("write-read-only", "write"), ("bash-edit", "bash")])
def test_denied_transcripts(name: str, tool: str) -> None:
    """A tool the level takes away is a denial, not a tool use."""
    events, outcome = parse_fixture(name)
    (denied,) = [e for e in events if isinstance(e, ToolDenied)]
    assert denied.name == tool
    assert "unavailable tool" in denied.reason
    assert not [e for e in events if isinstance(e, ToolUsed)]
    assert outcome.success


@pytest.mark.parametrize(
    ("name", "status", "retryable"), [("error-401", 401, False), ("error-503", 503, True)]
)
def test_error_transcripts(name: str, status: int, retryable: bool) -> None:
    """An API error fails the run, retryable by its status."""
    events, outcome = parse_fixture(name)
    assert [e for e in events if isinstance(e, ErrorOccurred)]
    assert not outcome.success
    assert outcome.reported
    assert outcome.retryable is retryable
    assert outcome.error is not None
    assert str(status) in outcome.error


def test_a_refused_ask_is_a_denial() -> None:
    """What a headless run answers a tool whose permission is ``ask``: a denial."""
    parser = OpenCodeAgent().parser("s-1")
    line = {
        "type": "tool_use",
        "sessionID": "ses_1",
        "part": {
            "tool": "bash",
            "callID": "c1",
            "state": {
                "status": "error",
                "input": {"command": "rm -rf x"},
                "error": "The user rejected permission to use this specific tool call.",
            },
        },
    }
    events = parser.feed(json.dumps(line))
    assert [type(e) for e in events] == [AgentSessionIdentified, ToolDenied]
    assert events[1].summary == "rm -rf x"  # type: ignore[union-attr]


def test_no_output_failure_names_stderr() -> None:
    """Without events, the exit code decides and standard error says why."""
    parser = OpenCodeAgent().parser("s-1")
    parser.feed("Error: something broke: status 502", "stderr")
    _, outcome = parser.finish(1)
    assert not outcome.success
    assert "something broke" in (outcome.error or "")
    assert outcome.retryable


def test_fixtures_hold_no_temporary_paths_or_real_keys() -> None:
    """The recorded transcripts name the run's folder ``$SCRATCH`` and hold no key."""
    texts = [path.read_text() for path in FIXTURES.glob("*.json")]
    assert len(texts) == 6
    assert not [t for t in texts if "/tmp/" in t or "sk-" in t]


class TestOpenCodeContract(AgentContract):
    @pytest.fixture
    def adapter(self) -> OpenCodeAgent:
        return OpenCodeAgent()
