"""The real Codex CLI against a scripted OpenAI Responses API, offline.

Each test runs ``codex exec --json ... -`` (the adapter's unattended form, the prompt on standard
input) inside a network namespace that holds only loopback, with a private ``HOME`` and
``CODEX_HOME`` whose ``config.toml`` makes the server the model provider
(`codex_offline_config()`: analytics, feedback, OpenTelemetry export and
the update check off, no retries).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scopecraft.agents._codex import DEFAULT_CODEX_PRICES, CodexAgent
from scopecraft.events import AgentMessage, CostReported, ToolUsed
from scopecraft.testing import (
    ApiError,
    ModelTurn,
    OfflineRun,
    OpenAIResponsesServer,
    TokenUsage,
    ToolCall,
    codex_offline_config,
    run_offline,
)

pytestmark = pytest.mark.real_agent

PORT = 38_081
MODEL = "gpt-5.5"
EXEC = ["exec", "--json", "--model", MODEL, "--skip-git-repo-check"]


def _run(
    codex_bin: str, tmp_path: Path, server: OpenAIResponsesServer, prompt: str, *options: str
) -> OfflineRun:
    home = tmp_path / "home"
    codex_home = tmp_path / "codex-home"
    for folder in (home, codex_home, tmp_path / "work"):
        folder.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(codex_offline_config(server.base_url, model=MODEL))
    env = {"HOME": str(home), "CODEX_HOME": str(codex_home), "OPENAI_API_KEY": "sk-scripted"}
    # Options before ``resume`` and the prompt last, as the adapter builds it.
    return run_offline(
        [codex_bin, *EXEC, *options, "-"],
        server=server,
        env=env,
        cwd=tmp_path / "work",
        stdin=prompt,
        timeout=60,
    )


def _of_type(run: OfflineRun, kind: str) -> list[dict[str, Any]]:
    return [line for line in run.json_lines() if line.get("type") == kind]


def _exec(command: str, workdir: Path) -> ToolCall:
    return ToolCall("exec_command", {"cmd": command, "workdir": str(workdir)})


def test_pinned_version_is_installed(
    codex_bin: str, pinned_versions: dict[str, str], installed_versions: dict[str, str | None]
) -> None:
    """The cache holds the Codex version .ci/install-agents pins (when the CLI came from the
    cache)."""
    if installed_versions["@openai/codex"] is None:
        pytest.skip(f"codex does not come from the cache: {codex_bin}")
    assert installed_versions["@openai/codex"] == pinned_versions["@openai/codex"]


def test_exec_command_then_text_writes_the_file_and_reports_usage(
    codex_bin: str, tmp_path: Path
) -> None:
    """An ``exec_command`` function call then a text, in the workspace-write sandbox (which
    works inside the namespace): the file is written, the call's output goes back to the model
    after the whole history, and ``turn.completed`` sums the usage, which the adapter prices."""
    work = tmp_path / "work"
    server = OpenAIResponsesServer(
        [
            ModelTurn.of(
                "Writing the file.",
                _exec("mkdir -p notes && printf 'hello from codex\\n' > notes/hello.txt", work),
                usage=TokenUsage(input_tokens=1000, output_tokens=120),
            ),
            ModelTurn.of(
                "Wrote notes/hello.txt.",
                usage=TokenUsage(1200, 30, cache_read_input_tokens=800),
            ),
        ],
        port=PORT,
    )
    run = _run(codex_bin, tmp_path, server, "write notes/hello.txt", "--sandbox", "workspace-write")

    assert run.returncode == 0, run.describe()
    assert run.interfaces == ("lo",)
    assert (work / "notes" / "hello.txt").read_text() == "hello from codex\n"
    assert run.unscripted == 0, run.describe()
    assert run.remaining == 0, run.describe()
    first, second = (r.json() for r in run.model_requests)
    assert first["stream"] is True
    assert first["model"] == MODEL
    assert "exec_command" in {tool.get("name") for tool in first["tools"]}
    call = next(i for i in second["input"] if i.get("type") == "function_call")
    output = next(i for i in second["input"] if i.get("type") == "function_call_output")
    assert call["name"] == "exec_command"
    assert output["call_id"] == call["call_id"]
    assert "exited with code 0" in output["output"], output
    prompts = [
        c["text"]
        for i in second["input"]
        if i.get("type") == "message" and i.get("role") == "user"
        for c in i["content"]
    ]
    assert "write notes/hello.txt" in prompts

    commands = [e["item"] for e in _of_type(run, "item.completed")]
    executed = [i for i in commands if i["type"] == "command_execution"]
    assert len(executed) == 1, commands
    assert executed[0]["exit_code"] == 0, commands
    (completed,) = _of_type(run, "turn.completed")
    usage = completed["usage"]
    assert usage["input_tokens"] == 1000 + 1200 + 800
    assert usage["cached_input_tokens"] == 800
    assert usage["output_tokens"] == 150

    parser = CodexAgent(executable=codex_bin).parser("s-1", model=MODEL)
    events = [e for line in run.stdout.splitlines() for e in parser.feed(line)]
    tail, outcome = parser.finish(run.returncode)
    events += tail
    assert outcome.success, outcome
    assert len([e for e in events if isinstance(e, ToolUsed)]) == 1
    assert "Wrote notes/hello.txt." in [e.text for e in events if isinstance(e, AgentMessage)]
    price = DEFAULT_CODEX_PRICES[MODEL]
    costs = [e for e in events if isinstance(e, CostReported)]
    assert costs
    assert costs[-1].total_usd == pytest.approx(price.cost(3000, 800, 150), rel=1e-9)


def test_the_sandbox_refuses_a_write_outside_the_workspace(
    codex_bin: str, tmp_path: Path, outside_dir: Path
) -> None:
    """In the workspace-write sandbox a command that writes outside the workspace fails and
    leaves nothing behind (the sandbox is real inside the namespace, not bypassed); the model is
    told why. (Codex prints no ``command_execution`` item for a command its sandbox refused.)"""
    target = outside_dir / "escaped.txt"
    server = OpenAIResponsesServer(
        [ModelTurn.of(_exec(f"printf x > {target}", tmp_path / "work")), ModelTurn.of("Done.")],
        port=PORT,
    )
    run = _run(codex_bin, tmp_path, server, "try it", "--sandbox", "workspace-write")

    assert run.returncode == 0, run.describe()
    assert not target.exists()
    (output,) = [
        i["output"]
        for i in run.model_requests[1].json()["input"]
        if i.get("type") == "function_call_output"
    ]
    assert "exited with code 1" in output, output
    assert "Read-only file system" in output, output


def test_resume_sends_the_whole_history(codex_bin: str, tmp_path: Path) -> None:
    """``exec ... resume <thread id> -`` in a second run (a new server, the same CODEX_HOME)
    sends the first prompt and answer before the new prompt, on the same thread."""
    first = _run(
        codex_bin,
        tmp_path,
        OpenAIResponsesServer([ModelTurn.of("first answer")], port=PORT),
        "first prompt",
    )
    (started,) = _of_type(first, "thread.started")
    server = OpenAIResponsesServer([ModelTurn.of("second answer")], port=PORT)
    second = _run(codex_bin, tmp_path, server, "second prompt", "resume", started["thread_id"])

    assert second.returncode == 0, second.describe()
    assert _of_type(second, "thread.started")[0]["thread_id"] == started["thread_id"]
    said = [
        (i["role"], c.get("text", ""))
        for i in second.model_requests[0].json()["input"]
        if i.get("type") == "message"
        for c in i["content"]
    ]
    order = [
        said.index(pair)
        for pair in (
            ("user", "first prompt"),
            ("assistant", "first answer"),
            ("user", "second prompt"),
        )
    ]
    assert order == sorted(order), json.dumps(said)[:2000]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (401, False),
        (429, True),
        (500, True),
        (529, True),
    ],
)
def test_api_errors_end_the_run_and_the_adapter_classifies_them(
    codex_bin: str, tmp_path: Path, status: int, retryable: bool
) -> None:
    """A forced API error (retries off in config.toml) fails the turn (``turn.failed``) with one
    request; the adapter's outcome fails, retryable unless it is the caller's fault (401)."""
    server = OpenAIResponsesServer([ApiError(status)], port=PORT)
    run = _run(codex_bin, tmp_path, server, "hi")

    assert run.returncode != 0, run.describe()
    assert len(run.model_requests) == 1
    assert _of_type(run, "turn.failed"), run.describe()
    parser = CodexAgent(executable=codex_bin).parser("s-1", model=MODEL)
    for line in run.stdout.splitlines():
        parser.feed(line)
    _, outcome = parser.finish(run.returncode)
    assert not outcome.success, outcome
    assert outcome.retryable is retryable, outcome
