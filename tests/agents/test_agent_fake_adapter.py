"""FakeAgent: its argv in each form, and whole runs read back through its parser."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from agent_support import Parsed, parse_lines

from scopecraft._models import SessionMode
from scopecraft.agents import AgentRequest
from scopecraft.events import CostReported, SessionStarting
from scopecraft.testing._fake_agent import (
    CONTAINER_PATH,
    FakeAgent,
    FakeAgentParser,
    fake_agent_script,
)

OPTIONS = ("--print", "--output-format", "stream-json", "--verbose")


def request(**kwargs: Any) -> AgentRequest:
    values: dict[str, Any] = {
        "mode": SessionMode.AUTONOMOUS,
        "prompt": "fake: say hi\n",
        "workdir": "/srv/wt",
    }
    values.update(kwargs)
    return AgentRequest(**values)


def run(agent: FakeAgent, req: AgentRequest, cwd: Path, stdin: bytes | None = None) -> Parsed:
    """Run the command the adapter builds, then parse its output with the adapter's parser."""
    command = agent.command(req)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_AGENT")}
    env.update(command.env)
    proc = subprocess.run(
        command.argv,
        input=command.stdin if stdin is None else stdin,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=30,
        check=False,
    )
    lines = proc.stdout.decode("utf-8").splitlines()
    return parse_lines(agent.parser("ses-fake"), lines, exit_code=proc.returncode)


def test_script_is_an_absolute_file() -> None:
    """``fake_agent_script()`` is the absolute path of the shipped script."""
    script = fake_agent_script()
    assert script.is_absolute()
    assert script.is_file()
    assert script.name == "fake_agent.sh"
    assert script.read_text(encoding="utf-8").startswith("#!/bin/sh\n")


def test_host_argv_runs_the_script_with_sh_and_the_prompt_on_stdin() -> None:
    """On the host: ``/bin/sh <script>`` with Claude's print options and the prompt on stdin."""
    command = FakeAgent().command(request())
    assert command.argv == ("/bin/sh", str(fake_agent_script()), *OPTIONS)
    assert command.stdin == b"fake: say hi\n"
    assert dict(command.env) == {}


@pytest.mark.parametrize("dangerous", [False, True])
@pytest.mark.parametrize("resume_id", [None, "abc-123"])
def test_container_argv_and_options(dangerous: bool, resume_id: str | None) -> None:
    """In a container the image's ``/usr/local/bin/fake-agent`` runs; model, resume and
    dangerous are passed like Claude's; the state folder becomes ``FAKE_AGENT_STATE``."""
    command = FakeAgent().command(
        request(
            in_container=True,
            model="m1",
            dangerous=dangerous,
            resume_id=resume_id,
            state_dir="/state",
        )
    )
    expected = [CONTAINER_PATH, *OPTIONS, "--model", "m1"]
    if resume_id:
        expected += ["--resume", resume_id]
    if dangerous:
        expected.append("--dangerously-skip-permissions")
    assert command.argv == tuple(expected)
    assert dict(command.env) == {"FAKE_AGENT_STATE": "/state"}


def test_terminal_argv_reads_the_prompt_file_and_leaves_stdin() -> None:
    """In a terminal the prompt comes from ``--prompt-file`` (else an argument after ``--``)
    and stdin is left to the terminal, for ``listen``."""
    with_file = FakeAgent().command(request(terminal=True, prompt_file="/run/p.md"))
    assert with_file.argv[-2:] == ("--prompt-file", "/run/p.md")
    assert with_file.stdin is None
    as_argument = FakeAgent().command(request(terminal=True, prompt="-x"))
    assert as_argument.argv[-2:] == ("--", "-x")
    assert as_argument.stdin is None


def test_adapter_properties() -> None:
    """The fake agent needs no secrets and can resume."""
    agent = FakeAgent()
    assert agent.name == "fake"
    assert agent.secret_env == ()
    assert agent.can_resume is True


def test_whole_run_through_the_parser(tmp_path: Path) -> None:
    """A scripted run reads back as the session id, messages, a ``Write`` tool use, cost
    counted once (each ``cost`` at once, nothing more from the result) and success."""
    prompt = "Task\nfake: say hello\nfake: cost 0.25\nfake: write out.txt done\nfake: cost 0.5\n"
    parsed = run(FakeAgent(), request(prompt=prompt), tmp_path)
    assert len(parsed.of_type("agent_session_identified")) == 1
    assert [m.text for m in parsed.of_type("agent_message")] == ["hello"]
    assert [t.name for t in parsed.of_type("tool_used")] == ["Write"]
    costs = parsed.of_type("cost_reported")
    assert [c.usd for c in costs] == [pytest.approx(0.25), pytest.approx(0.5)]
    assert costs[-1].total_usd == pytest.approx(0.75)
    assert parsed.outcome.success
    assert parsed.outcome.reported
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == "done\n"


