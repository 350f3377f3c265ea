"""``FakeAgent``: a scripted agent that speaks Claude Code's stream-json, for tests.

The agent itself is ``fake_agent.sh`` beside this module, a POSIX ``sh`` script that also runs
under busybox ``sh``. Lines of its prompt of the form ``fake: <directive>`` script its run
(``say``, ``write``, ``sleep``, ``cost``, ``fail``, ``hang``, ``echo-env``, ``listen``); see the
script's header or ``docs/agents.md``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from scopecraft.agents._claude import ClaudeStreamParser
from scopecraft.agents._common import (
    as_usd,
    check_argv_prompt,
    encode_prompt,
    validate_model,
    validate_resume_id,
)
from scopecraft.agents._protocol import AgentAdapter, AgentCommand, AgentRequest
from scopecraft.events import Event

__all__ = ["CONTAINER_PATH", "FakeAgent", "FakeAgentParser", "fake_agent_script"]

CONTAINER_PATH = "/usr/local/bin/fake-agent"
"""Where the fake agent's image (``scopecraft.testing.fake_agent_image()``) holds the script."""

_SCRIPT = Path(__file__).with_name("fake_agent.sh")


@functools.cache
def fake_agent_script() -> Path:
    """Return the absolute path of ``fake_agent.sh``, the fake agent itself.

    The path is looked up once per process (the adapter builds a command on the event loop,
    where file-system calls would block); a failed look-up is not remembered.

    Raises:
        FileNotFoundError: the package was installed without its data files.
    """
    if not _SCRIPT.is_file():
        raise FileNotFoundError(
            f"the fake agent script is missing at {_SCRIPT}; reinstall scopecraft with its "
            "package data"
        )
    return _SCRIPT.resolve()


class FakeAgentParser(ClaudeStreamParser):
    """Claude Code's parser, plus the fake agent's ``fake_cost`` lines.

    Each ``fake: cost`` is reported at once (a ``system``/``fake_cost`` line) and counted once:
    the final result's ``total_cost_usd``, which sums them, adds nothing more. The fake agent
    writes each message on one line, so messages are emitted as soon as they are read (a
    ``listen`` run shows each ``heard:`` message while it waits for the next line).
    """

    one_line_messages = True

    def handle_other(self, data: dict[str, Any], events: list[Event]) -> None:
        """Report the cost of a ``system``/``fake_cost`` line."""
        if data.get("type") == "system" and data.get("subtype") == "fake_cost":
            usd = as_usd(data.get("usd"))
            if usd is not None:
                cost = self.report_cost(added_usd=usd)
                if cost is not None:
                    events.append(cost)


class FakeAgent(AgentAdapter):
    """The scripted fake agent, entry-point name ``fake``.

    On the host: ``/bin/sh <fake_agent.sh> --print --output-format stream-json --verbose
    [--model M] [--resume ID] [--dangerously-skip-permissions]`` with the prompt on standard
    input. In a container (``request.in_container``) the same options follow
    ``/usr/local/bin/fake-agent``, where the fake agent's image holds the script. In a
    terminal, the prompt comes from ``--prompt-file`` (``request.prompt_file``) or, without
    one, is the last argument, and standard input is left to the terminal (for ``listen``).
    ``FAKE_AGENT_STATE`` is set to ``request.state_dir`` when given, so that resuming an
    unknown session fails as with Claude Code.

    Args:
        shell: The shell that runs the script on the host.
        container_path: Where the script is inside the fake agent's image.
    """

    def __init__(self, *, shell: str = "/bin/sh", container_path: str = CONTAINER_PATH) -> None:
        self._shell = shell
        self._container_path = container_path

    @property
    def name(self) -> str:
        """``fake``."""
        return "fake"

    @property
    def secret_env(self) -> tuple[str, ...]:
        """None: the fake agent needs no credentials."""
        return ()

    @property
    def can_resume(self) -> bool:
        """True: ``--resume <session id>`` keeps the session id."""
        return True

    def command(self, request: AgentRequest) -> AgentCommand:
        """Return the fake agent's argv, standard input and environment for ``request``.

        Raises:
            AgentError: the model or resume id is malformed, or a terminal prompt passed as an
                argument is too long.
        """
        if request.in_container:
            argv: list[str] = [self._container_path]
        else:
            argv = [self._shell, str(fake_agent_script())]
        argv += ["--print", "--output-format", "stream-json", "--verbose"]
        if request.model:
            argv += ["--model", validate_model(request.model)]
        if request.resume_id is not None:
            argv += ["--resume", validate_resume_id(request.resume_id)]
        if request.dangerous:
            argv.append("--dangerously-skip-permissions")
        env = {"FAKE_AGENT_STATE": request.state_dir} if request.state_dir else {}
        if not request.terminal:
            return AgentCommand(argv=tuple(argv), stdin=encode_prompt(request.prompt), env=env)
        if request.prompt_file is not None:
            argv += ["--prompt-file", request.prompt_file]
        else:
            # Always an argument (even empty): without one the script would read the terminal.
            argv += ["--", check_argv_prompt(request.prompt, self.name)]
        return AgentCommand(argv=tuple(argv), env=env)

    def parser(self, session_id: str) -> FakeAgentParser:
        """Return a fresh `FakeAgentParser` for one attempt."""
        return FakeAgentParser(session_id, agent=self.name)
