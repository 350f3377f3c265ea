"""The real Gemini CLI against a scripted Gemini API, offline.

Each test runs ``gemini --output-format stream-json ...`` as `GeminiCliAgent` builds it
(the prompt on standard input, the level's ``--approval-mode``), with the session home its
``prepare_home`` makes (usage statistics, telemetry and updates off, the API-key auth chosen,
the worktree trusted), inside a network namespace that holds only loopback
(``gemini_support.run_gemini``). ``GOOGLE_GEMINI_BASE_URL`` points the CLI at the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from real_agents.conftest import installed_version, require_agent
from real_agents.gemini_support import API_KEY, MODEL, NO_RETRIES, PORT, GeminiRun, run_gemini

from scopecraft.agents import DEFAULT_GEMINI_PRICES, AgentOutcome
from scopecraft.events import (
    AgentMessage,
    AgentSessionIdentified,
    CostReported,
    Event,
    ToolDenied,
    ToolUsed,
)
from scopecraft.testing import ApiError, GeminiModelServer, ModelTurn, TokenUsage, ToolCall

pytestmark = pytest.mark.real_agent

PRICE = DEFAULT_GEMINI_PRICES[MODEL]


@pytest.fixture
def gemini_bin() -> str:
    """The Gemini CLI's binary."""
    return require_agent("gemini")


def parsed(done: GeminiRun) -> tuple[list[Event], AgentOutcome]:
    """What the adapter's parser makes of the run (stdout, then stderr, then the exit)."""
    parser = done.agent.parser("s-1")
    events = [e for line in done.run.stdout.splitlines() for e in parser.feed(line)]
    events += [e for line in done.run.stderr.splitlines() for e in parser.feed(line, "stderr")]
    tail, outcome = parser.finish(done.run.returncode)
    return [*events, *tail], outcome


def contents(request_body: Any) -> list[tuple[str, str]]:
    """(role, what) for each part of a request's ``contents``: text, or the function called or
    answered."""
    said = []
    for content in request_body["contents"]:
        for part in content["parts"]:
            if "text" in part:
                said.append((content["role"], part["text"]))
            elif "functionCall" in part:
                said.append((content["role"], f"call {part['functionCall']['name']}"))
            elif "functionResponse" in part:
                said.append((content["role"], f"answer {part['functionResponse']['name']}"))
    return said


def test_pinned_version_is_installed(
    gemini_bin: str, pinned_versions: dict[str, str], installed_versions: dict[str, str | None]
) -> None:
    """The cache holds the Gemini CLI version .ci/install-agents pins (when the CLI came from
    the cache)."""
    if installed_versions["@google/gemini-cli"] is None:
        pytest.skip(f"gemini does not come from the cache: {gemini_bin}")
    assert installed_versions["@google/gemini-cli"] == pinned_versions["@google/gemini-cli"]


def test_text_answer_with_the_exact_cost(gemini_bin: str, tmp_path: Path) -> None:
    """A text answer: the CLI sends one streamed request to the server (nothing else: no
    count, no model list), with the key in ``x-goog-api-key`` and the prompt in its
    contents; the parser's cost is the usage at list price, cached tokens at the cached
    rate."""
    usage = TokenUsage(1200, 60, cache_read_input_tokens=400)
    server = GeminiModelServer(
        [ModelTurn.of("Hello from the scripted model.", usage=usage)], port=PORT
    )
    done = run_gemini(gemini_bin, tmp_path, server, "say hello")

    assert done.run.returncode == 0, done.run.describe()
    assert done.run.interfaces == ("lo",)
    assert [r.path for r in done.run.requests] == [
        f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    ]
    (request,) = done.model_requests
    assert request.headers["x-goog-api-key"] == API_KEY
    assert ("user", "say hello") in contents(request.json())
    assert "write_file" in {
        f["name"] for t in request.json()["tools"] for f in t.get("functionDeclarations", [])
    }
    events, outcome = parsed(done)
    assert outcome.success, outcome
    assert [e.text for e in events if isinstance(e, AgentMessage)] == [
        "Hello from the scripted model."
    ]
    (cost,) = [e for e in events if isinstance(e, CostReported)]
    assert cost.usd == pytest.approx((1200 * 1.25 + 400 * 0.125 + 60 * 10.0) / 1e6, rel=1e-12)
    assert (cost.input_tokens, cost.output_tokens) == (1600, 60)


