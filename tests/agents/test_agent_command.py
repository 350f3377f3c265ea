"""CommandAgent: any argv, whole-element placeholders, no parsing, outcome from the exit code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agent_support import parse_lines

from scopecraft._errors import AgentError, ConfigError
from scopecraft._models import SessionMode
from scopecraft.agents import AgentRequest, CommandAgent


def request(**kwargs: Any) -> AgentRequest:
    values: dict[str, Any] = {
        "mode": SessionMode.AUTONOMOUS,
        "prompt": "the prompt",
        "workdir": "/srv/wt",
    }
    values.update(kwargs)
    return AgentRequest(**values)


def test_empty_argv_is_refused() -> None:
    """Without a configured argv, ``command`` raises ``AgentError`` saying what to do."""
    agent = CommandAgent()
    with pytest.raises(AgentError, match="argv"):
        agent.command(request())


def test_a_shell_string_is_refused() -> None:
    """A single string instead of a list of arguments is a ``ConfigError``."""
    with pytest.raises(ConfigError, match="not a string"):
        CommandAgent(argv="my-agent --go")


def test_argv_with_prompt_on_stdin() -> None:
    """The argv is used as given and the prompt goes to standard input."""
    command = CommandAgent(argv=("my-agent", "--fast")).command(request())
    assert command.argv == ("my-agent", "--fast")
    assert command.stdin == b"the prompt"


def test_prompt_on_stdin_can_be_turned_off() -> None:
    """With ``prompt_on_stdin=False`` nothing is written to standard input."""
    command = CommandAgent(argv=("my-agent",), prompt_on_stdin=False).command(request())
    assert command.stdin is None


def test_placeholders_are_replaced_as_whole_elements() -> None:
    """``{prompt_file}`` and ``{workdir}`` are replaced whole, even by values with spaces or
    shell characters, which stay one argument each."""
    agent = CommandAgent(argv=("run", "{workdir}", "--file", "{prompt_file}"))
    command = agent.command(request(workdir="/a b/$(x)", prompt_file="/p; rm -rf /"))
    assert command.argv == ("run", "/a b/$(x)", "--file", "/p; rm -rf /")


def test_placeholder_inside_an_argument_is_refused() -> None:
    """A placeholder inside a longer argument is refused: nothing is interpolated."""
    agent = CommandAgent(argv=("run", "--file={prompt_file}"))
    with pytest.raises(AgentError, match="whole arguments"):
        agent.command(request(prompt_file="/p"))


def test_prompt_file_placeholder_needs_a_prompt_file() -> None:
    """``{prompt_file}`` without a prompt file in the request is an ``AgentError``."""
    with pytest.raises(AgentError, match="no prompt file"):
        CommandAgent(argv=("run", "{prompt_file}")).command(request())


def test_resume_is_refused() -> None:
    """A generic command cannot resume: ``can_resume`` is false and a resume raises."""
    agent = CommandAgent(argv=("run",))
    assert agent.can_resume is False
    with pytest.raises(AgentError, match="cannot resume"):
        agent.command(request(resume_id="abc"))


def test_terminal_without_a_way_to_pass_the_prompt_is_refused() -> None:
    """In a terminal the prompt cannot go to stdin: refused unless argv takes the prompt file;
    with the prompt file, stdin is left to the terminal."""
    with pytest.raises(AgentError, match="terminal"):
        CommandAgent(argv=("run",)).command(request(terminal=True))
    command = CommandAgent(argv=("run", "{prompt_file}")).command(
        request(terminal=True, prompt_file="/p.md")
    )
    assert command.argv == ("run", "/p.md")
    assert command.stdin is None


def test_env_and_secret_env_are_configurable() -> None:
    """Extra environment is passed on; secret names are declared; bad names are refused."""
    agent = CommandAgent(argv=("run",), env={"MODE": "fast"}, secret_env=("MY_TOKEN",))
    assert dict(agent.command(request()).env) == {"MODE": "fast"}
    assert agent.secret_env == ("MY_TOKEN",)
    with pytest.raises(ConfigError):
        CommandAgent(argv=("run",), secret_env=("BAD-NAME",))


@pytest.mark.parametrize(("exit_code", "success"), [(0, True), (1, False), (None, False)])
def test_no_events_and_outcome_from_exit_code(exit_code: int | None, success: bool) -> None:
    """Output is never parsed into events (even JSON); the exit code decides the outcome."""
    lines = [json.dumps({"type": "result", "is_error": False}), "plain text"]
    parsed = parse_lines(CommandAgent(argv=("run",)).parser("s"), lines, exit_code=exit_code)
    assert parsed.events == []
    assert parsed.outcome.success is success
    assert not parsed.outcome.reported
    if not success:
        assert parsed.outcome.error
