"""The contract every ``AgentAdapter`` keeps, as a pytest suite to subclass.

Usage, in your plugin's tests::

    import pytest
    from scopecraft.testing.contracts.agents import AgentContract

    class TestMyAgentContract(AgentContract):
        @pytest.fixture
        def adapter(self) -> MyAgent:
            return MyAgent()

Each ``test_*`` method takes the ``adapter`` fixture that the subclass provides. The suite
checks what the engine relies on: argv is a tuple of strings and never a shell string, secrets
never reach argv, resume is served by id or refused with ``AgentError``, a parser never raises
on any input and always gives an outcome.
"""

from __future__ import annotations

import itertools
import os
import random
import re
from collections.abc import Iterator, Mapping

import pytest

from scopecraft._errors import AgentError
from scopecraft._models import LogStream, SessionMode
from scopecraft.agents._protocol import AgentAdapter, AgentCommand, AgentOutcome, AgentRequest
from scopecraft.events import BaseEvent

__all__ = ["GARBAGE_LINES", "AgentContract", "sample_requests"]

_SHELLS = {"sh", "bash", "dash", "zsh", "ash", "ksh", "fish", "busybox", "cmd", "cmd.exe"}
_NAME = re.compile(r"[a-z][a-z0-9._-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STREAMS: tuple[LogStream, ...] = ("stdout", "stderr", "system")


def _garbage() -> list[str]:
    rng = random.Random(20261126)  # noqa: S311 - a fixed seed, so every run reads the same lines
    lines = [
        "",
        " ",
        "\t\r",
        "not json at all",
        "npm WARN config production Use `--omit=dev` instead.",
        "{",
        "}",
        "{}",
        "[]",
        "null",
        "123",
        '"a string"',
        "{not: json}",
        '{"type": 5}',
        '{"type": null, "message": []}',
        '{"type": "assistant"}',
        '{"type": "assistant", "message": null}',
        '{"type": "assistant", "message": {"id": 7, "content": "text"}}',
        '{"type": "assistant", "message": {"content": [null, 1, "x", {"type": "tool_use"}]}}',
        '{"type": "assistant", "message": {"content": [{"type": "text", "text": 5}]}}',
        '{"type": "user", "message": {"content": {"weird": true}}}',
        '{"type": "system", "subtype": "init", "session_id": 42}',
        '{"type": "result"}',
        '{"type": "result", "total_cost_usd": "abc", "usage": "none", "is_error": "yes"}',
        '{"type": "result", "total_cost_usd": -3, "cost_usd": NaN, "total_cost": Infinity}',
        '{"type": "result", "total_cost_usd": 1e400, "usage": {"input_tokens": -1}}',
        '{"type": "thread.started", "thread_id": ["x"]}',
        '{"type": "item.completed", "item": "x"}',
        '{"type": "item.completed", "item": {"type": "file_change", "changes": "x"}}',
        '{"type": "item.started", "item": {"type": "command_execution", "command": null}}',
        '{"type": "turn.completed", "usage": {"input_tokens": "many"}}',
        '{"type": "turn.failed", "error": "flat"}',
        '{"type": "error"}',
        '{"type": "system", "subtype": "fake_cost", "usd": "lots"}',
        "\x00\x01\x02\x7f\ufffd\udcff binary-ish",
        "\ud800 lone surrogate",
        "{" * 5000,
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 3000 + "1" + "}" * 3000,
        "x" * 2_000_000,
        '{"type": "assistant", "message": {"id": "m", "content": [{"type": "text", "text": "'
        + "y" * 1_000_000
        + '"}]}}',
    ]
    alphabet = '{}[]":,\\ntrufalse0123456789.-e \t\x00\x1b\u00e9\u2603'
    for _ in range(200):
        lines.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))))
    return lines


GARBAGE_LINES: tuple[str, ...] = tuple(_garbage())
"""Lines no parser may raise on: not JSON, wrong shapes, binary-ish, deeply nested, huge."""


def sample_requests(prompt: str = "fake: say contract\n") -> Iterator[AgentRequest]:
    """Requests over every mode and option combination the engine may send."""
    for mode, terminal, in_container, dangerous in itertools.product(
        SessionMode, (False, True), (False, True), (False, True)
    ):
        yield AgentRequest(
            mode=mode,
            prompt=prompt,
            workdir="/workspace" if in_container else "/srv/worktrees/task-05A",
            model="model-1" if dangerous else None,
            dangerous=dangerous,
            terminal=terminal,
            in_container=in_container,
            prompt_file="/run/scopecraft/prompt.md" if terminal else None,
            state_dir="/var/lib/scopecraft/state" if in_container else None,
        )