def test_write_file_at_edit_writes_it(gemini_bin: str, tmp_path: Path) -> None:
    """At ``edit`` (``auto_edit``) a ``write_file`` call writes the file in the worktree; the
    next request carries the call and its answer after the prompt; the parser sees the tool
    use, no denial, and the two turns' cost."""
    target = tmp_path / "work" / "notes" / "hello.txt"
    server = GeminiModelServer(
        [
            ModelTurn.of(
                "Writing it.",
                ToolCall(
                    "write_file", {"file_path": str(target), "content": "hello from gemini\n"}
                ),
                usage=TokenUsage(1000, 50),
            ),
            ModelTurn.of("Wrote notes/hello.txt.", usage=TokenUsage(1300, 20)),
        ],
        port=PORT,
    )
    done = run_gemini(gemini_bin, tmp_path, server, "write notes/hello.txt")

    assert done.run.returncode == 0, done.run.describe()
    assert target.read_text() == "hello from gemini\n"
    assert done.run.remaining == 0, done.run.describe()
    second = contents(done.model_requests[1].json())
    order = [
        second.index(pair)
        for pair in (
            ("user", "write notes/hello.txt"),
            ("model", "call write_file"),
            ("user", "answer write_file"),
        )
    ]
    assert order == sorted(order), second
    events, outcome = parsed(done)
    assert outcome.success, outcome
    assert [e.name for e in events if isinstance(e, ToolUsed)] == ["write_file"]
    assert not [e for e in events if isinstance(e, ToolDenied)]
    (cost,) = [e for e in events if isinstance(e, CostReported)]
    assert cost.usd == pytest.approx(PRICE.cost(2300, 0, 70), rel=1e-12)


def test_write_file_at_read_only_is_denied(gemini_bin: str, tmp_path: Path) -> None:
    """At ``read-only`` (``plan``) the same call writes nothing; the model is told it was
    refused, and the parser reports a ``tool_denied``."""
    target = tmp_path / "work" / "notes" / "hello.txt"
    server = GeminiModelServer(
        [
            ModelTurn.of(ToolCall("write_file", {"file_path": str(target), "content": "x\n"})),
            ModelTurn.of("I could not write it."),
        ],
        port=PORT,
    )
    done = run_gemini(gemini_bin, tmp_path, server, "write it", permissions="read-only")

    assert done.run.returncode == 0, done.run.describe()
    assert not target.exists()
    answers = [
        part["functionResponse"]["response"]
        for content in done.model_requests[1].json()["contents"]
        for part in content["parts"]
        if "functionResponse" in part
    ]
    assert "Access denied" in json.dumps(answers), answers
    events, outcome = parsed(done)
    assert outcome.success, outcome
    (denied,) = [e for e in events if isinstance(e, ToolDenied)]
    assert denied.name == "write_file"
    assert denied.summary == str(target)


def test_shell_runs_only_at_full(gemini_bin: str, tmp_path: Path) -> None:
    """``run_shell_command`` is offered and runs at ``full`` (``yolo``); at ``edit`` the
    headless CLI leaves it out, so the same call is a denial and runs nothing."""
    call = ToolCall("run_shell_command", {"command": "printf hi > shell.txt", "description": "x"})
    for level, runs in (("full", True), ("edit", False)):
        folder = tmp_path / level
        server = GeminiModelServer([ModelTurn.of(call), ModelTurn.of("Done.")], port=PORT)
        done = run_gemini(gemini_bin, folder, server, "run it", permissions=level)
        assert done.run.returncode == 0, done.run.describe()
        assert (folder / "work" / "shell.txt").exists() is runs
        declared = {
            f["name"]
            for t in done.model_requests[0].json()["tools"]
            for f in t.get("functionDeclarations", [])
        }
        assert ("run_shell_command" in declared) is runs
        events, _ = parsed(done)
        assert bool([e for e in events if isinstance(e, ToolDenied)]) is not runs


def test_auto_model_routes_with_a_generate_content_call(gemini_bin: str, tmp_path: Path) -> None:
    """Without ``--model`` (``auto``) the CLI first asks a small model, with a plain
    ``generateContent``, how hard the prompt is, then streams the answer from the model it
    picked; both take turns, and each model's tokens are priced at its own price."""
    server = GeminiModelServer(
        [
            ModelTurn.of(
                '{"complexity_reasoning": "a greeting", "complexity_score": 5}',
                usage=TokenUsage(300, 20),
            ),
            ModelTurn.of("Hi!", usage=TokenUsage(1000, 5)),
        ],
        port=PORT,
    )
    done = run_gemini(gemini_bin, tmp_path, server, "say hi", model=None)

    assert done.run.returncode == 0, done.run.describe()
    first, second = done.model_requests
    assert first.path.endswith(":generateContent")
    assert second.path.endswith(":streamGenerateContent?alt=sse")
    (result,) = done.lines("result")
    models = result["stats"]["models"]
    assert len(models) == 2, models
    events, outcome = parsed(done)
    assert outcome.success, outcome
    (cost,) = [e for e in events if isinstance(e, CostReported)]
    expected = sum(
        DEFAULT_GEMINI_PRICES[name].cost(m["input_tokens"], m["cached"], m["output_tokens"])
        for name, m in models.items()
    )
    assert cost.usd == pytest.approx(expected, rel=1e-12)
    assert {(m["input_tokens"], m["output_tokens"]) for m in models.values()} == {
        (300, 20),
        (1000, 5),
    }


