"""``CommandAgent``: any command line as an agent, without structured output."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from scopecraft._errors import AgentError, ConfigError

from ._common import ExitCodeParser, encode_prompt
from ._protocol import AgentAdapter, AgentCommand, AgentRequest

__all__ = ["PLACEHOLDERS", "CommandAgent"]

PLACEHOLDERS = ("{prompt_file}", "{workdir}")
"""Argv elements replaced by the request's prompt file and working directory."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER_LIKE = re.compile(r"\{(?:prompt_file|workdir)\}")


class CommandAgent(AgentAdapter):
    """Runs any argv as the agent, entry-point name ``command``.

    Nothing is interpolated into a string: the elements ``{prompt_file}`` and ``{workdir}``
    are replaced whole by ``request.prompt_file`` and ``request.workdir``; a placeholder inside
    a longer element is refused. The prompt goes to standard input when ``prompt_on_stdin``
    (in a terminal, standard input is the terminal: such a request is refused unless argv
    takes ``{prompt_file}`` or ``prompt_on_stdin`` is off). The output is kept as log
    lines, never parsed into events; the exit code decides the outcome. It cannot resume.

    Args:
        argv: The command, for example ``("my-agent", "--task-file", "{prompt_file}")``.
        prompt_on_stdin: Write the prompt to the agent's standard input and close it.
        env: Extra, non-secret environment variables.
        secret_env: Names of secret variables the command needs (forwarded when set).
        name: The entry-point name this instance is registered under.

    Raises:
        ConfigError: ``env`` or ``secret_env`` holds an invalid variable name.
    """

    def __init__(
        self,
        *,
        argv: Sequence[str] = (),
        prompt_on_stdin: bool = True,
        env: Mapping[str, str] | None = None,
        secret_env: Sequence[str] = (),
        name: str = "command",
    ) -> None:
        if isinstance(argv, str):
            raise ConfigError(
                "command: argv must be a list of arguments, not a string (no shell strings)"
            )
        self._argv = tuple(str(part) for part in argv)
        self._prompt_on_stdin = prompt_on_stdin
        self._env = dict(env or {})
        self._secret_env = tuple(secret_env)
        for var in (*self._env, *self._secret_env):
            if not _ENV_NAME.fullmatch(var):
                raise ConfigError(f"command: invalid environment variable name {var!r}")
        self._name = name

    @property
    def name(self) -> str:
        """The entry-point name (``command`` by default)."""
        return self._name

    @property
    def secret_env(self) -> tuple[str, ...]:
        """The secret variable names given at construction."""
        return self._secret_env

    @property
    def can_resume(self) -> bool:
        """False: a generic command has no session to continue."""
        return False

    @property
    def argv(self) -> tuple[str, ...]:
        """The configured argv, placeholders unresolved."""
        return self._argv

    def command(self, request: AgentRequest) -> AgentCommand:
        """Return the configured argv with its placeholders resolved.

        Raises:
            AgentError: the argv is empty, a placeholder is part of a longer element,
                ``{prompt_file}`` is used without a prompt file, a resume was asked, or the
                prompt would be lost in a terminal.
        """
        if not self._argv:
            raise AgentError(
                "command: no argv configured; give CommandAgent(argv=[...]) the command to run"
            )
        if request.resume_id is not None:
            raise AgentError(
                "command: a generic command cannot resume a session; start a new one instead"
            )
        if request.terminal and self._prompt_on_stdin and "{prompt_file}" not in self._argv:
            raise AgentError(
                "command: in a terminal, standard input is the terminal and the prompt would be "
                "lost; put {prompt_file} in argv, or set prompt_on_stdin=False"
            )
        argv: list[str] = []
        for part in self._argv:
            if part == "{prompt_file}":
                if request.prompt_file is None:
                    raise AgentError(
                        "command: argv uses {prompt_file} but this request has no prompt file"
                    )
                argv.append(request.prompt_file)
            elif part == "{workdir}":
                argv.append(request.workdir)
            elif _PLACEHOLDER_LIKE.search(part):
                raise AgentError(
                    f"command: placeholder inside the argument {part!r}; placeholders must be "
                    "whole arguments (nothing is interpolated into strings)"
                )
            else:
                argv.append(part)
        stdin = (
            encode_prompt(request.prompt)
            if self._prompt_on_stdin and not request.terminal
            else None
        )
        return AgentCommand(argv=tuple(argv), stdin=stdin, env=dict(self._env))

    def parser(self, session_id: str) -> ExitCodeParser:
        """Return a parser that makes no events; the exit code decides the outcome."""
        return ExitCodeParser(self._name)
