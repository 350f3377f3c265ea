"""``run_offline``: a command in a network namespace that holds only loopback, with the scripted
server beside it (a Python stand-in for an agent CLI, so no CLI is needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psutil
import pytest

from scopecraft.testing import (
    AnthropicModelServer,
    ModelTurn,
    OpenAIResponsesServer,
    TokenUsage,
    claude_code_offline_env,
    codex_offline_config,
    run_offline,
)

PORT = 38_090

CLIENT = """
import json, os, socket, urllib.request
print(json.dumps(sorted(name for _, name in socket.if_nameindex())))
request = urllib.request.Request(
    os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages",
    data=json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"content-type": "application/json"},
)
with urllib.request.urlopen(request, timeout=10) as answer:
    print(json.dumps(json.load(answer)))
print(json.dumps(sorted(os.environ)))
"""


@pytest.mark.real_agent
@pytest.mark.usefixtures("offline")
def test_the_command_sees_only_loopback_and_reaches_the_server(tmp_path: Path) -> None:
    """Inside the namespace the only interface is ``lo`` (up), the server answers on its fixed
    port, the request is recorded, and the command's environment is exactly the one given plus
    PATH, LANG, LC_ALL and TZ."""
    server = AnthropicModelServer([ModelTurn.of("hello", usage=TokenUsage(5, 2))], port=PORT)
    env = claude_code_offline_env(server.base_url, home=tmp_path)
    run = run_offline(
        [sys.executable, "-c", CLIENT], server=server, env=env, cwd=tmp_path, timeout=30
    )

    assert run.returncode == 0, run.describe()
    interfaces, answer, names = run.json_lines()
    assert interfaces == ["lo"]
    assert run.interfaces == ("lo",)
    assert answer["content"] == [{"type": "text", "text": "hello"}]
    assert answer["usage"]["input_tokens"] == 5
    assert [r.json()["messages"][0]["content"] for r in run.model_requests] == ["hi"]
    assert run.remaining == 0
    assert run.unscripted == 0
    allowed = {*env, "PATH", "LANG", "LC_ALL", "TZ", "LC_CTYPE"}  # LC_CTYPE: Python's own
    assert set(names) <= allowed, set(names) - allowed
    assert "DISABLE_TELEMETRY" in names
    assert "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC" in names


@pytest.mark.real_agent
@pytest.mark.usefixtures("offline")
def test_a_command_that_hangs_is_killed_with_what_it_left(tmp_path: Path) -> None:
    """At the timeout the command's whole process group is killed (its own child too) and the
    run says so."""
    pid_file = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time, pathlib\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    server = OpenAIResponsesServer(port=PORT)
    run = run_offline(
        [sys.executable, "-c", script], server=server, env={}, cwd=tmp_path, timeout=2
    )

    assert run.timed_out
    assert run.returncode is None
    assert 2 <= run.duration_s < 20
    grandchild = int(pid_file.read_text())
    assert not psutil.pid_exists(grandchild) or (
        psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    )


@pytest.mark.real_agent
@pytest.mark.usefixtures("offline")
def test_stdin_reaches_the_command(tmp_path: Path) -> None:
    """``stdin`` is written to the command's standard input, then closed."""
    run = run_offline(
        [sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"],
        server=OpenAIResponsesServer(port=PORT),
        env={},
        cwd=tmp_path,
        stdin="the prompt",
        timeout=30,
    )
    assert run.stdout.strip() == "THE PROMPT", run.describe()


def test_a_free_port_is_refused(tmp_path: Path) -> None:
    """The port must be fixed: the command's arguments and files need it before the start."""
    with pytest.raises(ValueError, match="fixed port"):
        run_offline(["true"], server=AnthropicModelServer(), env={}, cwd=tmp_path)


def test_codex_config_points_at_the_server_and_turns_reporting_off() -> None:
    """The Codex config names the server (``/v1``), the Responses wire API, the key's variable,
    no retries, and switches analytics, feedback, OpenTelemetry and the update check off."""
    import tomllib

    config = tomllib.loads(codex_offline_config("http://127.0.0.1:9999", model="gpt-5.5"))
    provider = config["model_providers"][config["model_provider"]]
    assert provider["base_url"] == "http://127.0.0.1:9999/v1"
    assert provider["wire_api"] == "responses"
    assert provider["env_key"] == "OPENAI_API_KEY"
    assert provider["request_max_retries"] == 0
    assert provider["stream_max_retries"] == 0
    assert config["model"] == "gpt-5.5"
    assert config["check_for_update_on_startup"] is False
    assert config["analytics"]["enabled"] is False
    assert config["feedback"]["enabled"] is False
    assert config["otel"]["exporter"] == "none"
    assert json.loads(json.dumps(config))  # plain data only