def test_resume_sends_the_whole_history(gemini_bin: str, tmp_path: Path) -> None:
    """``--resume <session id>`` in a second run (a new server, the same session home) keeps
    the session id and sends the first prompt and answer before the new prompt; its stats
    count only its own turn."""
    first = run_gemini(
        gemini_bin,
        tmp_path,
        GeminiModelServer([ModelTurn.of("first answer", usage=TokenUsage(800, 10))], port=PORT),
        "first prompt",
    )
    assert first.run.returncode == 0, first.run.describe()
    (init,) = first.lines("init")
    server = GeminiModelServer(
        [ModelTurn.of("second answer", usage=TokenUsage(1500, 12))], port=PORT
    )
    second = run_gemini(gemini_bin, tmp_path, server, "second prompt", resume_id=init["session_id"])

    assert second.run.returncode == 0, second.run.describe()
    assert second.lines("init")[0]["session_id"] == init["session_id"]
    said = contents(second.model_requests[0].json())
    order = [
        said.index(pair)
        for pair in (
            ("user", "first prompt"),
            ("model", "first answer"),
            ("user", "second prompt"),
        )
    ]
    assert order == sorted(order), said
    events, _ = parsed(second)
    (cost,) = [e for e in events if isinstance(e, CostReported)]
    assert (cost.input_tokens, cost.output_tokens) == (1500, 12)


@pytest.mark.parametrize(
    ("status", "retryable"), [(401, False), (429, True), (500, True), (503, True)]
)
def test_api_errors_end_the_run_and_the_adapter_classifies_them(
    gemini_bin: str, tmp_path: Path, status: int, retryable: bool
) -> None:
    """A forced API error (one attempt: ``general.maxAttempts`` 1 in the user's settings)
    fails the run after one request, with a ``result`` error and the status's low byte as
    exit code; the adapter's outcome fails, retryable unless it is the caller's fault."""
    server = GeminiModelServer([ApiError(status), ModelTurn.of("never")], port=PORT)
    done = run_gemini(gemini_bin, tmp_path, server, "hi", user_settings=NO_RETRIES)

    assert done.run.returncode == status % 256, done.run.describe()
    assert len(done.model_requests) == 1, done.run.describe()
    (result,) = done.lines("result")
    assert result["status"] == "error"
    _, outcome = parsed(done)
    assert not outcome.success, outcome
    assert str(status) in (outcome.error or "")
    assert outcome.retryable is retryable, outcome


def test_a_session_without_an_answer_cannot_be_resumed(gemini_bin: str, tmp_path: Path) -> None:
    """A run whose first request failed printed a session id in ``init``, yet ``--resume`` of
    it exits 42 ("No previous sessions found"): the parser names no session for such a run, so
    the engine's retry starts afresh instead."""
    failed = run_gemini(
        gemini_bin,
        tmp_path,
        GeminiModelServer([ApiError(503)], port=PORT),
        "hi",
        user_settings=NO_RETRIES,
    )
    (init,) = failed.lines("init")
    events, _ = parsed(failed)
    assert not [e for e in events if isinstance(e, AgentSessionIdentified)]
    again = run_gemini(
        gemini_bin,
        tmp_path,
        GeminiModelServer([ModelTurn.of("never")], port=PORT),
        "again",
        resume_id=init["session_id"],
    )
    assert again.run.returncode == 42, again.run.describe()
    assert "No previous sessions found" in again.run.stderr
    assert again.model_requests == []


def test_agents_check_finds_the_cli_and_every_flag(gemini_bin: str, tmp_path: Path) -> None:
    """``scopecraft agents check gemini``, offline (``unshare -n``): the CLI is found, its
    version is the installed one, its help lists every option the adapter passes, and the
    key is named as the credential, never printed."""
    secret = "gemini-check-secret-0123456789"
    env = {
        "PATH": os.pathsep.join([str(Path(gemini_bin).parent), os.environ.get("PATH", "")]),
        "HOME": str(tmp_path),
        "SCOPECRAFT_HOME": str(tmp_path / "scopecraft-home"),
        "GEMINI_API_KEY": secret,
    }
    argv = ["unshare", "-n", sys.executable, "-m", "scopecraft", "agents", "check", "gemini"]
    done = subprocess.run(
        [*argv, "--json"], capture_output=True, text=True, env=env, timeout=90, check=False
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    (row,) = json.loads(done.stdout)
    assert row["ok"] is True, row
    assert row["path"] == gemini_bin
    installed = installed_version("@google/gemini-cli")
    if installed is not None:
        assert installed in row["version"]
    assert {"--output-format", "--approval-mode", "--resume", "--prompt-interactive"} <= set(
        row["flags_checked"]
    )
    assert row["flags_missing"] == []
    assert row["auth_source"] == "GEMINI_API_KEY"
    assert secret not in done.stdout + done.stderr
