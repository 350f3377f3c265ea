"""The executor contract: what every ``Executor`` must do, for built-ins and plugins alike.

Subclass `ExecutorContract` in a test module and provide two fixtures: ``executor``
(your executor) and ``make_spec`` (a callable building a `LaunchSpec` for an argv, with
folders under ``tmp_path`` and, for container executors, an image that has ``/bin/sh``)::

    class TestMyExecutor(ExecutorContract):
        @pytest.fixture
        def executor(self):
            return MyExecutor()

        @pytest.fixture
        def make_spec(self, tmp_path):
            return spec_factory(tmp_path)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from scopecraft._errors import CapabilityMissing
from scopecraft._models import LogStream, SessionMode
from scopecraft.executors._protocol import (
    Executor,
    LaunchSpec,
    RuntimeHandle,
    RuntimeState,
    RuntimeStatus,
)

__all__ = ["ExecutorContract", "SpecFactory", "spec_factory"]

SpecFactory = Callable[..., LaunchSpec]


def spec_factory(root: Path, *, image: str | None = None) -> SpecFactory:
    """Return a ``make_spec(argv, *, name=..., stdin=None)`` building specs under ``root``."""
    counter = [0]

    def make(
        argv: Sequence[str], *, name: str | None = None, stdin: bytes | None = None
    ) -> LaunchSpec:
        counter[0] += 1
        session = f"ses-contract{counter[0]:04d}"
        base = root / session
        work = base / "work"
        work.mkdir(parents=True, exist_ok=True)
        return LaunchSpec(
            session_id=session,
            attempt=1,
            runtime_name=name or f"scopecraft-{session}-1",
            mode=SessionMode.AUTONOMOUS,
            task_id="contract-01A",
            argv=tuple(argv),
            workdir=work,
            state_dir=base / "state",
            run_dir=base / "run",
            stdin=stdin,
            env={"CONTRACT_SECRET": "contract-secret-value-1234"},
            labels={"scopecraft.session": session, "scopecraft.store": "contract"},
            image=image,
        )

    return make


async def _until_ended(
    executor: Executor, handle: RuntimeHandle, limit: float = 30
) -> RuntimeState:
    with anyio.fail_after(limit):
        while True:
            state = await executor.state(handle)
            if state.status in (RuntimeStatus.EXITED, RuntimeStatus.MISSING):
                return state
            await anyio.sleep(0.05)


async def _all_output(
    executor: Executor, handle: RuntimeHandle, cursor: dict[str, Any] | None = None
) -> tuple[list[tuple[LogStream, str]], dict[str, Any] | None]:
    lines: list[tuple[LogStream, str]] = []
    while True:
        chunk = await executor.read_output(handle, cursor, final=True)
        if not chunk.lines:
            return lines, cursor
        lines.extend(chunk.lines)
        cursor = chunk.cursor


class ExecutorContract:
    """Behaviour every executor must have. Async tests run on asyncio and trio."""

    pytestmark = pytest.mark.anyio

    async def test_runs_argv_and_records_exit_code(
        self, executor: Executor, make_spec: SpecFactory
    ) -> None:
        """The argv runs as given (no shell interprets it) and its exit code is reported."""
        spec = make_spec(["sh", "-c", 'echo "one $0"; echo two >&2; exit 3', "a;b $(x)"])
        handle = await executor.start(spec)
        try:
            assert handle.runtime_name == spec.runtime_name
            state = await _until_ended(executor, handle)
            assert state.status is RuntimeStatus.EXITED
            assert state.exit_code == 3
            lines, _ = await _all_output(executor, handle)
            texts = [text for _, text in lines]
            assert "one a;b $(x)" in texts
            assert "two" in texts
        finally:
            await executor.remove(handle)

    async def test_output_by_cursor_is_not_repeated(
        self, executor: Executor, make_spec: SpecFactory
    ) -> None:
        """Reading from a returned cursor yields only later lines, in order, each once."""
        spec = make_spec(["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"])
        handle = await executor.start(spec)
        try:
            await _until_ended(executor, handle)
            first = await executor.read_output(handle, None, final=True)
            assert first.lines
            again = await executor.read_output(handle, first.cursor, final=True)
            texts = [t for _, t in first.lines] + [t for _, t in again.lines]
            stdout = [t for t in texts if t.startswith("line")]
            assert stdout == [f"line{i}" for i in range(1, 6)]
        finally:
            await executor.remove(handle)

    async def test_stdin_reaches_the_agent(
        self, executor: Executor, make_spec: SpecFactory
    ) -> None:
        """``spec.stdin`` is the agent's standard input, then end of input."""
        spec = make_spec(["sh", "-c", "while read -r l; do echo got:$l; done"], stdin=b"a\nb\n")
        handle = await executor.start(spec)
        try:
            await _until_ended(executor, handle)
            lines, _ = await _all_output(executor, handle)
            got = [t for _, t in lines if t.startswith("got:")]
            assert got == ["got:a", "got:b"]
        finally:
            await executor.remove(handle)

    async def test_start_twice_adopts(self, executor: Executor, make_spec: SpecFactory) -> None:
        """Starting the same spec again adopts the runtime instead of starting a second one."""
        spec = make_spec(["sh", "-c", "sleep 30"])
        handle = await executor.start(spec)
        try:
            again = await executor.start(spec)
            assert again.runtime_id == handle.runtime_id
        finally:
            await executor.stop(handle, grace=1)
            await executor.remove(handle)

    async def test_stop_ends_a_running_runtime(
        self, executor: Executor, make_spec: SpecFactory
    ) -> None:
        """``stop`` ends a runtime that would run on; afterwards it is not running."""
        spec = make_spec(["sh", "-c", "echo started; sleep 60"])
        handle = await executor.start(spec)
        try:
            with anyio.fail_after(30):
                while (await executor.state(handle)).status is not RuntimeStatus.RUNNING:  # noqa: ASYNC110 - a runtime's state has no event to wait on
                    await anyio.sleep(0.05)
            await executor.stop(handle, grace=1)
            state = await executor.state(handle)
            assert state.status is not RuntimeStatus.RUNNING
        finally:
            await executor.remove(handle)

    async def test_remove_is_idempotent(self, executor: Executor, make_spec: SpecFactory) -> None:
        """``remove`` twice is fine; afterwards the runtime is gone or exited."""
        handle = await executor.start(make_spec(["sh", "-c", "true"]))
        await _until_ended(executor, handle)
        await executor.remove(handle)
        await executor.remove(handle)
        assert (await executor.state(handle)).status is not RuntimeStatus.RUNNING

    async def test_capabilities_match_behaviour(
        self, executor: Executor, make_spec: SpecFactory
    ) -> None:
        """``attach_command`` and ``send_input`` refuse exactly when the capability is absent."""
        handle = await executor.start(make_spec(["sh", "-c", "sleep 30"]))
        try:
            caps = executor.capabilities
            if caps.can_attach:
                argv = executor.attach_command(handle)
                assert argv
                assert all(isinstance(a, str) for a in argv)
            else:
                with pytest.raises(CapabilityMissing):
                    executor.attach_command(handle)
            if not caps.can_send_input:
                with pytest.raises(CapabilityMissing):
                    await executor.send_input(handle, "hello")
        finally:
            await executor.stop(handle, grace=1)
            await executor.remove(handle)

    async def test_secrets_stay_out_of_argv_and_labels(
        self, executor: Executor, make_spec: SpecFactory
    ) -> None:
        """The spec's environment reaches the agent but not the runtime's argv or labels."""
        spec = make_spec(["sh", "-c", 'test -n "$CONTRACT_SECRET" && echo has-secret'])
        handle = await executor.start(spec)
        try:
            await _until_ended(executor, handle)
            lines, _ = await _all_output(executor, handle)
            assert "has-secret" in [t for _, t in lines]
            assert "contract-secret-value-1234" not in repr(handle)
        finally:
            await executor.remove(handle)
