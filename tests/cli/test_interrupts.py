"""Ctrl-C ends a command however the code it cuts short handles cancellation.

`interruptible` turns SIGINT into an anyio cancel of the whole command. Unlike the one-shot
native task cancel asyncio sends on Ctrl-C, it is level-triggered: a step that swallows one
cancellation is cancelled again at its next wait, and a shielded step is not broken.
The signal is real (``os.kill`` of this process); pytest runs tests in the main thread.
"""

from __future__ import annotations

import os
import signal
import threading

import anyio
import pytest

from scopecraft.cli._common import interruptible


def _interrupt_me() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupt_swallowed_once_is_delivered_again() -> None:
    """A step that catches the cancellation and waits again is cancelled again: Ctrl-C is
    not lost (with asyncio's own handling the command went on to its end)."""
    steps: list[str] = []

    async def careless() -> str:
        try:
            _interrupt_me()
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            steps.append("swallowed")
        await anyio.sleep(10)
        steps.append("went on")
        return "finished"

    with pytest.raises(KeyboardInterrupt):
        anyio.run(interruptible, careless)
    assert steps == ["swallowed"]


def test_a_shielded_step_finishes_before_the_interrupt() -> None:
    """An interrupt during a shielded step (closing the store) lets it finish, then cancels."""
    steps: list[str] = []

    async def closing() -> None:
        with anyio.CancelScope(shield=True):
            _interrupt_me()
            await anyio.sleep(0.2)
            steps.append("closed")
        await anyio.sleep(10)
        steps.append("went on")

    with pytest.raises(KeyboardInterrupt):
        anyio.run(interruptible, closing)
    assert steps == ["closed"]


def test_errors_and_results_pass_through_unwrapped() -> None:
    """Without Ctrl-C the result is returned and an error is raised as itself, not a group."""

    async def answer() -> int:
        return 42

    async def broken() -> None:
        raise LookupError("missing")

    assert anyio.run(interruptible, answer) == 42
    with pytest.raises(LookupError, match="missing"):
        anyio.run(interruptible, broken)


def test_sigint_handling_is_restored_afterwards() -> None:
    """Once the command is over, SIGINT raises KeyboardInterrupt again as Python's default."""

    async def answer() -> int:
        return 1

    anyio.run(interruptible, answer)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_the_main_thread_the_command_just_runs() -> None:
    """No signal handler can be installed off the main thread; the command runs plainly."""
    results: list[int] = []

    async def answer() -> int:
        return 7

    thread = threading.Thread(target=lambda: results.append(anyio.run(interruptible, answer)))
    thread.start()
    thread.join(10)
    assert results == [7]