def test_failed_run_through_the_parser(tmp_path: Path) -> None:
    """``fail`` reads back as a reported, non-retryable failure."""
    parsed = run(FakeAgent(), request(prompt="fake: fail 4\n"), tmp_path)
    assert not parsed.outcome.success
    assert parsed.outcome.reported
    assert not parsed.outcome.retryable


def test_resume_through_the_adapter(tmp_path: Path) -> None:
    """With a state folder, a resumed attempt reports the same agent session id; an unknown
    id fails."""
    agent = FakeAgent()
    state = str(tmp_path / "state")
    first = run(agent, request(state_dir=state), tmp_path)
    (identified,) = first.of_type("agent_session_identified")
    resumed = run(
        agent,
        request(prompt="fake: say again", state_dir=state, resume_id=identified.agent_session_id),
        tmp_path,
    )
    assert [e.agent_session_id for e in resumed.of_type("agent_session_identified")] == [
        identified.agent_session_id
    ]
    assert [m.text for m in resumed.of_type("agent_message")] == ["again"]
    unknown = run(agent, request(state_dir=state, resume_id="nope-1"), tmp_path)
    assert not unknown.outcome.success
    assert "No conversation found" in (unknown.outcome.error or "")


def test_listen_messages_are_emitted_as_they_are_read(tmp_path: Path) -> None:
    """Each fake message is complete on its line, so the parser emits it at once (a person
    waiting for ``heard:`` sees it before the next line)."""
    prompt_file = tmp_path / "prompt.md"
    prompt_file.write_text("fake: listen\n", encoding="utf-8")
    command = FakeAgent().command(request(terminal=True, prompt_file=str(prompt_file)))
    proc = subprocess.run(
        command.argv,
        input=b"hi\n",
        capture_output=True,
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    parser = FakeAgentParser("ses-fake")
    emitted = [parser.feed(line) for line in proc.stdout.decode().splitlines()]
    heard = [
        events for events in emitted if any(getattr(e, "text", "") == "heard: hi" for e in events)
    ]
    assert len(heard) == 1


def _fake_output(tmp_path: Path, prompt: str) -> list[str]:
    command = FakeAgent().command(request(prompt=prompt))
    proc = subprocess.run(
        command.argv, input=prompt.encode(), capture_output=True, cwd=tmp_path, timeout=30
    )
    return proc.stdout.decode().splitlines()


def test_an_engine_taking_over_a_running_attempt_bills_its_costs_once(tmp_path: Path) -> None:
    """A parser built for an attempt another engine read half of (``resume_from`` given that
    attempt's ``session_starting`` and cost reports) bills nothing again for the ``result``
    that sums the costs reported on the way; costs of an earlier attempt do not count as
    this one's."""
    lines = _fake_output(tmp_path, "fake: cost 0.25\nfake: say between\nfake: cost 0.5\n")
    cut = next(i for i, line in enumerate(lines) if "between" in line)
    first = FakeAgentParser("ses-fake")
    before = [e for line in lines[:cut] for e in first.feed(line)]
    assert [e.usd for e in before if isinstance(e, CostReported)] == [0.25]
    starting = SessionStarting(session_id="ses-fake", attempt=1, runtime_name="rt-1")
    taker = FakeAgentParser("ses-fake")
    taker.resume_from([starting, *(e for e in before if isinstance(e, CostReported))])
    after = [e for line in lines[cut:] for e in taker.feed(line)]
    assert [e.usd for e in after if isinstance(e, CostReported)] == [0.5]

    # The same reports, but of attempt 1: attempt 2's own result is billed whole.
    again = FakeAgentParser("ses-fake")
    second = SessionStarting(session_id="ses-fake", attempt=2, runtime_name="rt-2")
    again.resume_from([starting, *before, second])
    result = next(line for line in lines if '"type":"result"' in line.replace(" ", ""))
    assert [e.usd for e in again.feed(result) if isinstance(e, CostReported)] == [0.75]
