"""The real OpenCode against a scripted OpenAI Chat Completions API, offline.

Each test runs ``opencode run --format json ...`` as `OpenCodeAgent` builds it (the
level's ``OPENCODE_PERMISSION``, the session's XDG folders made by its ``prepare_home``, the
user's ``opencode.json`` naming a provider whose ``baseURL`` is the server), inside a network
namespace that holds only loopback (``opencode_support.run_opencode``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from real_agents.conftest import require_agent
from real_agents.opencode_support import API_KEY, PORT, OpenCodeRun, run_opencode

from scopecraft.agents import AgentOutcome
from scopecraft.events import (
    AgentMessage,
    AgentSessionIdentified,
    CostReported,
    Event,
    ToolDenied,
    ToolUsed,
)
from scopecraft.testing import ApiError, ModelTurn, OpenAIChatServer, TokenUsage, ToolCall

pytestmark = pytest.mark.real_agent


@pytest.fixture
def opencode_bin() -> str:
    """OpenCode's binary."""
    return require_agent("opencode")


def parsed(done: OpenCodeRun) -> tuple[list[Event], AgentOutcome]:
    """What the adapter's parser makes of the run (stdout, then stderr, then the exit)."""
    parser = done.agent.parser("s-1")
    events = [e for line in done.run.stdout.splitlines() for e in parser.feed(line)]
    events += [e for line in done.run.stderr.splitlines() for e in parser.feed(line, "stderr")]
    tail, outcome = parser.finish(done.run.returncode)
    return [*events, *tail], outcome


def test_pinned_version_is_installed(
    opencode_bin: str, pinned_versions: dict[str, str], installed_versions: dict[str, str | None]
) -> None:
    """The cache holds the OpenCode version .ci/install-agents pins (when it came from it)."""
    if installed_versions["opencode-ai"] is None:
        pytest.skip(f"opencode does not come from the cache: {opencode_bin}")
    assert installed_versions["opencode-ai"] == pinned_versions["opencode-ai"]


def test_text_answer_with_the_exact_cost(opencode_bin: str, tmp_path: Path) -> None:
    """A text answer: one streamed Chat Completions request (no title request: the adapter
    gives the title), the key as a bearer token, the prompt in its messages; OpenCode's cost
    is the usage at the configured price, cache reads at their rate."""
    usage = TokenUsage(1200, 60, cache_read_input_tokens=400)
    server = OpenAIChatServer(
        [ModelTurn.of("Hello from the scripted model.", usage=usage)], port=PORT
    )
    done = run_opencode(opencode_bin, tmp_path, server, "say hello")

    assert done.run.returncode == 0, done.run.describe()
    assert done.run.interfaces == ("lo",)
    (request,) = done.run.model_requests
    assert [r.path for r in done.run.requests] == ["/v1/chat/completions"]
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = request.json()
    assert body["stream"] is True
    assert body["model"] == "scripted-model"
    assert {"role": "user", "content": "say hello"} in body["messages"]
    events, outcome = parsed(done)
    assert outcome.success, outcome
    assert outcome.result == "Hello from the scripted model."
    assert isinstance(events[0], AgentSessionIdentified)
    (cost,) = [e for e in events if isinstance(e, CostReported)]
    assert cost.usd == pytest.approx((1200 * 1.25 + 400 * 0.125 + 60 * 10.0) / 1e6, rel=1e-9)
    assert (cost.input_tokens, cost.output_tokens) == (1600, 60)


def _write_script(target: Path) -> list[ModelTurn]:
    call = ToolCall("write", {"filePath": str(target), "content": "hello from opencode\n"})
    return [ModelTurn.of("Writing it.", call), ModelTurn.of("Wrote it.")]


def test_write_at_edit_writes_it(opencode_bin: str, tmp_path: Path) -> None:
    """At ``edit`` a ``write`` call writes the file; the second request carries the call and
    its result; the parser sees the tool use and no denial."""
    target = tmp_path / "work" / "hello.txt"
    server = OpenAIChatServer(_write_script(target), port=PORT)
    done = run_opencode(opencode_bin, tmp_path, server, "write hello.txt")

    assert done.run.returncode == 0, done.run.describe()
    assert target.read_text() == "hello from opencode\n"
    assert done.run.remaining == 0
    roles = [m["role"] for m in done.run.model_requests[1].json()["messages"]]
    assert roles[-3:] == ["user", "assistant", "tool"]
    events, outcome = parsed(done)
    assert outcome.success, outcome
    assert [e.name for e in events if isinstance(e, ToolUsed)] == ["write"]
    assert not [e for e in events if isinstance(e, ToolDenied)]


def test_write_at_read_only_is_denied(opencode_bin: str, tmp_path: Path) -> None:
    """At ``read-only`` the write tools are not offered; the same call writes nothing and the
    parser reports a denial."""
    target = tmp_path / "work" / "hello.txt"
    server = OpenAIChatServer(_write_script(target), port=PORT)
    done = run_opencode(opencode_bin, tmp_path, server, "write it", permissions="read-only")

    assert done.run.returncode == 0, done.run.describe()
    assert not target.exists()
    offered = {t["function"]["name"] for t in done.run.model_requests[0].json()["tools"]}
    assert not offered & {"write", "edit", "bash"}, offered
    events, outcome = parsed(done)
    assert outcome.success, outcome
    (denied,) = [e for e in events if isinstance(e, ToolDenied)]
    assert denied.name == "write"


def test_a_401_is_not_retryable(opencode_bin: str, tmp_path: Path) -> None:
    """A forced 401 ends the run at once (one request), a failure not worth a retry."""
    server = OpenAIChatServer([ApiError(401)], port=PORT)
    done = run_opencode(opencode_bin, tmp_path, server, "say hello")

    assert done.run.returncode != 0
    assert len(done.run.model_requests) == 1
    _, outcome = parsed(done)
    assert not outcome.success, outcome
    assert not outcome.retryable, outcome
    assert "401" in (outcome.error or "")


def test_a_503_is_retryable(opencode_bin: str, tmp_path: Path) -> None:
    """OpenCode retries a 503 itself, five times (``retry-after`` keeps it short); when the
    last fails too, the run's failure is worth a retry."""
    server = OpenAIChatServer([ApiError(503, retry_after=0.01)] * 6, port=PORT)
    done = run_opencode(opencode_bin, tmp_path, server, "say hello")

    assert done.run.returncode != 0
    assert len(done.run.model_requests) == 6
    assert done.run.unscripted == 0
    _, outcome = parsed(done)
    assert not outcome.success, outcome
    assert outcome.retryable, outcome
    assert "503" in (outcome.error or "")


def test_resume_continues_the_session(opencode_bin: str, tmp_path: Path) -> None:
    """``--session`` with the id the parser told continues the session: the second run's
    request holds the first exchange."""
    server = OpenAIChatServer([ModelTurn.of("First answer.")], port=PORT)
    first = run_opencode(opencode_bin, tmp_path, server, "first question")
    events, _ = parsed(first)
    (identified,) = [e for e in events if isinstance(e, AgentSessionIdentified)]
    server = OpenAIChatServer([ModelTurn.of("Second answer.")], port=PORT)
    second = run_opencode(
        opencode_bin, tmp_path, server, "second question", resume_id=identified.agent_session_id
    )

    assert second.run.returncode == 0, second.run.describe()
    said = [m.get("content") for m in second.run.model_requests[0].json()["messages"]]
    assert "First answer." in str(said)
    assert "second question" in str(said)
    events, outcome = parsed(second)
    assert outcome.success
    assert [e.text for e in events if isinstance(e, AgentMessage)] == ["Second answer."]