class AgentContract:
    """Tests every agent adapter must pass; subclass it and provide an ``adapter`` fixture."""

    def _command(self, adapter: AgentAdapter, request: AgentRequest) -> AgentCommand | None:
        try:
            return adapter.command(request)
        except AgentError:
            return None

    def test_is_an_agent_adapter(self, adapter: AgentAdapter) -> None:
        """The adapter has every member of the ``AgentAdapter`` protocol."""
        assert isinstance(adapter, AgentAdapter)

    def test_name_is_an_entry_point_name(self, adapter: AgentAdapter) -> None:
        """``name`` is a lowercase entry-point style name."""
        assert isinstance(adapter.name, str)
        assert _NAME.fullmatch(adapter.name), adapter.name

    def test_secret_env_holds_variable_names(self, adapter: AgentAdapter) -> None:
        """``secret_env`` is a tuple of environment variable names."""
        assert isinstance(adapter.secret_env, tuple)
        for name in adapter.secret_env:
            assert isinstance(name, str)
            assert _ENV_NAME.fullmatch(name), name

    def test_can_resume_is_a_bool(self, adapter: AgentAdapter) -> None:
        """``can_resume`` is a plain bool."""
        assert isinstance(adapter.can_resume, bool)

    def test_command_is_an_argv_tuple_of_str(self, adapter: AgentAdapter) -> None:
        """Every command is a non-empty tuple of strings, with bytes or nothing for stdin and a
        mapping of strings for env; at least one request per mode is served."""
        served = set()
        for request in sample_requests():
            command = self._command(adapter, request)
            if command is None:
                continue
            served.add(request.mode)
            assert isinstance(command, AgentCommand)
            assert isinstance(command.argv, tuple)
            assert command.argv, "argv is empty"
            assert all(isinstance(part, str) for part in command.argv)
            assert all("\x00" not in part for part in command.argv)
            assert command.stdin is None or isinstance(command.stdin, bytes)
            assert isinstance(command.env, Mapping)
            for key, value in command.env.items():
                assert isinstance(key, str)
                assert _ENV_NAME.fullmatch(key), key
                assert isinstance(value, str)
        assert served, "the adapter refused every request"

    def test_command_is_never_a_shell_string(self, adapter: AgentAdapter) -> None:
        """argv never hands a command string to a shell (``sh -c ...``)."""
        for request in sample_requests(prompt="fake: say $(touch /tmp/pwned); `id`\n"):
            command = self._command(adapter, request)
            if command is None:
                continue
            program = os.path.basename(command.argv[0])
            if program in _SHELLS:
                assert "-c" not in command.argv, command.argv
            assert not any(" && " in part or " ; " in part for part in command.argv[:1])

    def test_prompt_reaches_the_agent(self, adapter: AgentAdapter) -> None:
        """The prompt is delivered: on stdin, as an argument, or through the prompt file.

        (An adapter configured on purpose to drop the prompt may override this test.)
        """
        marker = "fake: say contract-marker-7f3a\n"
        for request in sample_requests(prompt=marker):
            command = self._command(adapter, request)
            if command is None:
                continue
            on_stdin = command.stdin is not None and marker.strip().encode() in command.stdin
            in_argv = any(marker.strip() in part for part in command.argv)
            by_file = request.prompt_file is not None and request.prompt_file in command.argv
            assert on_stdin or in_argv or by_file, (request, command)

    def test_resume_by_id_or_refused(self, adapter: AgentAdapter) -> None:
        """With ``can_resume`` the resume id is in argv; without it, resuming raises
        ``AgentError``."""
        agent_session_id = "5b2f6f3e-2d0c-4c1e-9a57-0c8e1f2a7d41"
        for request in sample_requests():
            resumed = AgentRequest(
                mode=request.mode,
                prompt="also cover the refresh token",
                workdir=request.workdir,
                resume_id=agent_session_id,
                terminal=request.terminal,
                in_container=request.in_container,
                prompt_file=request.prompt_file,
                state_dir=request.state_dir,
            )
            if adapter.can_resume:
                fresh = self._command(adapter, request)
                if fresh is None:
                    continue
                command = adapter.command(resumed)
                assert agent_session_id in command.argv
                assert agent_session_id not in fresh.argv
            else:
                with pytest.raises(AgentError):
                    adapter.command(resumed)

    def test_resume_id_that_looks_like_an_option_is_refused(self, adapter: AgentAdapter) -> None:
        """A resume id starting with ``-`` (or holding spaces) is refused with ``AgentError``."""
        for bad in ("--help", "-rf", "a b", ""):
            request = AgentRequest(
                mode=SessionMode.AUTONOMOUS, prompt="x", workdir="/w", resume_id=bad
            )
            with pytest.raises(AgentError):
                adapter.command(request)

    def test_secret_values_never_in_argv(
        self, adapter: AgentAdapter, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Values of the adapter's secret variables never appear in argv or in env."""
        secrets = {}
        for index, name in enumerate(adapter.secret_env):
            value = f"sk-contract-secret-{index}-c0ffee"
            secrets[name] = value
            monkeypatch.setenv(name, value)
        for request in sample_requests():
            command = self._command(adapter, request)
            if command is None:
                continue
            for value in secrets.values():
                assert not any(value in part for part in command.argv)
                assert value not in command.env.values()

    def test_parser_never_raises_on_garbage(self, adapter: AgentAdapter) -> None:
        """A parser reads garbage, binary-ish and huge lines on every stream without raising;
        whatever events it returns belong to the session."""
        parser = adapter.parser("ses-contract")
        for line in GARBAGE_LINES:
            for stream in _STREAMS:
                events = parser.feed(line, stream)
                assert isinstance(events, list)
                for event in events:
                    assert isinstance(event, BaseEvent)
                    assert event.session_id == "ses-contract"
        events, outcome = parser.finish(1)
        assert isinstance(events, list)
        assert isinstance(outcome, AgentOutcome)

    def test_finish_without_input_gives_an_outcome(self, adapter: AgentAdapter) -> None:
        """``finish`` on a parser that read nothing returns an outcome for any exit code; a
        non-zero exit is never a success."""
        for exit_code in (None, 0, 1, 137):
            events, outcome = adapter.parser("ses-contract").finish(exit_code)
            assert isinstance(events, list)
            assert isinstance(outcome, AgentOutcome)
            if exit_code not in (0, None):
                assert not outcome.success
                assert outcome.error

    def test_parsers_do_not_share_state(self, adapter: AgentAdapter) -> None:
        """Two parsers of one adapter are independent: what one read, the other did not."""
        first = adapter.parser("ses-one")
        second = adapter.parser("ses-two")
        for line in GARBAGE_LINES[:40]:
            first.feed(line)
        events, _ = second.finish(0)
        assert events == []
